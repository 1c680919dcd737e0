"""Generative classification: label words scored by a causal or seq2seq language model."""

from .scorer import LabelScorer, apply_generative, load_lm, save_generative, verbalizer_ids

__all__ = ["LabelScorer", "apply_generative", "load_lm", "save_generative", "verbalizer_ids"]
