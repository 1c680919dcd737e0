"""int8-token: per-token activation scales with fp32 outlier channels."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from phalanx.export import Pipeline, export_onnx, quantize_export, read_export_meta
from phalanx.export.pertoken import quantizable_inputs, quantize_per_token, synthetic_texts
from tests.helpers import SENTENCES

TEXTS = [*SENTENCES, "", "a short one", " ".join(["long and winding but fine"] * 30)]


def _logits(folder, texts=TEXTS, batch_size=3):
    return Pipeline.create(model_path=folder, batch_size=batch_size).logits(texts)


@pytest.mark.parametrize("arch", ["bert", "llama"])
def test_token_int8_is_closer_to_fp32_than_dynamic_int8(adapter_and_export, tmp_path, arch):
    _, fp32 = adapter_and_export(arch, "sparta")
    token = quantize_export(fp32, tmp_path / "token", "int8-token", calibration_texts=SENTENCES)
    dynamic = quantize_export(fp32, tmp_path / "dynamic", "int8-dynamic")
    assert read_export_meta(token)["quantization"] == "int8-token"
    want = _logits(fp32)
    err_token = np.abs(_logits(token) - want).mean()
    err_dynamic = np.abs(_logits(dynamic) - want).mean()
    assert err_token < err_dynamic  # the point of the mode
    assert err_token < 0.05
    # no fp32 product of a weight matrix is left except the thin outlier side products
    model = onnx.load(str(token / "model.onnx"))
    dims = {i.name: list(i.dims) for i in model.graph.initializer}
    left = [n.input[1] for nodes in quantizable_inputs(model).values() for n in nodes]
    assert left and all(dims[w][0] <= 4 + 1 for w in left)  # 4 outlier channels + bias row
    graph = model.graph
    assert sum(n.op_type == "MatMulInteger" for n in graph.node) >= 4
    # GELU outputs (never below -0.17) are shifted onto the full uint8 range; SiLU products
    # (Llama's MLP) take any sign and stay symmetric
    shifted = [i.name for i in graph.initializer if i.name.endswith("_shift")]
    assert (len(shifted) > 0) == (arch == "bert")


def test_a_token_depends_only_on_its_own_sentence(adapter_and_export, tmp_path):
    # dynamic int8 shares one range across the batch, so batch-mates change a prediction;
    # per-token scales do not (up to float summation order)
    _, fp32 = adapter_and_export("bert", "sparta")
    token = quantize_export(fp32, tmp_path / "token", "int8-token")
    alone = _logits(token, TEXTS, batch_size=1)
    together = _logits(token, TEXTS, batch_size=len(TEXTS))
    np.testing.assert_allclose(alone, together, atol=1e-4)


def test_opset_18_and_no_outlier_channels(adapter_and_export, tmp_path):
    adapter, _ = adapter_and_export("bert", "lora")
    out = export_onnx(adapter, tmp_path / "o18", opset=18, quantize="int8-token")
    assert read_export_meta(out)["opset"] == 18
    want = _logits(export_onnx(adapter, tmp_path / "fp32", opset=18))
    assert np.abs(_logits(out) - want).max() < 0.1
    # outliers=0: plain per-token int8, every quantized input without a side product
    model = tmp_path / "fp32" / "model.onnx"
    plain = tmp_path / "plain.onnx"
    plain.write_bytes(model.read_bytes())
    assert quantize_per_token(plain, [], outliers=0) > 0
    ops = [n.op_type for n in onnx.load(str(plain)).graph.node]
    before = [n.op_type for n in onnx.load(str(model)).graph.node]
    assert ops.count("Gather") == before.count("Gather")  # no outlier gathers added
    assert "MatMulInteger" in ops and "Concat" not in set(ops) - set(before)
    with pytest.raises(ValueError, match="outliers must be >= 0"):
        quantize_per_token(model, [], outliers=-1)


def test_a_graph_without_weight_matrices_is_refused(tmp_path):
    from onnx import TensorProto
    from onnx import helper as oh

    x = oh.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = oh.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    model = oh.make_model(oh.make_graph([oh.make_node("Relu", ["x"], ["y"])], "g", [x], [y]))
    onnx.save(model, str(tmp_path / "m.onnx"))
    with pytest.raises(ValueError, match="no MatMul with a weight matrix"):
        quantize_per_token(tmp_path / "m.onnx", [])


def test_synthetic_calibration_texts_are_seeded_words(tiny_base):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_base("bert")))
    texts = synthetic_texts(tok, n=5)
    assert texts == synthetic_texts(tok, n=5) and len(set(texts)) == 5
    assert all(t.strip() for t in texts)
