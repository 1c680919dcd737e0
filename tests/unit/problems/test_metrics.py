"""``evaluation_for``: multi-label and regression metrics, pinned by hand and against
scikit-learn / scipy, and their printed form."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from phalanx.errors import InputError
from phalanx.inference.metrics import Evaluation, evaluation_from_logits
from phalanx.metric_names import METRIC_LABELS
from phalanx.problems import Problem
from phalanx.problems.metrics import evaluation_for

MULTI = Problem("multi_label")
NAMES = ["toxic", "insult", "threat"]
# 4 texts x 3 labels; predicted at 0.5 (logit >= 0): [1,1,0], [1,0,1], [0,1,0], [1,0,1]
LOGITS = torch.tensor([[3.0, 3.0, -3.0], [2.0, -1.0, 0.5], [-2.0, 1.0, -1.0], [0.2, -0.3, 2.0]])
TRUE = [[1, 1, 0], [1, 0, 0], [0, 1, 1], [0, 0, 1]]
MULTI_KEYS = [
    "problem_type", "loss", "micro_f1", "macro_f1", "samples_f1", "subset_accuracy",
    "hamming_loss", "micro_precision", "micro_recall", "macro_precision", "macro_recall",
    "mean_average_precision", "per_class", "n", "label_names", "thresholds",
]  # fmt: skip
REGRESSION_KEYS = [
    "problem_type", "loss", "mse", "mae", "rmse", "r2", "pearson", "spearman", "n", "label_names",
]  # fmt: skip


def _plain(value):
    """Every leaf a built-in float / int / str (no numpy scalars)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return type(value) in (float, int, str)


# -- multi-label --------------------------------------------------------------------------
def test_multi_label_metrics_by_hand():
    ev = evaluation_for(MULTI, LOGITS, TRUE, NAMES)
    assert isinstance(ev, Evaluation) and list(ev) == MULTI_KEYS
    assert ev["problem_type"] == "multi_label" and ev["n"] == 4
    # toxic: tp 2 fp 1 fn 0; insult: perfect; threat: tp 1 fp 1 fn 1
    assert ev["per_class"] == {
        "toxic": {"precision": pytest.approx(2 / 3), "recall": 1.0, "f1": pytest.approx(0.8),
                  "support": 2},
        "insult": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2},
        "threat": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2},
    }  # fmt: skip
    assert ev["micro_precision"] == pytest.approx(5 / 7)
    assert ev["micro_recall"] == pytest.approx(5 / 6)
    assert ev["micro_f1"] == pytest.approx(10 / 13)
    assert ev["macro_f1"] == pytest.approx((0.8 + 1 + 0.5) / 3)
    assert ev["macro_precision"] == pytest.approx((2 / 3 + 1 + 0.5) / 3)
    assert ev["samples_f1"] == pytest.approx((1 + 2 / 3 * 3) / 4)
    assert ev["subset_accuracy"] == 0.25 and ev["hamming_loss"] == 0.25
    # AP: toxic and insult rank both positives first; threat ranks them 1st and 3rd
    assert ev["mean_average_precision"] == pytest.approx((1 + 1 + (1 + 2 / 3) / 2) / 3)
    x, y = LOGITS.double().numpy(), np.array(TRUE, dtype=float)
    bce = np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))
    assert ev["loss"] == pytest.approx(bce.mean(), rel=1e-6)
    assert ev["thresholds"] == [0.5, 0.5, 0.5] and ev["label_names"] == NAMES


