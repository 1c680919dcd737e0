"""The report of one model as one JSON-ready dict: what report.json holds and the page shows.

Sections per problem type (``content["sections"]``, in page order):

- single_label: summary, confusion-matrix, per-class, calibration, curves, training, examples;
- multi_label: summary, per-class (per label, with thresholds), curves, training, examples
  (the confusion matrix and the reliability diagram do not apply: a note says so);
- regression: summary, regression (predicted vs true, residuals), training, examples.

``training`` is left out, with a note saying why, when the folder has no history (an export,
an adapter outside a run folder). Every figure in here is computed from the scored examples
once (``phalanx.report.data.Scored``); ``metrics`` is exactly ``clf.evaluate``'s result.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import stats
from .data import Scored, Subject

__all__ = ["HEADLINES", "SECTION_TITLES", "build_content", "main_metric"]

#: the page's section ids and their titles
SECTION_TITLES = {
    "summary": "Summary",
    "confusion-matrix": "Confusion matrix",
    "per-class": "Per-class precision, recall and F1",
    "calibration": "Calibration",
    "curves": "Precision-recall and ROC curves",
    "regression": "Predicted against true values",
    "training": "Training curves",
    "examples": "Examples",
}

#: the summary's metrics per problem type, in order
HEADLINES = {
    "single_label": ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "mcc", "loss"),
    "multi_label": (
        "micro_f1",
        "macro_f1",
        "samples_f1",
        "subset_accuracy",
        "hamming_loss",
        "mean_average_precision",
        "loss",
    ),
    "regression": ("mse", "mae", "rmse", "r2", "pearson", "spearman"),
}


def main_metric(meta: dict[str, Any], problem_type: str) -> str:
    """The metric that selected the run's best epoch (the training config's ``best_metric``
    in the folder's metadata), else the problem type's default."""
    from ..training.config import BEST_METRICS_BY_PROBLEM

    training = meta.get("training") if isinstance(meta.get("training"), dict) else {}
    chosen = training.get("best_metric")
    choices = BEST_METRICS_BY_PROBLEM[problem_type]
    return chosen if chosen in choices else choices[0]


def _model_entry(subject: Subject) -> dict[str, Any]:
    info = subject.info
    return {
        "given": subject.given,
        "name": subject.name,
        "kind": subject.kind,
        "run": None if subject.run is None else str(subject.run),
        "method": info.get("method"),
        "base_model": info.get("base_model"),
        "trainable_parameters": info.get("trainable_parameters"),
        "size_bytes": info.get("size_bytes"),
        "labels": list(info.get("labels") or []),
        "problem": info.get("problem"),
        "input_template": info.get("input_template"),
        "max_length": info.get("max_length"),
        "trained_on": info.get("dataset"),
    }


def build_content(
    subject: Subject,
    scored: Scored,
    run_metrics: dict[str, Any] | None,
    history_note: str | None,
    *,
    examples: int = 10,
    metric: str,
) -> dict[str, Any]:
    """The report of ``subject`` on ``scored`` (see the module docstring). ``examples``: rows
    of each example table; ``metric``: the training curves' metric (``main_metric``)."""
    from .. import __version__

    kind = scored.problem.type
    ev = scored.evaluation
    content: dict[str, Any] = {
        "phalanx_version": __version__,
        "title": f"{subject.name}: evaluation report",
        "problem_type": kind,
        "model": _model_entry(subject),
        "data": {
            "dataset": scored.data.source,
            "split": scored.data.split,
            "what": scored.data.what,
            "n": len(scored.texts),
        },
        "metrics": dict(ev),
        "headlines": {k: ev[k] for k in HEADLINES[kind] if k in ev},
        "sections": ["summary"],
        "notes": [],
        "figures": {},
    }
    notes = content["notes"]
    if len(scored.texts) < 30:
        notes.append(
            f"only {len(scored.texts)} examples scored: read every figure as rough (30 or "
            "more give steadier ones)"
        )
    if kind == "single_label":
        _single_label(content, scored, examples)
    elif kind == "multi_label":
        _multi_label(content, scored, examples)
    else:
        _regression(content, scored, examples)
    if run_metrics is not None:
        content["history"] = stats.history(run_metrics, metric)
        content["sections"].insert(len(content["sections"]) - 1, "training")
    else:
        content["history"] = None
        notes.append(history_note or "no training curves: no training history was found")
    return content


