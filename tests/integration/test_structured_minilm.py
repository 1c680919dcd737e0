"""Structured pruning and QAT on the real all-MiniLM-L6-v2 with real rotten_tomatoes text."""

from __future__ import annotations

import pytest
import torch

from phalanx import load_classifier
from phalanx.compress.quantize import convert_qat, prepare_qat
from phalanx.compress.structured import prune_structured, save_pruned, taylor_scores
from phalanx.models.loading import load_base_classifier, load_tokenizer

pytestmark = pytest.mark.integration

LABELS = {0: "negative", 1: "positive"}


@pytest.fixture(scope="module")
def real_data():
    from phalanx.data import load_data

    splits = load_data("rotten_tomatoes", limit=32)
    return splits.train, splits.test


def test_pruned_minilm_saves_loads_classifies_and_exports(tmp_path, real_data):
    train, test = real_data
    model = load_base_classifier("minilm-l6", LABELS).eval()
    tok = load_tokenizer("minilm-l6", model)
    batch = tok(train.texts[:16], padding=True, truncation=True, return_tensors="pt")
    scores = taylor_scores(model, [{**batch, "labels": torch.tensor(train.labels[:16])}])

    report = prune_structured(
        model, heads_fraction=1 / 3, ffn_fraction=0.5, importance="taylor", scores=scores
    )

    assert report["heads_per_layer"] == [8] * 6
    assert report["ffn_per_layer"] == [768] * 6
    layer = model.bert.encoder.layer[0]
    assert layer.attention.self.query.weight.shape == (256, 384)
    assert layer.output.dense.weight.shape == (384, 768)
    assert report["parameters_before"] == 22_713_986
    # per layer: 4 heads x 32 dims of q/k/v rows (+bias) and o columns, 768 neurons x 2 matrices
    removed = 6 * (3 * 128 * 385 + 384 * 128 + 768 * 385 + 384 * 768)
    assert report["parameters_after"] == 22_713_986 - removed
    folder = save_pruned(model, tok, tmp_path / "pruned", {"base_model": "minilm-l6"})
    clf = load_classifier(folder)
    enc = tok(test.texts, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        expected = model(**enc).logits.softmax(-1)
    torch.testing.assert_close(clf.classify(test.texts), expected, atol=1e-5, rtol=1e-4)

    export = pytest.importorskip("phalanx.export")
    out = export.export_onnx(folder, tmp_path / "onnx")  # checks ONNX/PyTorch parity itself
    pipe = export.Pipeline.create(model_path=str(out))
    got = torch.from_numpy(pipe.classify(test.texts))
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-3)


def test_qat_minilm_converts_to_int8_grid_weights_with_the_same_logits(real_data):
    train, _ = real_data
    model = load_base_classifier("minilm-l6", LABELS).eval()
    tok = load_tokenizer("minilm-l6", model)
    enc = tok(train.texts[:8], padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        dense = model(**enc).logits
    prepare_qat(model, submodules=["bert.encoder", "bert.pooler", "classifier"])
    with torch.no_grad():
        fake_quant = model(**enc).logits
    convert_qat(model)
    with torch.no_grad():
        converted = model(**enc).logits

    torch.testing.assert_close(converted, fake_quant, atol=1e-5, rtol=0)
    # int8 weights move the logits, but only a little
    assert 0 < (fake_quant - dense).abs().max() < 0.05
    w = model.bert.encoder.layer[3].intermediate.dense.weight.detach()
    steps = w / (w.abs().amax(dim=1, keepdim=True) / 127)
    torch.testing.assert_close(steps, steps.round(), atol=1e-3, rtol=0)
