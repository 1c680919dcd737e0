"""The report's numbers from hand-made scores: ECE bins, confusion shares, example order,
training history (no model involved)."""

from __future__ import annotations

import numpy as np
import pytest

from phalanx.report import stats


def test_bins_are_equal_width_and_closed_on_the_right():
    eps = 1e-9
    conf = np.array([0.0, 1 / 15, 1 / 15 + eps, 0.5, 14 / 15 + eps, 1.0])
    assert stats.bin_index(conf).tolist() == [0, 0, 1, 7, 14, 14]


def test_ece_by_hand():
    # bin (13/15, 14/15]: .9 right and .9 wrong -> |0.5 - 0.9| * 2/4
    # bin (9/15, 10/15]: .65 right twice       -> |1.0 - 0.65| * 2/4
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.35, 0.65], [0.65, 0.35]])
    truth = np.array([0, 1, 1, 0])
    cal = stats.calibration(probs, truth)
    assert cal["ece"] == pytest.approx(0.5 * 0.4 + 0.5 * 0.35)
    assert cal["max_gap"] == pytest.approx(0.4)
    assert "15 equal-width bins" in cal["rule"]
    filled = {i: r for i, r in enumerate(cal["table"]) if r["count"]}
    assert sorted(filled) == [9, 13]
    want = {"lower": 13 / 15, "upper": 14 / 15, "count": 2, "correct": 1, "wrong": 1}
    assert filled[13] == pytest.approx({**want, "confidence": 0.9, "accuracy": 0.5})
    assert sum(r["count"] for r in cal["table"]) == 4


def test_a_perfectly_calibrated_model_has_zero_ece():
    probs = np.array([[1.0, 0.0]] * 3 + [[0.0, 1.0]] * 2)
    assert stats.calibration(probs, np.array([0, 0, 0, 1, 1]))["ece"] == 0.0


def test_confusion_shares_are_per_row_and_empty_rows_have_none():
    out = stats.confusion([[3, 1], [0, 0]], ["a", "b"])
    assert out["row_shares"] == [[0.75, 0.25], [None, None]]
    assert out["labels"] == ["a", "b"] and out["counts"] == [[3, 1], [0, 0]]


def test_examples_most_confident_mistakes_first_least_confident_correct_first():
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.45, 0.55], [0.99, 0.01]])
    truth = np.array([1, 1, 1, 1, 0])  # wrong: rows 0 (.9) and 1 (.6)
    ex = stats.examples(list("abcde"), probs, truth, ["neg", "pos"], k=10)
    assert [r["text"] for r in ex["confident_mistakes"]] == ["a", "b"]
    assert ex["confident_mistakes"][0] == pytest.approx(
        {"text": "a", "true": "pos", "predicted": "neg", "score": 0.9, "true_score": 0.1}
    )
    assert [r["text"] for r in ex["unsure_correct"]] == ["d", "c", "e"]
    assert (
        len(stats.examples(list("abcde"), probs, truth, ["neg", "pos"], k=1)["unsure_correct"]) == 1
    )


def test_multi_label_examples_rank_by_distance_from_the_threshold():
    probs = np.array([[0.95, 0.1], [0.55, 0.2], [0.9, 0.45], [0.1, 0.8]])
    truth = np.array([[0, 0], [0, 0], [1, 0], [0, 1]])
    ex = stats.multi_label_examples(list("abcd"), probs, truth, ["x", "y"], [0.5, 0.5], k=5)
    mistakes = ex["confident_mistakes"]
    assert [(r["text"], r["label"], r["predicted"]) for r in mistakes] == [
        ("a", "x", "x"),
        ("b", "x", "x"),
    ]
    assert mistakes[0]["true"] == "(none)"
    assert [(r["text"], r["label"]) for r in ex["unsure_correct"]] == [("c", "y"), ("d", "y")]


def test_regression_examples_are_the_largest_errors():
    ex = stats.regression_examples(
        list("abc"), np.array([1.0, 5.0, 2.0]), np.array([1.5, 1.0, 2.0]), 2
    )
    assert [(r["text"], r["score"]) for r in ex["largest_errors"]] == [("b", 4.0), ("a", -0.5)]


def test_curves_skip_classes_without_positives_and_name_them():
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.6, 0.4, 0.0]])
    positives = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0]])
    out = stats.curves(scores, positives, ["a", "b", "c"])
    assert out["summary"]["a"]["roc_auc"] == 1.0
    assert out["summary"]["a"]["average_precision"] == 1.0
    assert out["summary"]["c"] == {"average_precision": None, "roc_auc": None, "positives": 0}
    assert out["skipped"] == ["c: no example is one (no curve)"]
    assert set(out["points"]["a"]) == {"pr", "roc"} and out["points"]["c"] == {}


def test_history_splits_training_logs_from_evaluations():
    metrics = {
        "best_step": 10,
        "best_epoch": 1.0,
        "history": [
            {"epoch": 0.5, "loss": 0.7, "step": 5},
            {"epoch": 1.0, "eval_loss": 0.6, "eval_accuracy": 0.8, "step": 10},
            {"epoch": 2.0, "eval_loss": 0.65, "eval_accuracy": 0.75, "step": 20},
            {"epoch": 2.0, "train_loss": 0.6, "train_runtime": 1.0, "step": 20},
        ],
    }
    h = stats.history(metrics, "accuracy")
    assert h["train"] == [{"step": 5, "epoch": 0.5, "loss": 0.7}]
    assert [e["accuracy"] for e in h["evaluations"]] == [0.8, 0.75]
    assert (h["best_step"], h["best_epoch"], h["metric"]) == (10, 1.0, "accuracy")
