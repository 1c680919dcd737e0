"""Prediction records of multi-label and regression models (issue 20): the builder, the flat
form and its read-back through CSV, ``top_k``, and ``predict_records`` on adapter folders."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from phalanx import load_classifier
from phalanx.errors import InputError
from phalanx.inference.records import (
    check_top_k,
    flat_columns,
    flat_record,
    prediction_records,
    ranked,
    record_from_flat,
)
from phalanx.problems import Problem
from tests.helpers import SENTENCES

LABELS = ["bug", "billing", "very urgent.now"]  # a space and a dot: flat names still read back
MULTI = Problem("multi_label", thresholds=(0.5,))
REGRESSION = Problem("regression", target_scale=(3.0, 2.0))


# -- multi-label -----------------------------------------------------------------------------
def test_a_multi_label_record_lists_the_labels_at_their_thresholds_in_label_order():
    probs = [[0.9, 0.95, 0.1], [0.2, 0.3, 0.4], [0.5, 0.0, 0.5]]
    got = prediction_records(np.array(probs, dtype=np.float32), LABELS, problem=MULTI)
    assert [r["labels"] for r in got] == [["bug", "billing"], [], ["bug", "very urgent.now"]]
    assert all(set(r) == {"labels", "probabilities"} for r in got)
    assert list(got[0]["probabilities"]) == LABELS
    assert all(type(v) is float for r in got for v in r["probabilities"].values())
    # not a softmax: the probabilities are each label's own (they sum past 1)
    assert sum(got[0]["probabilities"].values()) == pytest.approx(1.95, abs=1e-6)
    per_label = Problem("multi_label", thresholds=(0.95, 0.2, 0.45))
    (r,) = prediction_records(torch.tensor([probs[0]]), LABELS, problem=per_label)
    assert r["labels"] == ["billing"]  # 0.9 < 0.95, 0.95 >= 0.2, 0.1 < 0.45
    assert prediction_records([[0.1] * 3], LABELS, problem=Problem("multi_label")) == [
        {"labels": [], "probabilities": dict.fromkeys(LABELS, 0.1)}
    ]  # no tuned thresholds: 0.5


def test_multi_label_decisions_are_taken_before_rounding():
    (r,) = prediction_records([[0.4999999, 0.5, 0.1]], LABELS, decimals=3, problem=MULTI)
    assert r["labels"] == ["billing"] and r["probabilities"]["bug"] == 0.5


# -- regression ------------------------------------------------------------------------------
def test_a_regression_record_is_the_value():
    got = prediction_records(np.array([[2.5], [-1.25]]), ["score"], problem=REGRESSION)
    assert got == [{"value": 2.5}, {"value": -1.25}]
    assert prediction_records([[1.23456789]], ["score"], 3, REGRESSION) == [{"value": 1.235}]
    with pytest.raises(ValueError, match="a regression record holds one value, got 2"):
        prediction_records([[1.0, 2.0]], ["a", "b"], problem=REGRESSION)
    with pytest.raises(ValueError, match="2 values for 1 labels"):
        prediction_records([[1.0, 2.0]], ["score"], problem=REGRESSION)


# -- the flat form -----------------------------------------------------------------------------
def test_flat_columns_per_problem_type():
    probs = [f"probabilities.{n}" for n in LABELS]
    assert flat_columns(LABELS) == ["label", "score", *probs]
    assert flat_columns(LABELS, MULTI) == ["labels", *probs]
    assert flat_columns(["score"], REGRESSION) == ["value"]


@pytest.mark.parametrize("kind", ["multi_label", "regression"])
def test_the_flat_form_reads_back_through_a_csv_file(tmp_path, kind):
    if kind == "multi_label":
        labels, problem = LABELS, MULTI
        records = prediction_records([[0.9, 0.8, 0.1], [0.1, 0.2, 0.3]], labels, problem=problem)
        assert flat_record(records[0])["labels"] == "bug|billing"
        assert flat_record(records[1])["labels"] == ""  # no label: an empty cell
    else:
        labels, problem = ["score"], REGRESSION
        records = prediction_records([[1e-7], [12345.678]], labels, problem=problem)
    flat = [flat_record(r) for r in records]
    assert list(flat[0]) == flat_columns(labels, problem)
    assert [record_from_flat(f) for f in flat] == records
    path = tmp_path / "p.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["text", *flat[0]])
        writer.writeheader()
        writer.writerows({"text": t, **r} for t, r in zip("ab", flat, strict=True))
    assert [record_from_flat(row) for row in csv.DictReader(path.open())] == records


def test_a_missing_labels_cell_reads_as_no_label_and_a_label_holding_the_separator_is_refused():
    assert record_from_flat({"labels": float("nan")})["labels"] == []  # pandas' empty cell
    assert record_from_flat({"labels": None})["labels"] == []
    assert record_from_flat({"labels": ["a", "b"]})["labels"] == ["a", "b"]  # parquet lists
    (r,) = prediction_records([[0.9, 0.9]], ["a|b", "c"], problem=MULTI)
    with pytest.raises(InputError, match=r"label 'a\|b' holds '\|'.*JSON or JSONL"):
        flat_record(r)


# -- top_k -----------------------------------------------------------------------------------
def test_top_k_ranks_multi_label_probabilities_and_refuses_regression():
    (r,) = prediction_records([[0.6, 0.9, 0.1]], LABELS, problem=MULTI)
    assert ranked(r) == [
        {"label": "billing", "score": 0.9},
        {"label": "bug", "score": 0.6},
        {"label": "very urgent.now", "score": 0.1},
    ]
    assert ranked(r, 1) == [{"label": "billing", "score": 0.9}]
    (v,) = prediction_records([[1.0]], ["score"], problem=REGRESSION)
    for top_k in (None, 1, 3):
        with pytest.raises(InputError, match=r"regression model.*drop top_k"):
            ranked(v, top_k)
        with pytest.raises(InputError, match=r"regression model.*drop top_k"):
            check_top_k(top_k, REGRESSION)
    check_top_k(None, MULTI)
    with pytest.raises(InputError, match="top_k must be an int >= 1 or None"):
        check_top_k(0, MULTI)


# -- adapter folders -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def adapters(tiny_base, tmp_path_factory):
    from tests.unit.export.problem_folders import multi_label_adapter, regression_adapter

    root = tmp_path_factory.mktemp("records-problems")
    base = tiny_base("bert")
    return {
        "multi_label": multi_label_adapter(base, root / "multi"),
        "regression": regression_adapter(base, root / "regression"),
    }


def test_predict_records_of_a_multi_label_and_a_regression_adapter(adapters):
    multi = load_classifier(adapters["multi_label"])
    records = multi.predict_records(SENTENCES[:3])
    assert [r["labels"] for r in records] == [["praise", "complaint"]] * 3
    assert all(sum(r["probabilities"].values()) > 1.5 for r in records)
    assert prediction_records(multi.classify(SENTENCES[:3]), multi.labels, problem=multi.problem)
    reg = load_classifier(adapters["regression"])
    values = reg.classify(SENTENCES[:3])
    assert values.shape == (3, 1)
    assert [r["value"] for r in reg.predict_records(SENTENCES[:3])] == pytest.approx(
        values[:, 0].tolist()
    )
