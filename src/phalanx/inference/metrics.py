"""Classification metrics where callers have always imported them: ``Evaluation`` (the
printed metric dict, ``phalanx.metric_names``) and the single-label computation
(``phalanx.problems.metrics``: confusion matrix, headline figures, per-class report).

Both live outside ``phalanx.inference`` so that ``phalanx.problems.metrics``, which the
classifier uses, never imports this package back; multi-label and regression metrics are
``phalanx.problems.metrics.evaluation_for``.
"""

from __future__ import annotations

from ..metric_names import Evaluation
from ..problems.metrics import (
    class_report,
    classification_metrics,
    confusion_matrix,
    evaluation_from_logits,
)

__all__ = [
    "Evaluation",
    "class_report",
    "classification_metrics",
    "confusion_matrix",
    "evaluation_from_logits",
]
