"""Metrics per problem type: ``evaluation_for(problem, logits, labels, label_names)``.

- single_label: ``evaluation_from_logits`` (a confusion matrix, accuracy, balanced
  accuracy, macro-F1, MCC, F1, a per-class report by scikit-learn), with no
  ``problem_type`` key, so its outputs are those phalanx always wrote;
- multi_label: labels multi-hot [N, L] (0/1); probabilities are per-label sigmoids
  (``problem.scores``), a label is predicted when its probability reaches its threshold
  (``problem.threshold_vector``); F1 family, subset accuracy, Hamming loss, mAP and a
  per-label report, by scikit-learn;
- regression: labels floats [N] in the data's units; values are ``problem.scores`` (any
  ``target_scale`` undone), so every error is in the data's units too.

Every value is a plain ``float`` / ``int`` / ``list`` / ``dict`` (``json.dumps`` works).
The result is an ``Evaluation`` (``phalanx.metric_names``), which prints per type.
``phalanx.inference.metrics`` re-exports the single-label names (they lived there first).

>>> import torch
>>> from phalanx.problems import Problem
>>> ev = evaluation_for(Problem("multi_label"), torch.tensor([[3.0, 3.0, -3.0]]), [[1, 1, 0]])
>>> ev["micro_f1"], ev["subset_accuracy"], ev["thresholds"]
(1.0, 1.0, [0.5, 0.5, 0.5])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError, shown
from ..metric_names import Evaluation
from .types import Problem

if TYPE_CHECKING:
    import torch

__all__ = [
    "class_report",
    "classification_metrics",
    "confusion_matrix",
    "evaluation_for",
    "evaluation_from_logits",
    "multi_label_evaluation",
    "regression_evaluation",
]


def evaluation_for(
    problem: Problem, logits: Any, labels: Any, label_names: Sequence[str] | None = None
) -> Evaluation:
    """The metric set of ``problem.type`` from logits [N, C] (tensor, array or lists).

    ``labels``: class ids [N] (single_label), multi-hot [N, L] 0/1 (multi_label), or
    floats [N] in the data's units (regression). ``label_names``: one per logit column.
    """
    if problem.type == "single_label":
        return evaluation_from_logits(logits, labels, label_names)
    if problem.type == "multi_label":
        return multi_label_evaluation(problem, logits, labels, label_names)
    return regression_evaluation(problem, logits, labels, label_names)


# -- single-label -------------------------------------------------------------------------
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


# -- multi-label --------------------------------------------------------------------------
def multi_label_evaluation(
    problem: Problem, logits: Any, labels: Any, label_names: Sequence[str] | None = None
) -> Evaluation:
    """Multi-label metrics; keys in this order:

    ``problem_type`` ("multi_label"), ``loss`` (mean binary cross-entropy on the logits,
    fp32, as training computes it), ``micro_f1``, ``macro_f1``, ``samples_f1``,
    ``subset_accuracy`` (every label of a text right), ``hamming_loss`` (share of wrong
    label decisions), ``micro_precision``, ``micro_recall``, ``macro_precision``,
    ``macro_recall``, ``mean_average_precision``, ``per_class`` ({label: {precision,
    recall, f1, support}} for every label, an undefined ratio counting 0), ``n``,
    ``label_names`` (only when given, as for single_label) and ``thresholds`` (one per label,
    those used).

    Rules: the macro averages run over the labels that occur, true or predicted (as
    single_label's macro-F1 and scikit-learn's ``labels=`` those, ``zero_division=0``); a
    label never true nor predicted is left out rather than counted 0. ``samples_f1`` counts
    a text with no true and no predicted label as right (1), any other text by its F1.
    ``mean_average_precision`` is scikit-learn's ``average_precision_score`` per label
    (ranking by probability, thresholds aside) averaged over the labels with at least one
    true text; 0.0 when no label has one.
    """
    import torch
    import torch.nn.functional as F
    from sklearn import metrics as skm

    x = torch.as_tensor(_array(logits, "logits")).float()
    if x.dim() != 2:
        raise InputError(f"multi_label logits must be [texts, labels], got shape {tuple(x.shape)}")
    n, num_labels = x.shape
    _some(n)
    names = _names(label_names, num_labels)
    y = _multi_hot(labels, n, num_labels)
    probs = problem.scores(x).numpy().astype(np.float64)
    thresholds = problem.threshold_vector(num_labels)
    pred = (probs >= np.asarray(thresholds, dtype=np.float64)).astype(np.int64)

    present = [j for j in range(num_labels) if y[:, j].any() or pred[:, j].any()]
    out = Evaluation(problem_type="multi_label")
    out["loss"] = F.binary_cross_entropy_with_logits(x, torch.from_numpy(y).float()).item()
    out["micro_f1"] = float(skm.f1_score(y, pred, average="micro", zero_division=0))
    out["macro_f1"], macro_p, macro_r = 0.0, 0.0, 0.0
    if present:
        p, r, f, _ = skm.precision_recall_fscore_support(
            y, pred, labels=present, average="macro", zero_division=0
        )
        out["macro_f1"], macro_p, macro_r = float(f), float(p), float(r)
    out["samples_f1"] = float(skm.f1_score(y, pred, average="samples", zero_division=1))
    out["subset_accuracy"] = float(skm.accuracy_score(y, pred))
    out["hamming_loss"] = float(skm.hamming_loss(y, pred))
    out["micro_precision"] = float(skm.precision_score(y, pred, average="micro", zero_division=0))
    out["micro_recall"] = float(skm.recall_score(y, pred, average="micro", zero_division=0))
    out["macro_precision"], out["macro_recall"] = macro_p, macro_r
    with_positive = [j for j in range(num_labels) if y[:, j].any()]
    ap = [skm.average_precision_score(y[:, j], probs[:, j]) for j in with_positive]
    out["mean_average_precision"] = float(np.mean(ap)) if ap else 0.0
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y, pred, labels=list(range(num_labels)), average=None, zero_division=0
    )
    out["per_class"] = {
        name: {
            "precision": float(precision[j]),
            "recall": float(recall[j]),
            "f1": float(f1[j]),
            "support": int(support[j]),
        }
        for j, name in enumerate(names or [str(j) for j in range(num_labels)])
    }
    out["n"] = int(n)
    if names is not None:
        out["label_names"] = names
    out["thresholds"] = [float(t) for t in thresholds]
    return out


def _multi_hot(labels: Any, n: int, num_labels: int) -> np.ndarray:
    """``labels`` as an int64 [n, num_labels] array of 0/1, or an InputError naming them."""
    y = _array(labels, "multi-hot labels")
    if y.shape != (n, num_labels):
        raise InputError(
            f"multi_label labels must be multi-hot [{n}, {num_labels}] (one 0/1 column per "
            f"logit column), got shape {y.shape}; build them with "
            f"phalanx.data.targets.multi_hot(labels, {num_labels})"
        )
    if y.size and not np.isin(y, (0, 1)).all():
        bad = sorted({float(v) for v in np.unique(y) if v not in (0, 1)})[:5]
        raise InputError(f"multi-hot labels must be 0 or 1, got values {shown(bad)}")
    return y.astype(np.int64)


# -- regression ---------------------------------------------------------------------------
def regression_evaluation(
    problem: Problem, logits: Any, labels: Any, label_names: Sequence[str] | None = None
) -> Evaluation:
    """Regression metrics in the data's units; keys in this order:

    ``problem_type`` ("regression"), ``loss`` (= ``mse``, in the data's units: not the
    training loss on normalised targets), ``mse``, ``mae``, ``rmse``, ``r2`` (scikit-learn's
    ``r2_score``), ``pearson``, ``spearman`` (scipy.stats), ``n`` and ``label_names`` (when
    given). A correlation of a constant input (or of fewer than 2 texts) is undefined:
    it reads 0.0, with no warning; so does ``r2`` for fewer than 2 texts.
    """
    from scipy import stats
    from sklearn import metrics as skm

    x = _array(logits, "logits").astype(np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != 1:
        raise InputError(f"regression logits must be [texts, 1] (one output), got shape {x.shape}")
    values = np.asarray(problem.scores(x), dtype=np.float64)[:, 0]
    target = _array(labels, "regression targets").astype(np.float64).reshape(-1)
    if target.shape != values.shape:
        raise InputError(
            f"{target.size} regression targets for {values.size} predictions; give one float "
            "per text"
        )
    names = _names(label_names, 1)
    n = _some(int(values.size))
    err = values - target
    mse = float(np.mean(err**2))
    out = Evaluation(problem_type="regression", loss=mse, mse=mse)
    out["mae"] = float(np.mean(np.abs(err)))
    out["rmse"] = math.sqrt(mse)
    out["r2"] = float(skm.r2_score(target, values)) if n >= 2 else 0.0
    out["pearson"] = _correlation(stats.pearsonr, values, target)
    out["spearman"] = _correlation(stats.spearmanr, values, target)
    out["n"] = n
    if names is not None:
        out["label_names"] = names
    return out


def _correlation(fn: Any, a: np.ndarray, b: np.ndarray) -> float:
    """``fn(a, b)``'s statistic; 0.0 where undefined (constant input, under 2 values)."""
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    value = float(fn(a, b)[0])
    return value if math.isfinite(value) else 0.0


# -- shared -------------------------------------------------------------------------------
def _array(value: Any, what: str) -> np.ndarray:
    """A tensor, array or nested lists as a numpy array."""
    if hasattr(value, "detach"):
        value = value.detach().cpu()
        if value.dtype.is_floating_point and value.dtype.itemsize < 4:
            value = value.float()
        return value.numpy()
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputError(
            f"{what} must be numbers in a rectangular array, got {shown(value)}"
        ) from err


def _names(label_names: Sequence[str] | None, columns: int) -> list[str] | None:
    if label_names is None:
        return None
    names = [str(n) for n in label_names]
    if len(names) != columns:
        raise InputError(f"{len(names)} label names {shown(names)} for {columns} logit columns")
    return names


def _some(n: int) -> int:
    if n == 0:
        raise InputError("no texts to evaluate: give at least one text with its label")
    return n
