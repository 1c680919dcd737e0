"""ONNX export of a SpaRTA adapter on the real all-MiniLM-L6-v2, real rotten_tomatoes text."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="pip install 'phalanx[export]'")

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def minilm_export(tmp_path_factory):
    """A SpaRTA adapter with moved deltas and head on MiniLM, and its fp32 export."""
    from phalanx import SpaRTAMethodConfig, get_sparta_model, save_sparta_adapter
    from phalanx.export import export_onnx
    from phalanx.models.loading import load_base_classifier

    root = tmp_path_factory.mktemp("minilm-export")
    model = load_base_classifier("minilm-l6", {0: "negative", 1: "positive"})
    sparta = get_sparta_model(model, SpaRTAMethodConfig(density=0.01, seed=0))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in sparta.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn(p.shape, generator=gen))
    sparta.merge()
    save_sparta_adapter(sparta, root / "adapter", base_model="minilm-l6", meta={"max_length": 128})
    return root / "adapter", export_onnx(root / "adapter", root / "onnx")


def test_minilm_onnx_matches_pytorch_and_the_pipeline_the_api(minilm_export):
    from phalanx import load_classifier
    from phalanx.data import load_data
    from phalanx.export import Pipeline

    adapter, export = minilm_export
    texts = [*load_data("rotten_tomatoes", limit=48).test.texts, "", "good " * 400]
    clf = load_classifier(adapter)
    pipe = Pipeline.create("text-classification", model_path=export, batch_size=16)
    np.testing.assert_allclose(pipe.logits(texts), clf.logits(texts).numpy(), atol=1e-4)
    want = clf.classify(texts).numpy()
    got = pipe(texts)
    assert [r["label"] for r in got] == clf.decide_class(texts)
    np.testing.assert_allclose([r["score"] for r in got], want.max(1), atol=1e-3)


def test_minilm_int8_agrees_with_fp32(minilm_export, tmp_path):
    from phalanx.data import load_data
    from phalanx.export import Pipeline, quantize_export

    _, export = minilm_export
    int8 = quantize_export(export, tmp_path / "int8")
    texts = load_data("rotten_tomatoes", limit=200).test.texts
    fp32_probs = Pipeline.create(model_path=export).classify(texts)
    int8_probs = Pipeline.create(model_path=int8).classify(texts)
    size = {f: (f / "model.onnx").stat().st_size for f in (export, int8)}
    assert size[int8] < 0.75 * size[export]  # encoder weights int8; embeddings stay fp32
    # a random head sits near 0.5 for many sentences, so compare probabilities, not argmax
    assert np.abs(int8_probs - fp32_probs).max() < 0.1
