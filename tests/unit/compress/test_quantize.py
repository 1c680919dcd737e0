"""QAT fake-quant (int8 grid, STE, frozen observers), conversion and post-training int8."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from phalanx.compress.quantize import (
    DynamicActivationFakeQuant,
    QATEmbedding,
    QATLinear,
    convert_qat,
    freeze_observers,
    prepare_qat,
    quantize_dynamic_int8,
)
from tests.helpers import tiny_config


def _bert():
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_config(tiny_config("bert")).eval()


def _ids() -> torch.Tensor:
    return torch.randint(5, 128, (4, 9), generator=torch.Generator().manual_seed(1))


def _grid(w: torch.Tensor) -> torch.Tensor:
    """Symmetric per-row int8 rounding by hand: scale = row absmax / 127."""
    scale = w.abs().amax(dim=1, keepdim=True) / 127
    return (w / scale).round().clamp(-127, 127) * scale


def _linear_model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 24), nn.GELU(), nn.Linear(24, 3))


def test_fake_quant_weights_are_the_int8_grid_rounding():
    model = prepare_qat(_linear_model())
    layer = model[0]
    x = torch.randn(5, 16)

    out = layer(x)

    assert isinstance(layer, QATLinear)
    expected_w = _grid(layer.weight.detach())
    torch.testing.assert_close(layer.weight_fake_quant(layer.weight), expected_w)
    torch.testing.assert_close(out, x @ expected_w.t() + layer.bias)
    # rounding really happened: the float weights are not on the grid
    assert not torch.equal(layer.weight.detach(), expected_w)


def test_gradients_pass_straight_through_the_rounding():
    model = prepare_qat(_linear_model())
    layer = model[0]
    x = torch.randn(5, 16, requires_grad=True)

    layer(x).sum().backward()

    # d(sum(x Wq^T + b))/dW = 1^T x for every row: the rounding is invisible to gradients
    torch.testing.assert_close(layer.weight.grad, x.detach().sum(0).expand(24, 16))
    torch.testing.assert_close(layer.bias.grad, torch.full((24,), 5.0))
    wq = _grid(layer.weight.detach())
    torch.testing.assert_close(x.grad, wq.sum(0).expand(5, 16))


def test_frozen_observers_stop_changing_scales():
    model = prepare_qat(_linear_model())
    layer = model[0]
    x = torch.randn(5, 16)
    model(x)
    first = layer.weight_fake_quant.scale.clone()
    with torch.no_grad():
        layer.weight.mul_(2)
    model(x)
    assert torch.allclose(layer.weight_fake_quant.scale, first * 2)  # still following

    freeze_observers(model)
    frozen = layer.weight_fake_quant.scale.clone()
    with torch.no_grad():
        layer.weight.mul_(0.5)
    model(x)

    assert torch.equal(layer.weight_fake_quant.scale, frozen)


def test_convert_puts_weights_on_the_int8_grid_and_keeps_the_logits():
    model = _bert()
    prepare_qat(model, exclude_module_types=["LayerNorm", "Tanh"], quantize_embeddings=True)
    # a few training steps: weights move, scales follow, then freeze as the recipe does
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(2):
        model(input_ids=_ids(), labels=torch.tensor([0, 1, 0, 1])).loss.backward()
        opt.step()
        opt.zero_grad()
    freeze_observers(model)
    model.eval()
    with torch.no_grad():
        qat_logits = model(input_ids=_ids()).logits
    scales = {
        n: m.weight_fake_quant.scale.clone()
        for n, m in model.named_modules()
        if hasattr(m, "weight_fake_quant")
    }

    convert_qat(model)

    assert not any(isinstance(m, QATLinear | QATEmbedding) for m in model.modules())
    assert not any("fake_quant" in k for k in model.state_dict())
    for name, scale in scales.items():
        steps = model.get_submodule(name).weight.detach() / scale[:, None]
        torch.testing.assert_close(steps, steps.round(), atol=1e-4, rtol=0)
        assert steps.abs().max() <= 127 + 1e-4
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=_ids()).logits, qat_logits, atol=1e-6, rtol=0)
    assert len(scales) == 2 * 6 + 2 + 3  # 6 Linear per layer, pooler, classifier, 3 embeddings


@pytest.mark.parametrize("per_channel", [True, False])
def test_ort_dynamic_int8_reproduces_the_converted_weights(tmp_path, per_channel):
    onnx = pytest.importorskip("onnx")
    quantization = pytest.importorskip("onnxruntime.quantization")
    from onnx import numpy_helper

    model = prepare_qat(_linear_model(), per_channel=per_channel)
    model(torch.randn(3, 16))
    convert_qat(model)
    torch.onnx.export(model, (torch.randn(2, 16),), tmp_path / "m.onnx", dynamo=False)
    quantization.quantize_dynamic(
        tmp_path / "m.onnx",
        tmp_path / "q.onnx",
        per_channel=per_channel,
        weight_type=quantization.QuantType.QInt8,
    )
    inits = {
        i.name: torch.from_numpy(numpy_helper.to_array(i).copy())
        for i in onnx.load(tmp_path / "q.onnx").graph.initializer
    }

    for idx in (0, 2):
        prefix = f"{idx}.weight_Transposed"
        q = inits[f"{prefix}_quantized"].float()
        assert inits[f"{prefix}_zero_point"].eq(0).all()
        assert inits[f"{prefix}_scale"].numel() == (model[idx].out_features if per_channel else 1)
        dequant = q * inits[f"{prefix}_scale"]
        torch.testing.assert_close(dequant.t(), model[idx].weight.detach(), atol=1e-7, rtol=1e-6)
    # and ORT runs it: only the activations' dynamic uint8 rounding differs from PyTorch
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(tmp_path / "q.onnx"), providers=["CPUExecutionProvider"])
    x = torch.randn(2, 16)  # the export's fixed input shape
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(got), model(x), atol=0.05, rtol=0.05)


def test_activation_fake_quant_matches_ort_dynamic_quantize_linear():
    x = torch.randn(6, 10) * 3 + 1
    fq = DynamicActivationFakeQuant()

    out = fq(x)

    lo, hi = min(x.min().item(), 0.0), max(x.max().item(), 0.0)
    scale = (hi - lo) / 255
    zp = round(-lo / scale)
    expected = ((x / scale).round() + zp).clamp(0, 255).sub(zp) * scale
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    assert out.unique().numel() <= 256


def test_activation_quantization_is_applied_inside_linears():
    model = prepare_qat(_linear_model(), quantize_activations=True)
    x = torch.randn(5, 16, requires_grad=True)
    layer = model[0]
    expected = DynamicActivationFakeQuant()(x) @ _grid(layer.weight.detach()).t() + layer.bias

    out = layer(x)

    torch.testing.assert_close(out, expected)
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_submodules_and_excluded_types_limit_what_is_quantized():
    model = _bert()
    prepare_qat(model, submodules=["classifier"])
    assert isinstance(model.classifier, QATLinear)
    assert type(model.bert.encoder.layer[0].intermediate.dense) is nn.Linear

    model = _bert()
    prepare_qat(model, exclude_module_types=[nn.Linear], quantize_embeddings=True)
    assert isinstance(model.bert.embeddings.word_embeddings, QATEmbedding)
    assert not any(isinstance(m, QATLinear) for m in model.modules())


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: prepare_qat(m, submodules=["bert.decoder"]), "submodule 'bert.decoder'"),
        (lambda m: prepare_qat(m, exclude_module_types=["Linear"]), "found no nn.Linear"),
        (freeze_observers, "call prepare_qat"),
        (convert_qat, "call prepare_qat first"),
        (lambda m: quantize_dynamic_int8(m, skip=["head"]), r"skip names \['head'\]"),
    ],
)
def test_misuse_raises_named_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call(_bert())


def test_quantize_dynamic_int8_is_close_to_float_and_skips_named_modules():
    model = _bert()
    ids = _ids()
    with torch.no_grad():
        dense = model(input_ids=ids).logits

    q = quantize_dynamic_int8(model, skip=["classifier"])

    quantized_type = type(q.bert.encoder.layer[0].intermediate.dense)
    assert quantized_type.__module__.startswith("torch.ao.nn.quantized.dynamic")
    assert type(q.classifier) is nn.Linear
    assert type(model.bert.encoder.layer[0].intermediate.dense) is nn.Linear  # a copy
    with torch.no_grad():
        quantized = q(input_ids=ids).logits
    torch.testing.assert_close(quantized, dense, atol=0.02, rtol=0.0)
    assert not torch.equal(quantized, dense)


def test_quantize_dynamic_int8_keeps_converted_qat_weights_exactly():
    model = prepare_qat(_linear_model())
    model(torch.randn(3, 16))
    convert_qat(model)

    q = quantize_dynamic_int8(model)

    for idx in (0, 2):
        weight = q[idx].weight()
        assert weight.int_repr().abs().max() == 127
        torch.testing.assert_close(weight.dequantize(), model[idx].weight.detach(), atol=0, rtol=0)
