"""Multi-label and regression on the real all-MiniLM-L6-v2 and real data subsets.

Regression: rotten_tomatoes_scores (the sentences' mean human ratings, -4..+4); multi-label:
pubmed_mesh (MeSH descriptors; skipped when not downloaded: it is not in the default set).
A few SpaRTA steps each, then what a user relies on: values in the data's units, per-label
sigmoids, and an ONNX export (fp32 and int8) that gives the same records.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="pip install 'phalanx[export]'")

pytestmark = pytest.mark.integration


def _train(tmp_path, dataset, **kw):
    from phalanx.training import TrainConfig, train

    cfg = TrainConfig(
        dataset=dataset, limit=96, max_steps=6, eval_steps=6, batch_size=16, max_length=64,
        output=str(tmp_path / "run"), progress=False, **kw,
    )  # fmt: skip
    return train(cfg)


def test_regression_on_real_ratings_trains_exports_and_keeps_units(tmp_path):
    from phalanx import load_classifier
    from phalanx.data import load_data
    from phalanx.export import Pipeline, export_onnx

    pytest.importorskip("scipy")
    result = _train(tmp_path, "rotten_tomatoes_scores")
    assert result.problem.type == "regression" and result.problem.target_scale is not None
    mean, std = result.problem.target_scale
    assert abs(mean) < 0.5 and 1.5 < std < 2.5  # the ratings' own scale, -4..+4
    assert {"mse", "mae", "pearson", "spearman"} <= set(result.test)
    texts = load_data("rotten_tomatoes_scores", limit=16).test.texts
    clf = load_classifier(result.adapter_path)
    values = clf.classify(texts)[:, 0].numpy()
    for quantize in (None, "int8"):
        export = export_onnx(result.adapter_path, tmp_path / f"onnx-{quantize}", quantize=quantize)
        records = Pipeline.create(model_path=str(export))(texts)
        got = np.array([r["value"] for r in records])
        tol = 1e-3 if quantize is None else 0.25 * std
        np.testing.assert_allclose(got, values, atol=tol)


def test_multi_label_on_real_mesh_abstracts(tmp_path):
    from phalanx import load_classifier
    from phalanx.assets import dataset_files

    try:
        dataset_files("pubmed_mesh")
    except FileNotFoundError:
        pytest.skip("pubmed_mesh is not downloaded: phalanx assets download pubmed_mesh")
    result = _train(tmp_path, "pubmed_mesh", pos_weight="auto")
    assert result.problem.type == "multi_label" and len(result.problem.thresholds) == 1
    clf = load_classifier(result.adapter_path)
    assert len(clf.labels) == 50
    probs = clf.classify(["Effects of insulin on glucose uptake in rat muscle."])
    assert ((probs > 0) & (probs < 1)).all() and abs(float(probs.sum()) - 1.0) > 1e-3
    assert {"micro_f1", "mean_average_precision", "hamming_loss"} <= set(result.test)
