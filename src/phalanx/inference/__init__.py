"""Inference over any adapter: ``TextClassifier``, batching, metrics, ``load_classifier``."""

from .classifier import TextClassifier, load_classifier
from .metrics import Evaluation

__all__ = ["Evaluation", "TextClassifier", "load_classifier"]
