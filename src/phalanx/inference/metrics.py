"""Classification metrics: a confusion matrix, the headline figures, a per-class report
(scikit-learn's ``precision_recall_fscore_support``), and their printed form.

Each metric has one snake_case key (``phalanx.metric_names``). ``print(evaluation)`` shows
peft-sparta's layout first (loss, accuracy, confusion matrix, balanced accuracy, MCC, F1);
when the label names are known the matrix carries them on both axes and a per-class table in
the layout of scikit-learn's ``classification_report`` follows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..metric_names import LEGACY_KEYS, METRIC_LABELS, metric_keys

if TYPE_CHECKING:
    import torch

__all__ = [
    "Evaluation",
    "class_report",
    "classification_metrics",
    "confusion_matrix",
    "evaluation_from_logits",
]


def confusion_matrix(labels: torch.Tensor, preds: torch.Tensor, num_labels: int) -> torch.Tensor:
    """``cm[true, predicted]`` counts as int64."""
    import torch

    idx = labels.long() * num_labels + preds.long()
    return torch.bincount(idx, minlength=num_labels**2).view(num_labels, num_labels)


def _safe_div(a: float, b: float) -> float:
    return a / b if b else 0.0


def classification_metrics(cm: torch.Tensor) -> dict[str, float]:
    """accuracy, balanced_accuracy, macro_f1 (over the classes that occur, true or
    predicted: scikit-learn's default), mcc; f1 of class 1 for two classes."""
    import torch

    cm = cm.double()
    n = cm.sum().item()
    tp = cm.diag()
    support, predicted = cm.sum(1), cm.sum(0)
    recall = torch.where(support > 0, tp / support.clamp(min=1), torch.nan)
    f1 = torch.where(support + predicted > 0, 2 * tp / (support + predicted).clamp(min=1), 0.0)
    present = support > 0
    out = {
        "accuracy": _safe_div(tp.sum().item(), n),
        "balanced_accuracy": recall[present].mean().item() if present.any() else 0.0,
        "macro_f1": f1[present | (predicted > 0)].mean().item() if n else 0.0,
    }
    # Gorodkin's multiclass MCC; equals the binary phi coefficient for two classes
    c, s = tp.sum().item(), n
    num = c * s - (predicted * support).sum().item()
    den = math.sqrt(s * s - (predicted**2).sum().item()) * math.sqrt(
        s * s - (support**2).sum().item()
    )
    out["mcc"] = _safe_div(num, den)
    if cm.shape == (2, 2):
        out["f1"] = f1[1].item()
    return out


def class_report(
    labels: Sequence[int], preds: Sequence[int], label_names: Sequence[str]
) -> dict[str, Any]:
    """Per-class precision / recall / f1 / support and their macro and support-weighted
    averages, by scikit-learn, over the classes that occur (true or predicted), as
    ``classification_report`` reports them; an undefined ratio counts as 0."""
    present = sorted({int(y) for y in labels} | {int(p) for p in preds})
    if not present:
        return {"per_class": {}}
    from sklearn.metrics import precision_recall_fscore_support

    def scores(average: str | None):
        return precision_recall_fscore_support(
            list(labels), list(preds), labels=present, average=average, zero_division=0
        )

    precision, recall, f1, support = scores(None)
    out: dict[str, Any] = {
        "per_class": {
            str(label_names[c]): {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, c in enumerate(present)
        }
    }
    for average in ("macro", "weighted"):
        p, r, f, _ = scores(average)
        out[f"{average}_precision"], out[f"{average}_recall"] = float(p), float(r)
        if average == "weighted":
            out["weighted_f1"] = float(f)
    return out


def evaluation_from_logits(
    logits: torch.Tensor, labels: torch.Tensor, label_names: Sequence[str] | None = None
) -> Evaluation:
    """The metric set from logits [N, C] and label ids [N]: loss (mean cross-entropy from
    log-softmax, always finite), accuracy, confusion_matrix, balanced_accuracy, macro_f1,
    mcc, f1 (binary), the count ``n``, the per-class report and, when given, the C
    ``label_names`` (printed on the matrix and the report)."""
    import torch
    import torch.nn.functional as F

    logits, labels = torch.as_tensor(logits).float(), torch.as_tensor(labels).long()
    num_labels = logits.shape[-1]
    names = None if label_names is None else [str(n) for n in label_names]
    if names is not None and len(names) != num_labels:
        raise ValueError(f"{len(names)} label names {names} for {num_labels} logit columns")
    preds = logits.argmax(-1)
    cm = confusion_matrix(labels, preds, num_labels)
    out = Evaluation(loss=F.cross_entropy(logits, labels).item())
    metrics = classification_metrics(cm)
    out["accuracy"] = metrics.pop("accuracy")
    out["confusion_matrix"] = cm.tolist()
    out.update(metrics)
    out["n"] = int(labels.numel())
    if names is not None:
        out["label_names"] = names
    report_names = names or [str(i) for i in range(num_labels)]
    out.update(class_report(labels.tolist(), preds.tolist(), report_names))
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


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%" if abs(x * 100 - round(x * 100)) < 0.05 else f"{x * 100:.1f}%"


def _num(x: float) -> str:
    return f"{round(x, 3)}"