def _single_label(content: dict[str, Any], scored: Scored, k: int) -> None:
    ev, names = scored.evaluation, scored.labels
    content["confusion"] = stats.confusion(ev["confusion_matrix"], names)
    content["per_class"] = {
        "rows": ev.get("per_class", {}),
        "averages": {
            "macro": _average(ev, "macro"),
            "weighted": _average(ev, "weighted"),
        },
        "support": int(ev["n"]),
        "rule": "over the classes that occur, true or predicted (scikit-learn's default); an "
        "undefined ratio counts as 0",
    }
    content["calibration"] = stats.calibration(scored.scores, scored.truth)
    content["headlines"]["ece"] = content["calibration"]["ece"]
    onehot = np.eye(len(names), dtype=np.int64)[scored.truth]
    content["curves"] = _curve_entry(scored.scores, onehot, names)
    content["examples"] = stats.examples(scored.texts, scored.scores, scored.truth, names, k)
    content["sections"] += ["confusion-matrix", "per-class", "calibration", "curves", "examples"]


def _multi_label(content: dict[str, Any], scored: Scored, k: int) -> None:
    ev, names = scored.evaluation, scored.labels
    thresholds = list(ev.get("thresholds") or [0.5] * len(names))
    content["per_class"] = {
        "rows": {
            name: {**row, "threshold": thresholds[j]}
            for j, (name, row) in enumerate((ev.get("per_class") or {}).items())
        },
        "averages": {"micro": _average(ev, "micro"), "macro": _average(ev, "macro")},
        "support": int(ev["n"]),
        "rule": "each label decided on its own at its threshold; the macro average runs over "
        "the labels that occur, true or predicted",
    }
    content["curves"] = _curve_entry(scored.scores, scored.truth, names)
    content["examples"] = stats.multi_label_examples(
        scored.texts, scored.scores, scored.truth, names, thresholds, k
    )
    content["sections"] += ["per-class", "curves", "examples"]
    content["notes"].append(
        "no confusion matrix and no reliability diagram: a multi-label model decides each "
        "label on its own (the per-label table and curves show each decision)"
    )


def _regression(content: dict[str, Any], scored: Scored, k: int) -> None:
    values, truth = scored.scores[:, 0], scored.truth.astype(np.float64)
    err = values - truth
    content["regression"] = {
        "target": scored.labels[0] if scored.labels else "value",
        "residual_mean": float(err.mean()),
        "residual_std": float(err.std()),
        "true_range": [float(truth.min()), float(truth.max())],
        "predicted_range": [float(values.min()), float(values.max())],
    }
    content["examples"] = stats.regression_examples(scored.texts, values, truth, k)
    content["sections"] += ["regression", "examples"]
    content["notes"].append(
        "no confusion matrix, per-class table, calibration or PR / ROC curves: they apply to "
        "classifiers, and this model predicts a number"
    )


def _average(ev: dict[str, Any], kind: str) -> dict[str, float | None]:
    return {m: ev.get(f"{kind}_{m}") for m in ("precision", "recall", "f1")}


def _curve_entry(scores: np.ndarray, positives: np.ndarray, names: list[str]) -> dict[str, Any]:
    """Per-class AP / AUC for report.json; the points stay aside (``_points``) for figures."""
    found = stats.curves(scores, positives, names)
    return {"per_class": found["summary"], "skipped": found["skipped"], "_points": found["points"]}
