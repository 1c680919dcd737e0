"""Classification metrics from a confusion matrix, and peft-sparta's printed layout."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["Evaluation", "classification_metrics", "confusion_matrix", "evaluation_from_logits"]


def confusion_matrix(labels: torch.Tensor, preds: torch.Tensor, num_labels: int) -> torch.Tensor:
    """``cm[true, predicted]`` counts as int64."""
    idx = labels.long() * num_labels + preds.long()
    return torch.bincount(idx, minlength=num_labels**2).view(num_labels, num_labels)


def _safe_div(a: float, b: float) -> float:
    return a / b if b else 0.0


def classification_metrics(cm: torch.Tensor) -> dict[str, float]:
    """Accuracy, balanced accuracy, macro-F1, MCC; binary F1 on class 1 for two classes."""
    cm = cm.double()
    n = cm.sum().item()
    tp = cm.diag()
    support, predicted = cm.sum(1), cm.sum(0)
    recall = torch.where(support > 0, tp / support.clamp(min=1), torch.nan)
    f1 = torch.where(support + predicted > 0, 2 * tp / (support + predicted).clamp(min=1), 0.0)
    present = support > 0
    out = {
        "accuracy": _safe_div(tp.sum().item(), n),
        "balanced accuracy": recall[present].mean().item() if present.any() else 0.0,
        "macro-F1": f1[present | (predicted > 0)].mean().item() if n else 0.0,
    }
    # Gorodkin's multiclass MCC; equals the binary phi coefficient for two classes
    c, s = tp.sum().item(), n
    num = c * s - (predicted * support).sum().item()
    den = math.sqrt(s * s - (predicted**2).sum().item()) * math.sqrt(
        s * s - (support**2).sum().item()
    )
    out["MCC"] = _safe_div(num, den)
    if cm.shape == (2, 2):
        out["F1-score"] = f1[1].item()
    return out


def evaluation_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> Evaluation:
    """peft-sparta's metric set from logits [N, C] and label ids [N]: loss (mean cross-entropy
    from log-softmax, always finite), accuracy, confusion matrix, balanced accuracy, macro-F1,
    MCC, F1 (binary) and the count ``n``."""
    logits, labels = torch.as_tensor(logits).float(), torch.as_tensor(labels).long()
    cm = confusion_matrix(labels, logits.argmax(-1), logits.shape[-1])
    out = Evaluation(loss=F.cross_entropy(logits, labels).item())
    metrics = classification_metrics(cm)
    out["accuracy"] = metrics.pop("accuracy")
    out["confusion matrix"] = cm.tolist()
    out.update(metrics)
    out["n"] = int(labels.numel())
    return out


class Evaluation(dict):
    """A dict of metrics that prints in peft-sparta's layout.

    >>> print(Evaluation({"loss": 0.0021, "accuracy": 1.0, "balanced accuracy": 1.0,
    ...     "confusion matrix": [[5, 0], [0, 5]], "MCC": 1.0, "F1-score": 1.0}))
    loss: 0.002
    accuracy: 100%
    confusion matrix: [5, 0
                       0, 5]
    balanced accuracy: 100%
    MCC: 1.0
    F1-score: 1.0
    """

    def __repr__(self) -> str:
        lines = []
        if "loss" in self:
            lines.append(f"loss: {self['loss']:.3f}")
        if "accuracy" in self:
            lines.append(f"accuracy: {_pct(self['accuracy'])}")
        if "confusion matrix" in self:
            rows = [", ".join(str(int(v)) for v in row) for row in self["confusion matrix"]]
            pad = " " * len("confusion matrix: [")
            lines.append("confusion matrix: [" + f"\n{pad}".join(rows) + "]")
        if "balanced accuracy" in self:
            lines.append(f"balanced accuracy: {_pct(self['balanced accuracy'])}")
        for key in ("MCC", "F1-score"):
            if key in self and "F1-score" in self:
                lines.append(f"{key}: {_num(self[key])}")
        if "F1-score" not in self:
            for key in ("macro-F1", "MCC"):
                if key in self:
                    lines.append(f"{key}: {_num(self[key])}")
        return "\n".join(lines)

    __str__ = __repr__


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%" if abs(x * 100 - round(x * 100)) < 0.05 else f"{x * 100:.1f}%"


def _num(x: float) -> str:
    return f"{round(x, 3)}"
