"""The one machine name of every metric, its printed label, and the names older files used.

Every metric has exactly one snake_case key wherever it is written: ``metrics.json``,
``phalanx.json``, ``phalanx evaluate``'s JSON file, the Trainer's logs (``eval_<key>``),
``TrainResult`` and ``phalanx info --json``. Printed output may use the label instead.
Light on purpose (no torch): ``phalanx info`` reads metrics without loading a model.

``Evaluation`` is the dict every evaluation returns (``phalanx.problems.metrics`` computes
it; ``phalanx.inference.metrics`` re-exports it): one key per metric, legacy names read as
aliases, and a printed form per problem type. single_label: peft-sparta's layout (loss,
accuracy, confusion matrix, balanced accuracy, MCC, F1), the matrix labelled and a
per-class table in scikit-learn's ``classification_report`` layout when the label names are
known; multi_label and regression (marked by a ``problem_type`` key): the F1 family and a
per-label table with thresholds, or the regression errors one a line.

>>> metric_keys({"macro-F1": 0.5, "confusion matrix": [[1]]})
{'macro_f1': 0.5, 'confusion_matrix': [[1]]}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["LEGACY_KEYS", "METRIC_LABELS", "Evaluation", "metric_keys"]

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
    # multi_label and regression (phalanx.problems.metrics)
    "problem_type": "problem type",
    "micro_f1": "micro-F1",
    "samples_f1": "samples-F1",
    "subset_accuracy": "subset accuracy",
    "hamming_loss": "Hamming loss",
    "micro_precision": "micro precision",
    "micro_recall": "micro recall",
    "mean_average_precision": "mAP",
    "thresholds": "thresholds",
    "mse": "MSE",
    "mae": "MAE",
    "rmse": "RMSE",
    "r2": "R^2",
    "pearson": "Pearson r",
    "spearman": "Spearman rho",
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


class Evaluation(dict):
    """A dict of metrics (one snake_case key each) that prints in peft-sparta's layout,
    followed, when it holds ``label_names``, by the per-class report.

    peft-sparta's spellings (``"confusion matrix"``, ``"MCC"``, ...) still read: they are
    renamed when the dict is built and looked up as aliases, never stored.

    >>> print(Evaluation({"loss": 0.0021, "accuracy": 1.0, "balanced_accuracy": 1.0,
    ...     "confusion_matrix": [[5, 0], [0, 5]], "mcc": 1.0, "f1": 1.0}))
    loss: 0.002
    accuracy: 100%
    confusion matrix: [5, 0
                       0, 5]
    balanced accuracy: 100%
    MCC: 1.0
    F1-score: 1.0
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(metric_keys(dict(*args, **kwargs)))

    def __missing__(self, key: str) -> Any:
        new = LEGACY_KEYS.get(key)
        if new is not None and new in self:
            return self[new]
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        """``dict.get``, reading a legacy name as its current key."""
        try:
            return self[key]
        except KeyError:
            return default

    def __repr__(self) -> str:
        kind = self.get("problem_type")
        if kind == "multi_label":
            return "\n".join(_multi_label_lines(self))
        if kind == "regression":
            return "\n".join(_regression_lines(self))
        lines = []
        if "loss" in self:
            lines.append(f"loss: {self['loss']:.3f}")
        if "accuracy" in self:
            lines.append(f"accuracy: {_pct(self['accuracy'])}")
        names = self.get("label_names")
        if "confusion_matrix" in self:
            cm = self["confusion_matrix"]
            if names and len(names) == len(cm):
                lines += _labelled_matrix(cm, names)
            else:
                rows = [", ".join(str(int(v)) for v in row) for row in cm]
                pad = " " * len("confusion matrix: [")
                lines.append("confusion matrix: [" + f"\n{pad}".join(rows) + "]")
        if "balanced_accuracy" in self:
            lines.append(f"balanced accuracy: {_pct(self['balanced_accuracy'])}")
        # peft-sparta's binary pair (MCC, F1-score); macro-F1 and MCC for more classes
        keys = ("mcc", "f1") if "f1" in self else ("macro_f1", "mcc")
        lines += [f"{METRIC_LABELS[k]}: {_num(self[k])}" for k in keys if k in self]
        if names and self.get("per_class"):
            lines += ["", *_report_lines(self)]
        return "\n".join(lines)

    __str__ = __repr__


#: a column header of the labelled matrix is cut to this many characters
_HEADER_WIDTH = 12


