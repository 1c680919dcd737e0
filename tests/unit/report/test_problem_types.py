"""Reports of multi-label and regression models: the sections that apply to them (per-label
table with thresholds and curves; predicted-vs-true and residuals), the ones that do not
left out with a note, and figures that agree with ``clf.evaluate``."""

from __future__ import annotations

import json

import numpy as np
import pytest

import phalanx
from phalanx import load_classifier
from phalanx.inference.files import evaluation_data
from tests.unit.report.test_report import decode_png

pytestmark = pytest.mark.usefixtures("one_thread")


def _own_test_split(run):
    clf = load_classifier(run)
    source = clf.meta["dataset"]["source"]
    return clf, evaluation_data(clf, source, split="test")


def test_a_multi_label_report(multi_run, tmp_path):
    rep = phalanx.report(multi_run, output=tmp_path / "rep")
    content = json.loads(rep.json.read_text())
    assert content["problem_type"] == "multi_label"
    assert content["sections"] == ["summary", "per-class", "curves", "training", "examples"]
    assert set(content["figures"]) == {"pr_curves", "roc_curves", "training_curves"}
    assert not (rep.folder / "confusion_matrix.png").exists()
    assert not (rep.folder / "reliability.png").exists()
    assert any("no confusion matrix and no reliability diagram" in n for n in content["notes"])
    for png in rep.folder.glob("*.png"):
        decode_png(png)

    clf, data = _own_test_split(multi_run)
    ev = clf.evaluate(data.texts, data.labels)
    assert content["metrics"]["micro_f1"] == pytest.approx(ev["micro_f1"])
    assert content["metrics"]["mean_average_precision"] == pytest.approx(
        ev["mean_average_precision"]
    )
    rows = content["per_class"]["rows"]
    assert list(rows) == clf.labels == ["complaint", "craft", "praise"]
    for j, label in enumerate(clf.labels):
        assert rows[label]["f1"] == pytest.approx(ev["per_class"][label]["f1"])
        assert rows[label]["threshold"] == pytest.approx(ev["thresholds"][j])
    assert set(content["per_class"]["averages"]) == {"micro", "macro"}
    assert content["history"]["metric"] == "micro_f1"
    page = rep.html.read_text()
    assert "<th>threshold</th>" in page and 'id="confusion-matrix"' not in page


def test_a_regression_report(regression_run, tmp_path):
    rep = phalanx.report(regression_run, output=tmp_path / "rep")
    content = json.loads(rep.json.read_text())
    assert content["problem_type"] == "regression"
    assert content["sections"] == ["summary", "regression", "training", "examples"]
    assert set(content["figures"]) == {"predicted_vs_true", "residuals", "training_curves"}
    for png in rep.folder.glob("*.png"):
        decode_png(png)
    assert any("predicts a number" in n for n in content["notes"])

    clf, data = _own_test_split(regression_run)
    ev = clf.evaluate(data.texts, data.labels)
    for key in ("mse", "mae", "pearson", "spearman"):
        assert content["metrics"][key] == pytest.approx(ev[key])
    values = clf.classify(data.texts)[:, 0].double().numpy()
    err = values - np.asarray(data.labels)
    assert content["regression"]["residual_mean"] == pytest.approx(err.mean(), abs=1e-6)
    largest = content["examples"]["largest_errors"]
    assert [abs(r["score"]) for r in largest] == sorted((abs(e) for e in err), reverse=True)[:10]
    assert content["history"]["metric"] == "mse"
