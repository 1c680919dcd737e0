"""The one machine name of every metric, its printed label, and the names older files used.

Every metric has exactly one snake_case key wherever it is written: ``metrics.json``,
``phalanx.json``, ``phalanx evaluate``'s JSON file, the Trainer's logs (``eval_<key>``),
``TrainResult`` and ``phalanx info --json``. Printed output may use the label instead.
Light on purpose (no torch): ``phalanx info`` reads metrics without loading a model.

>>> metric_keys({"macro-F1": 0.5, "confusion matrix": [[1]]})
{'macro_f1': 0.5, 'confusion_matrix': [[1]]}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["LEGACY_KEYS", "METRIC_LABELS", "metric_keys"]

#: key -> printed label (peft-sparta's spelling where it has one)
METRIC_LABELS = {
    "loss": "loss",
    "accuracy": "accuracy",
    "confusion_matrix": "confusion matrix",
    "balanced_accuracy": "balanced accuracy",
    "macro_f1": "macro-F1",
    "mcc": "MCC",
    "f1": "F1-score",
    "n": "examples",
    "label_names": "labels",
    "per_class": "per class",
    "macro_precision": "macro precision",
    "macro_recall": "macro recall",
    "weighted_precision": "weighted precision",
    "weighted_recall": "weighted recall",
    "weighted_f1": "weighted F1",
}

#: names peft-sparta and earlier phalanx versions wrote: read (old adapters), never written
LEGACY_KEYS = {
    "confusion matrix": "confusion_matrix",
    "balanced accuracy": "balanced_accuracy",
    "macro-F1": "macro_f1",
    "MCC": "mcc",
    "F1-score": "f1",
}


def metric_keys(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """``metrics`` with any legacy key renamed to its one name (order kept; a current key
    wins over a legacy one)."""
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        new = LEGACY_KEYS.get(key, key)
        if new != key and new in metrics:
            continue
        out[new] = value
    return out
