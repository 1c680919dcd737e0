"""phalanx: parameter-efficient fine-tuning and fast serving of text classifiers.

Example:
    >>> from phalanx import SpaRTAforSequenceClassification
    >>> model = SpaRTAforSequenceClassification("runs/sparta-minilm")  # doctest: +SKIP
    >>> model.decide_class(["It was a bad movie."])  # doctest: +SKIP
    ['negative']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_attributes

if TYPE_CHECKING:
    from .export import Pipeline, is_export
    from .inference.classifier import TextClassifier, load_classifier
    from .inference.metrics import Evaluation
    from .methods.sparta import (
        SpaRTAConfig,
        SpaRTAforSequenceClassification,
        SpaRTAMethodConfig,
        SpaRTAModel,
        get_sparta_model,
        read_sparta_adapter,
        save_sparta_adapter,
    )
    from .registry import get_method, method_names
    from .report import report

__version__ = "0.1.0"

__all__ = [
    "Evaluation",
    "Pipeline",
    "SpaRTAConfig",
    "SpaRTAMethodConfig",
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
    "report",
    "save_sparta_adapter",
]

# where each public name lives: imported on first use, so `import phalanx` (and the CLI's
# start-up) pulls in neither torch nor transformers
_WHERE = {
    "Evaluation": ".inference.metrics",
    "Pipeline": ".export",
    "SpaRTAConfig": ".methods.sparta",
    "SpaRTAMethodConfig": ".methods.sparta",
    "SpaRTAModel": ".methods.sparta",
    "SpaRTAforSequenceClassification": ".methods.sparta",
    "TextClassifier": ".inference.classifier",
    "get_method": ".registry",
    "get_sparta_model": ".methods.sparta",
    "is_export": ".export",
    "load_classifier": ".inference.classifier",
    "method_names": ".registry",
    "read_sparta_adapter": ".methods.sparta",
    # the package phalanx.report is callable too: phalanx.report(...) works either way
    "report": ".report",
    "save_sparta_adapter": ".methods.sparta",
}


__getattr__ = lazy_attributes(__name__, _WHERE)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