def _labelled_matrix(cm: Sequence[Sequence[int]], names: Sequence[str]) -> list[str]:
    """The matrix with the true label on each row and the predicted one on each column."""
    heads = [n if len(n) <= _HEADER_WIDTH else n[: _HEADER_WIDTH - 2] + ".." for n in names]
    widths = [max(len(h), *(len(str(int(row[j]))) for row in cm)) for j, h in enumerate(heads)]
    corner = "true \\ predicted"
    first = max(len(corner), *(len(n) for n in names))

    def line(name: str, cells: Sequence[Any]) -> str:
        return f"  {name:>{first}}" + "".join(
            f"  {c:>{w}}" for c, w in zip(cells, widths, strict=True)
        )

    lines = ["confusion matrix (rows: true label, columns: predicted label):", line(corner, heads)]
    lines += [line(n, [int(v) for v in row]) for n, row in zip(names, cm, strict=True)]
    return lines


def _report_lines(ev: Evaluation, digits: int = 3) -> list[str]:
    """The per-class table, laid out as scikit-learn's ``classification_report``."""
    per_class = ev["per_class"]
    width = max(len("weighted avg"), digits, *(len(n) for n in per_class))
    total = sum(r["support"] for r in per_class.values())

    def row(name: str, p: float, r: float, f: float, support: int) -> str:
        return (
            f"{name:>{width}} "
            + "".join(f" {v:>9.{digits}f}" for v in (p, r, f))
            + (f" {support:>9}")
        )

    lines = [f"{'':>{width}} " + "".join(f" {h:>9}" for h in _REPORT_HEADERS), ""]
    lines += [
        row(n, r["precision"], r["recall"], r["f1"], r["support"]) for n, r in per_class.items()
    ]
    lines.append("")
    if "accuracy" in ev:
        lines.append(f"{'accuracy':>{width}} " + " " * 20 + f" {ev['accuracy']:>9.{digits}f}"
                     f" {total:>9}")  # fmt: skip
    for average in ("macro", "weighted"):
        keys = (f"{average}_precision", f"{average}_recall", f"{average}_f1")
        if all(k in ev for k in keys):
            lines.append(row(f"{average} avg", *(ev[k] for k in keys), total))
    return lines


_REPORT_HEADERS = ("precision", "recall", "f1-score", "support")

#: headline figures of a multi-label evaluation, in print order (subset accuracy as a %)
_MULTI_LABEL_KEYS = (
    "micro_f1",
    "macro_f1",
    "samples_f1",
    "subset_accuracy",
    "hamming_loss",
    "mean_average_precision",
)
_REGRESSION_KEYS = ("mse", "mae", "rmse", "r2", "pearson", "spearman")


def _multi_label_lines(ev: Evaluation, digits: int = 3) -> list[str]:
    """Headline figures, then a per-label table (``classification_report``'s layout plus
    each label's threshold) closed by the micro and macro averages."""
    lines = [f"loss: {ev['loss']:.3f}"] if "loss" in ev else []
    for key in _MULTI_LABEL_KEYS:
        if key in ev:
            shown = _pct(ev[key]) if key == "subset_accuracy" else _num(ev[key])
            lines.append(f"{METRIC_LABELS[key]}: {shown}")
    per_class = ev.get("per_class") or {}
    if not per_class:
        return lines
    thresholds = ev.get("thresholds") or []
    if len(thresholds) != len(per_class):
        thresholds = []
    width = max(len("micro avg"), digits, *(len(n) for n in per_class))
    total = sum(r["support"] for r in per_class.values())

    def row(name: str, p: float, r: float, f: float, support: int, t: float | None) -> str:
        cells = "".join(f" {v:>9.{digits}f}" for v in (p, r, f)) + f" {support:>9}"
        return f"{name:>{width}} " + cells + ("" if t is None else f" {t:>10.{digits}f}")

    head = f"{'':>{width}} " + "".join(f" {h:>9}" for h in _REPORT_HEADERS)
    lines += ["", head + ("  threshold" if thresholds else ""), ""]
    lines += [
        row(n, r["precision"], r["recall"], r["f1"], r["support"], t)
        for (n, r), t in zip(per_class.items(), thresholds or [None] * len(per_class), strict=True)
    ]
    lines.append("")
    for average in ("micro", "macro"):
        keys = (f"{average}_precision", f"{average}_recall", f"{average}_f1")
        if all(k in ev for k in keys):
            lines.append(row(f"{average} avg", *(ev[k] for k in keys), total, None))
    return lines


def _regression_lines(ev: Evaluation) -> list[str]:
    """One figure a line: loss, MSE, MAE, RMSE, R^2, Pearson r, Spearman rho."""
    keys = ("loss", *_REGRESSION_KEYS)
    return [f"{METRIC_LABELS[k]}: {_measure(ev[k])}" for k in keys if k in ev]


def _measure(x: float) -> str:
    """Three decimals, or three significant figures for a value below 0.001 (an error
    in small units would otherwise print 0.0)."""
    return f"{x:.3g}" if 0 < abs(x) < 1e-3 else _num(x)


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%" if abs(x * 100 - round(x * 100)) < 0.05 else f"{x * 100:.1f}%"


def _num(x: float) -> str:
    return f"{round(x, 3)}"
