"""What a report shows, computed from scores and labels (numpy and scikit-learn; no model).

- ``calibration``: the reliability table and the expected calibration error (``ECE_RULE``);
- ``curves``: precision-recall and ROC curves per class (one class against the rest);
- ``confusion``: counts and row-normalised shares;
- ``examples``: the most confident mistakes and the least confident correct predictions;
- ``history``: the training curves read from a run's ``metrics.json`` history.

Every function returns plain floats / ints / lists / dicts (what ``report.json`` holds), except
the curve points, which only the figures draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "ECE_BINS",
    "ECE_RULE",
    "calibration",
    "confusion",
    "curves",
    "examples",
    "history",
    "multi_label_examples",
    "regression_examples",
]

ECE_BINS = 15
ECE_RULE = (
    "expected calibration error: the top-class probability of each example falls in one of "
    "15 equal-width bins ((0, 1/15], (1/15, 2/15], ..., (14/15, 1]; 0 counts in the first); "
    "ECE = sum over bins of (examples in the bin / all examples) * |accuracy in the bin - "
    "mean top probability in the bin| (Guo et al., 2017)"
)


def bin_index(confidence: np.ndarray, bins: int = ECE_BINS) -> np.ndarray:
    """The bin (0 .. bins-1) of each confidence: bin b holds (b/bins, (b+1)/bins]."""
    inner = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    return np.searchsorted(inner, np.asarray(confidence, dtype=np.float64), side="left")


def calibration(probs: np.ndarray, truth: np.ndarray, bins: int = ECE_BINS) -> dict[str, Any]:
    """The reliability table of single-label probabilities [N, C] against class ids [N]: per
    bin its edges, count, mean confidence, accuracy and the correct / wrong counts (the score
    histogram), plus ``ece`` and ``max_gap`` (the largest |accuracy - confidence| of a
    non-empty bin)."""
    probs = np.asarray(probs, dtype=np.float64)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(truth)
    index = bin_index(confidence, bins)
    edges = np.linspace(0.0, 1.0, bins + 1)
    n = len(confidence)
    table, ece, max_gap = [], 0.0, 0.0
    for b in range(bins):
        inside = index == b
        count = int(inside.sum())
        row: dict[str, Any] = {
            "lower": float(edges[b]),
            "upper": float(edges[b + 1]),
            "count": count,
            "correct": int(correct[inside].sum()),
            "wrong": int(count - correct[inside].sum()),
            "confidence": None,
            "accuracy": None,
        }
        if count:
            conf, acc = float(confidence[inside].mean()), float(correct[inside].mean())
            row.update(confidence=conf, accuracy=acc)
            ece += count / n * abs(acc - conf)
            max_gap = max(max_gap, abs(acc - conf))
        table.append(row)
    return {
        "rule": ECE_RULE,
        "bins": bins,
        "ece": float(ece),
        "max_gap": float(max_gap),
        "mean_confidence": float(confidence.mean()) if n else 0.0,
        "accuracy": float(correct.mean()) if n else 0.0,
        "table": table,
    }


def curves(scores: np.ndarray, positives: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    """Precision-recall and ROC curves per class, one against the rest, by scikit-learn.

    ``positives``: [N, C] 0/1 (is the example of / flagged with class c). A class with no
    positive example has no PR curve or ROC curve; one with no negative has no ROC curve:
    each is listed under ``skipped`` with the reason. The result's ``summary`` (average
    precision and ROC AUC per class) goes to report.json; ``points`` feed the figures.
    """
    from sklearn import metrics as skm

    scores = np.asarray(scores, dtype=np.float64)
    positives = np.asarray(positives).astype(bool)
    summary: dict[str, dict[str, float | None]] = {}
    points: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    for c, name in enumerate(names):
        y, s = positives[:, c], scores[:, c]
        entry: dict[str, float | None] = {
            "average_precision": None,
            "roc_auc": None,
            "positives": int(y.sum()),
        }
        pts: dict[str, Any] = {}
        if y.any():
            precision, recall, _ = skm.precision_recall_curve(y, s)
            entry["average_precision"] = float(skm.average_precision_score(y, s))
            pts["pr"] = (recall, precision)
            if not y.all():
                fpr, tpr, _ = skm.roc_curve(y, s)
                entry["roc_auc"] = float(skm.roc_auc_score(y, s))
                pts["roc"] = (fpr, tpr)
            else:
                skipped.append(f"{name}: every example is one (no ROC curve)")
        else:
            skipped.append(f"{name}: no example is one (no curve)")
        summary[str(name)] = entry
        points[str(name)] = pts
    return {"summary": summary, "points": points, "skipped": skipped}


def confusion(counts: Sequence[Sequence[int]], names: Sequence[str]) -> dict[str, Any]:
    """Counts ``[true][predicted]`` and their row-normalised shares (a row with no example
    gets shares of None)."""
    cm = np.asarray(counts, dtype=np.int64)
    rows = cm.sum(axis=1)
    shares = [[float(v / rows[i]) if rows[i] else None for v in cm[i]] for i in range(len(cm))]
    return {"labels": [str(n) for n in names], "counts": cm.tolist(), "row_shares": shares}


def _row(text: str, true: Any, predicted: Any, score: float, **more: Any) -> dict[str, Any]:
    return {"text": text, "true": true, "predicted": predicted, "score": float(score), **more}


def examples(
    texts: Sequence[str], probs: np.ndarray, truth: np.ndarray, names: Sequence[str], k: int
) -> dict[str, Any]:
    """Single-label: the ``k`` wrong predictions with the highest top probability and the
    ``k`` right ones with the lowest (score: the predicted label's probability; ties keep
    the data's order)."""
    probs = np.asarray(probs, dtype=np.float64)
    pred, score = probs.argmax(axis=1), probs.max(axis=1)
    truth = np.asarray(truth)
    wrong = np.flatnonzero(pred != truth)
    right = np.flatnonzero(pred == truth)
    wrong = wrong[np.argsort(-score[wrong], kind="stable")][:k]
    right = right[np.argsort(score[right], kind="stable")][:k]

    def rows(idx: np.ndarray) -> list[dict[str, Any]]:
        return [
            _row(texts[i], names[truth[i]], names[pred[i]], score[i], true_score=probs[i, truth[i]])
            for i in idx
        ]

    return {
        "rule": "score: the probability of the predicted label",
        "confident_mistakes": rows(wrong),
        "unsure_correct": rows(right),
    }


def multi_label_examples(
    texts: Sequence[str],
    probs: np.ndarray,
    truth: np.ndarray,
    names: Sequence[str],
    thresholds: Sequence[float],
    k: int,
) -> dict[str, Any]:
    """Multi-label: texts whose label set is wrong, by how far their worst wrong decision
    lies from its threshold (most first), and texts whose set is right, by how near their
    closest decision lies to its threshold (nearest first). score: that label's probability."""
    probs = np.asarray(probs, dtype=np.float64)
    t = np.asarray(thresholds, dtype=np.float64)
    y = np.asarray(truth).astype(bool)
    pred = probs >= t
    margin = np.abs(probs - t)
    wrong_cells = pred != y
    bad = np.flatnonzero(wrong_cells.any(axis=1))
    good = np.flatnonzero(~wrong_cells.any(axis=1))
    worst = np.where(wrong_cells, margin, -1.0).argmax(axis=1)
    closest = margin.argmin(axis=1)
    bad = bad[np.argsort(-margin[bad, worst[bad]], kind="stable")][:k]
    good = good[np.argsort(margin[good, closest[good]], kind="stable")][:k]

    def joined(row: np.ndarray) -> str:
        return ", ".join(str(names[j]) for j in np.flatnonzero(row)) or "(none)"

    def rows(idx: np.ndarray, which: np.ndarray) -> list[dict[str, Any]]:
        return [
            _row(texts[i], joined(y[i]), joined(pred[i]), probs[i, which[i]], label=names[which[i]])
            for i in idx
        ]

    return {
        "rule": "score: the probability of the label named, the decision furthest from its "
        "threshold among the wrong ones (mistakes) or nearest to it (correct)",
        "confident_mistakes": rows(bad, worst),
        "unsure_correct": rows(good, closest),
    }


def regression_examples(
    texts: Sequence[str], values: np.ndarray, truth: np.ndarray, k: int
) -> dict[str, Any]:
    """Regression: the ``k`` largest absolute errors (score: the error, predicted - true)."""
    values, truth = np.asarray(values, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    err = values - truth
    idx = np.argsort(-np.abs(err), kind="stable")[:k]
    return {
        "rule": "score: the error, predicted - true",
        "largest_errors": [_row(texts[i], float(truth[i]), float(values[i]), err[i]) for i in idx],
    }


def history(metrics: dict[str, Any], metric: str) -> dict[str, Any]:
    """The training curves of a run's ``metrics.json``: ``train`` (step, epoch, loss per
    logging step), ``evaluations`` (step, epoch, validation loss and ``metric`` per
    evaluation) and the selected ``best_step`` / ``best_epoch``."""
    train, evals = [], []
    for h in metrics.get("history") or []:
        if not isinstance(h, dict):
            continue
        if "eval_loss" in h:
            evals.append(
                {
                    "step": h.get("step"),
                    "epoch": h.get("epoch"),
                    "loss": h.get("eval_loss"),
                    metric: h.get(f"eval_{metric}"),
                }
            )
        elif "loss" in h:
            train.append({"step": h.get("step"), "epoch": h.get("epoch"), "loss": h.get("loss")})
    return {
        "metric": metric,
        "train": train,
        "evaluations": evals,
        "best_step": metrics.get("best_step"),
        "best_epoch": metrics.get("best_epoch"),
    }
