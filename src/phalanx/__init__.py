"""phalanx: parameter-efficient fine-tuning and fast serving of text classifiers.

Example:
    >>> from phalanx import SpaRTAforSequenceClassification
    >>> model = SpaRTAforSequenceClassification("runs/sparta-minilm")  # doctest: +SKIP
    >>> model.decide_class(["It was a bad movie."])  # doctest: +SKIP
    ['negative']
"""

from .export import Pipeline, is_export
from .inference.classifier import TextClassifier, load_classifier
from .inference.metrics import Evaluation
from .methods.sparta import (
    SpaRTAConfig,
    SpaRTAforSequenceClassification,
    SpaRTAModel,
    get_sparta_model,
    read_sparta_adapter,
    save_sparta_adapter,
)
from .registry import get_method, method_names

__version__ = "0.1.0"

__all__ = [
    "Evaluation",
    "Pipeline",
    "SpaRTAConfig",
    "SpaRTAModel",
    "SpaRTAforSequenceClassification",
    "TextClassifier",
    "__version__",
    "get_method",
    "get_sparta_model",
    "is_export",
    "load_classifier",
    "method_names",
    "read_sparta_adapter",
    "save_sparta_adapter",
]
