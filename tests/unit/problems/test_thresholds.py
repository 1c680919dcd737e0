"""Threshold tuning for multi-label models: known optima, per-label fallback, ties, speed,
and the thresholds setting as configs and the command line give it."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from phalanx.errors import InputError
from phalanx.problems import Problem
from phalanx.problems.metrics import evaluation_for
from phalanx.problems.thresholds import (
    DEFAULT_GRID,
    choose_thresholds,
    threshold_setting,
    tune_thresholds,
)


def test_default_grid_is_005_to_095_by_001():
    assert len(DEFAULT_GRID) == 91 and DEFAULT_GRID[0] == 0.05 and DEFAULT_GRID[-1] == 0.95
    assert DEFAULT_GRID[30] == 0.35 and all(0 < t < 1 for t in DEFAULT_GRID)


def test_global_threshold_is_the_known_micro_f1_optimum():
    # every true probability is in [0.62, 0.9], every false one in [0.1, 0.3] but one at
    # 0.7: micro-F1 is best for a threshold in (0.7, 0.62]... i.e. between 0.3 and 0.62,
    # where only the 0.7 negative is wrong; above 0.62 positives are lost
    probs = [[0.9, 0.1], [0.62, 0.3], [0.2, 0.7], [0.3, 0.8]]
    truth = [[1, 0], [1, 0], [0, 0], [0, 1]]
    (t,) = tune_thresholds(probs, truth)
    assert t == 0.5  # the best range (0.30, 0.62] holds 0.5
    (t,) = tune_thresholds(probs, truth, grid=[0.2, 0.4, 0.65, 0.75, 0.85])
    assert t == 0.4  # 0.75 drops the 0.7 negative but loses the 0.62 positive: a tie, 0.4 nearer


def test_tuned_threshold_maximises_micro_f1_against_a_brute_force():
    from sklearn.metrics import f1_score

    gen = np.random.default_rng(0)
    truth = (gen.random((300, 6)) < 0.3).astype(int)
    probs = np.clip(truth * 0.35 + gen.random((300, 6)) * 0.65, 0, 1)
    (t,) = tune_thresholds(probs, truth)
    scores = {g: f1_score(truth, (probs >= g).astype(int), average="micro") for g in DEFAULT_GRID}
    best = max(scores.values())
    assert scores[t] == pytest.approx(best)
    tied = [g for g, s in scores.items() if s == pytest.approx(best)]
    assert t == min(tied, key=lambda g: (round(abs(g - 0.5), 9), g))
    per_label = tune_thresholds(probs, truth, mode="per_label")
    for j, tj in enumerate(per_label):
        col = {g: f1_score(truth[:, j], probs[:, j] >= g) for g in DEFAULT_GRID}
        assert col[tj] == pytest.approx(max(col.values())), j


def test_per_label_thresholds_and_the_fallback_for_a_label_never_true():
    probs = np.array([[0.9, 0.3, 0.8], [0.6, 0.2, 0.9], [0.2, 0.4, 0.1]])
    truth = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 0]])
    assert tune_thresholds(probs[:, :2], truth[:, :2]) == (0.3,)
    assert tune_thresholds(probs[:, :2], truth[:, :2], mode="per_label") == (0.5, 0.3)
    # label 2 is never true: it takes the global threshold (tuned with all three labels)
    (g,) = tune_thresholds(probs, truth)
    assert tune_thresholds(probs, truth, mode="per-label") == (0.5, 0.3, g)
    assert all(type(t) is float for t in tune_thresholds(probs, truth, mode="per_label"))


def test_ties_go_to_the_threshold_nearest_half_then_the_lower():
    perfect = ([[0.99, 0.01], [0.01, 0.99]], [[1, 0], [0, 1]])
    assert tune_thresholds(*perfect) == (0.5,)
    assert tune_thresholds(*perfect, mode="per_label") == (0.5, 0.5)
    assert tune_thresholds(*perfect, grid=[0.55, 0.45, 0.9]) == (0.45,)
    assert tune_thresholds(*perfect, grid=[0.2, 0.7]) == (0.7,)
    # nothing true anywhere: every threshold scores 0, so 0.5
    assert tune_thresholds([[0.7, 0.2]], [[0, 0]], mode="per_label") == (0.5, 0.5)
    # the order of the texts never matters
    gen = np.random.default_rng(3)
    probs, truth = gen.random((50, 4)), (gen.random((50, 4)) < 0.5).astype(int)
    perm = gen.permutation(50)
    for mode in ("global", "per_label"):
        assert tune_thresholds(probs, truth, mode) == tune_thresholds(
            probs[perm], truth[perm], mode
        )


def test_a_probability_equal_to_a_threshold_counts_as_predicted():
    # as Problem.decide does (p >= t): 0.35 is predicted at 0.35, so 0.35 is the best
    assert tune_thresholds([[0.35], [0.3]], [[1], [0]], grid=[0.3, 0.35, 0.4]) == (0.35,)


def test_tuning_2000_texts_by_50_labels_takes_under_a_second():
    gen = np.random.default_rng(1)
    truth = (gen.random((2000, 50)) < 0.1).astype(np.float32)
    probs = torch.from_numpy(np.clip(truth * 0.3 + gen.random((2000, 50)) * 0.7, 0, 1)).float()
    start = time.perf_counter()
    (g,) = tune_thresholds(probs, truth)
    per_label = tune_thresholds(probs, torch.from_numpy(truth), mode="per_label")
    assert time.perf_counter() - start < 1.0
    assert len(per_label) == 50 and 0 < g < 1


def test_tuned_thresholds_go_into_a_problem_and_do_not_lower_validation_f1():
    gen = np.random.default_rng(2)
    truth = (gen.random((200, 5)) < 0.25).astype(int)
    logits = torch.from_numpy(truth * 1.5 - 2.0 + gen.normal(0, 1, (200, 5))).float()
    probs = Problem("multi_label").scores(logits)
    default = evaluation_for(Problem("multi_label"), logits, truth)
    for mode, key in (("global", "micro_f1"), ("per_label", "macro_f1")):
        tuned = Problem("multi_label", thresholds=tune_thresholds(probs, truth, mode))
        assert evaluation_for(tuned, logits, truth)[key] >= default[key]


def test_bad_inputs_name_the_value_and_the_fix():
    with pytest.raises(InputError, match=r"lie in \[0, 1\].*not the logits"):
        tune_thresholds([[2.5, -1.0]], [[1, 0]])
    with pytest.raises(InputError, match="same shape"):
        tune_thresholds([[0.5, 0.5]], [[1, 0, 1]])
    with pytest.raises(InputError, match="must be 0 or 1"):
        tune_thresholds([[0.5, 0.5]], [[1, 3]])
    with pytest.raises(InputError, match=r"grid \[0.0, 0.5\].*strictly between 0 and 1"):
        tune_thresholds([[0.5]], [[1]], grid=[0.0, 0.5])
    with pytest.raises(InputError, match="grid"):
        tune_thresholds([[0.5]], [[1]], grid=[])
    with pytest.raises(InputError, match="'best'"):
        tune_thresholds([[0.5]], [[1]], mode="best")
    with pytest.raises(InputError, match=r"not a tuning mode.*choose_thresholds"):
        tune_thresholds([[0.5]], [[1]], mode="0.4")


@pytest.mark.parametrize(
    ("value", "want"),
    [("global", "global"), (" GLOBAL ", "global"), ("per_label", "per_label"),
     ("per-label", "per_label"), ("0.4", 0.4), (".25", 0.25), (0.7, 0.7)],
)  # fmt: skip
def test_threshold_setting_reads_modes_and_numbers(value, want):
    assert threshold_setting(value) == want


@pytest.mark.parametrize("value", ["best", "1", "0", "1.5", "-0.2", "nan", "", 1, True, None])
def test_threshold_setting_refuses_anything_else_naming_it(value):
    with pytest.raises(InputError, match=r"thresholds .* is not a setting.*'global'.*'per_label'"):
        threshold_setting(value)


def test_choose_thresholds_fixed_or_tuned():
    probs, truth = [[0.9, 0.3], [0.6, 0.2], [0.2, 0.4]], [[1, 1], [1, 0], [0, 1]]
    assert choose_thresholds("0.4", probs, truth) == (0.4,)
    assert choose_thresholds(0.4, None, None) == (0.4,)  # nothing to tune: data unused
    assert choose_thresholds("global", probs, truth) == (0.3,)
    assert choose_thresholds("per-label", probs, truth) == (0.5, 0.3)
    assert Problem("multi_label", thresholds=choose_thresholds("per_label", probs, truth))