def test_two_labels_both_true_are_both_predicted_sigmoid_not_softmax():
    logits = torch.tensor([[3.0, 3.0, -3.0]])
    probs = MULTI.scores(logits)
    assert probs[0, 0] > 0.9 and probs[0, 1] > 0.9 and probs[0, 2] < 0.1
    ev = evaluation_for(MULTI, logits, [[1, 1, 0]])
    assert ev["micro_f1"] == 1.0 and ev["subset_accuracy"] == 1.0 and ev["hamming_loss"] == 0.0
    assert ev["per_class"]["0"]["recall"] == 1.0 and ev["per_class"]["1"]["recall"] == 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_multi_label_metrics_agree_with_scikit_learn(seed):
    from sklearn import metrics as skm

    gen = np.random.default_rng(seed)
    logits = gen.normal(size=(40, 5))
    y = (gen.random((40, 5)) < 0.4).astype(int)
    logits[:, 4], y[:, 4] = -5.0, 0  # a label never true nor predicted
    problem = Problem("multi_label", thresholds=(0.4, 0.5, 0.6, 0.5, 0.5))
    ev = evaluation_for(problem, logits, y)
    p = (1 / (1 + np.exp(-logits)) >= np.array([0.4, 0.5, 0.6, 0.5, 0.5])).astype(int)
    assert ev["micro_f1"] == pytest.approx(skm.f1_score(y, p, average="micro"))
    assert ev["samples_f1"] == pytest.approx(skm.f1_score(y, p, average="samples", zero_division=1))
    assert ev["subset_accuracy"] == pytest.approx(skm.accuracy_score(y, p))
    assert ev["hamming_loss"] == pytest.approx(skm.hamming_loss(y, p))
    assert ev["micro_precision"] == pytest.approx(skm.precision_score(y, p, average="micro"))
    assert ev["micro_recall"] == pytest.approx(skm.recall_score(y, p, average="micro"))
    # macro over the labels that occur: label 4 (never true nor predicted) is left out
    present = [0, 1, 2, 3]
    want = skm.f1_score(y, p, labels=present, average="macro", zero_division=0)
    assert ev["macro_f1"] == pytest.approx(want)
    assert ev["macro_f1"] > skm.f1_score(y, p, average="macro", zero_division=0)
    aps = [skm.average_precision_score(y[:, j], logits[:, j]) for j in present]
    assert ev["mean_average_precision"] == pytest.approx(np.mean(aps))
    assert ev["per_class"]["4"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert ev["thresholds"] == [0.4, 0.5, 0.6, 0.5, 0.5]


def test_inputs_as_tensors_arrays_or_lists_give_the_same_numbers():
    a = evaluation_for(MULTI, LOGITS, torch.tensor(TRUE).float(), NAMES)
    b = evaluation_for(MULTI, LOGITS.numpy(), np.array(TRUE), NAMES)
    c = evaluation_for(MULTI, LOGITS.tolist(), TRUE, tuple(NAMES))
    assert a == b == c


def test_a_text_with_no_label_predicted_none_counts_as_right_in_samples_f1():
    ev = evaluation_for(MULTI, [[-3.0, -3.0], [3.0, -3.0]], [[0, 0], [1, 0]])
    assert ev["samples_f1"] == 1.0 and ev["subset_accuracy"] == 1.0
    assert ev["macro_f1"] == 1.0  # label 1 never occurs: left out, not counted 0
    nothing = evaluation_for(MULTI, [[-3.0, -3.0]], [[0, 0]])
    assert nothing["macro_f1"] == 0.0 and nothing["mean_average_precision"] == 0.0


def test_multi_label_bad_inputs_name_the_problem():
    with pytest.raises(InputError, match=r"multi-hot \[4, 3\].*got shape \(4,\)"):
        evaluation_for(MULTI, LOGITS, [0, 1, 2, 2])
    with pytest.raises(InputError, match=r"must be 0 or 1, got values \[2.0\]"):
        evaluation_for(MULTI, LOGITS, [[2, 0, 0]] * 4)
    with pytest.raises(InputError, match="2 label names"):
        evaluation_for(MULTI, LOGITS, TRUE, ["a", "b"])
    with pytest.raises(InputError, match="no texts to evaluate"):
        evaluation_for(MULTI, torch.zeros(0, 3), torch.zeros(0, 3))
    with pytest.raises(InputError, match=r"2 thresholds for 3 labels"):
        evaluation_for(Problem("multi_label", thresholds=(0.4, 0.6)), LOGITS, TRUE)


def test_multi_label_prints_figures_then_a_per_label_table_with_thresholds():
    problem = Problem("multi_label", thresholds=(0.5, 0.6, 0.35))
    text = str(evaluation_for(problem, LOGITS, TRUE, NAMES))
    lines = text.splitlines()
    assert lines[:7] == [
        "loss: 0.399",
        "micro-F1: 0.769",
        "macro-F1: 0.767",
        "samples-F1: 0.75",
        "subset accuracy: 25%",
        "Hamming loss: 0.25",
        "mAP: 0.944",
    ]
    assert lines[7:] == [
        "",
        "           precision    recall  f1-score   support  threshold",
        "",
        "    toxic      0.667     1.000     0.800         2      0.500",
        "   insult      1.000     1.000     1.000         2      0.600",
        "   threat      0.500     0.500     0.500         2      0.350",
        "",
        "micro avg      0.714     0.833     0.769         6",
        "macro avg      0.722     0.833     0.767         6",
    ]
    assert repr(evaluation_for(problem, LOGITS, TRUE, NAMES)) == text


def test_multi_label_output_is_plain_json():
    ev = evaluation_for(MULTI, LOGITS, TRUE, NAMES)
    assert _plain(dict(ev)) and json.loads(json.dumps(ev)) == ev
    assert set(ev) <= set(METRIC_LABELS)


# -- regression ---------------------------------------------------------------------------
def test_regression_metrics_in_data_units_by_hand():
    # target_scale (2.0, 0.5) undone: values 2.0, 2.5, 1.5, 2.25
    problem = Problem("regression", target_scale=(2.0, 0.5))
    logits = torch.tensor([[0.0], [1.0], [-1.0], [0.5]])
    ev = evaluation_for(problem, logits, [2.0, 2.0, 1.5, 3.25], ["score"])
    assert list(ev) == REGRESSION_KEYS and ev["problem_type"] == "regression"
    assert ev["mse"] == pytest.approx((0.25 + 1.0) / 4) and ev["loss"] == ev["mse"]
    assert ev["mae"] == pytest.approx((0.5 + 1.0) / 4)
    assert ev["rmse"] == pytest.approx(np.sqrt(1.25 / 4))
    assert ev["n"] == 4 and ev["label_names"] == ["score"]
    assert _plain(dict(ev)) and json.loads(json.dumps(ev)) == ev
    assert set(ev) <= set(METRIC_LABELS)


@pytest.mark.parametrize("seed", [0, 1])
def test_regression_metrics_agree_with_scipy_and_scikit_learn(seed):
    from scipy import stats
    from sklearn import metrics as skm

    gen = np.random.default_rng(seed)
    target = gen.normal(3.0, 2.0, size=50)
    logits = ((target - 3.0) / 2.0 + gen.normal(0, 0.5, size=50)).astype(np.float32)
    problem = Problem("regression", target_scale=(3.0, 2.0))
    values = logits.astype(np.float64) * 2.0 + 3.0
    ev = evaluation_for(problem, logits[:, None], target)
    assert ev["mse"] == pytest.approx(skm.mean_squared_error(target, values))
    assert ev["mae"] == pytest.approx(skm.mean_absolute_error(target, values))
    assert ev["r2"] == pytest.approx(skm.r2_score(target, values))
    assert ev["pearson"] == pytest.approx(stats.pearsonr(values, target)[0])
    assert ev["spearman"] == pytest.approx(stats.spearmanr(values, target)[0])
    # a 1-D logit vector and tensors read the same
    again = evaluation_for(problem, torch.from_numpy(logits), torch.from_numpy(target))
    assert again == ev


def test_constant_input_gives_zero_correlations_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flat = evaluation_for(Problem("regression"), [[1.0]] * 3, [0.0, 1.0, 2.0])
        one = evaluation_for(Problem("regression"), [[1.0]], [0.5])
        same_target = evaluation_for(Problem("regression"), [[0.0], [1.0]], [2.0, 2.0])
    assert flat["pearson"] == flat["spearman"] == 0.0 and flat["mse"] == pytest.approx(2 / 3)
    assert one["r2"] == one["pearson"] == one["spearman"] == 0.0 and one["mae"] == 0.5
    assert same_target["pearson"] == 0.0


def test_regression_bad_inputs_name_the_problem():
    with pytest.raises(InputError, match=r"\[texts, 1\].*\(2, 2\)"):
        evaluation_for(Problem("regression"), [[1.0, 2.0], [3.0, 4.0]], [1.0, 2.0])
    with pytest.raises(InputError, match="3 regression targets for 2 predictions"):
        evaluation_for(Problem("regression"), [[1.0], [2.0]], [1.0, 2.0, 3.0])
    with pytest.raises(InputError, match="rectangular"):
        evaluation_for(Problem("regression"), [[1.0], [2.0]], ["a", "b"])


def test_regression_prints_one_figure_a_line():
    ev = evaluation_for(Problem("regression"), [[1.0], [2.0], [2.5]], [1.0, 2.5, 2.0])
    assert str(ev).splitlines() == [
        "loss: 0.167",
        "MSE: 0.167",
        "MAE: 0.333",
        "RMSE: 0.408",
        "R^2: 0.571",
        "Pearson r: 0.786",
        "Spearman rho: 0.5",
    ]
    tiny = Evaluation(problem_type="regression", loss=2e-5, mse=2e-5, mae=0.004)
    assert str(tiny).splitlines()[:3] == ["loss: 2e-05", "MSE: 2e-05", "MAE: 0.004"]


# -- single-label -------------------------------------------------------------------------
def test_single_label_is_evaluation_from_logits_unchanged():
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 2.0]])
    labels = torch.tensor([0, 1, 1, 1])
    ev = evaluation_for(Problem(), logits, labels, ["neg", "pos"])
    want = evaluation_from_logits(logits, labels, ["neg", "pos"])
    assert ev == want and str(ev) == str(want) and "problem_type" not in ev
