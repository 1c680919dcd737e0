"""Quantization-aware training (int8 fake-quant of Linear weights) and post-training int8.

Weights are fake-quantized exactly as ONNX Runtime's dynamic int8 quantization stores them
(``quantize_dynamic(..., per_channel=True, weight_type=QInt8)``): symmetric, one scale per
output channel, integers in [-127, 127], scale = channel absmax / 127. Activations can be
fake-quantized like ORT's ``DynamicQuantizeLinear`` (uint8, asymmetric, range of the current
batch). So the exported int8 model computes what was trained.

Example:
    >>> model = prepare_qat(model, exclude_module_types=["LayerNorm"])  # doctest: +SKIP
    >>> ...  # train; at the recipe's observer epoch:
    >>> freeze_observers(model)  # doctest: +SKIP
    >>> model = convert_qat(model)  # plain nn.Linear, weights on the int8 grid  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

with warnings.catch_warnings():
    # torch.ao.quantization warns that it moves to torchao; its eager building blocks
    # (FakeQuantize, observers, nnqat.Linear) are what torch 2.x ships and what we need
    warnings.simplefilter("ignore", DeprecationWarning)
    import torch.ao.nn.qat as nnqat
    from torch.ao.quantization import (
        FakeQuantize,
        MovingAverageMinMaxObserver,
        MovingAveragePerChannelMinMaxObserver,
        PerChannelMinMaxObserver,
        QConfig,
        disable_observer,
        per_channel_dynamic_qconfig,
        quantize_dynamic,
    )

__all__ = [
    "DynamicActivationFakeQuant",
    "QATEmbedding",
    "QATLinear",
    "convert_qat",
    "freeze_observers",
    "int8_weight_fake_quant",
    "prepare_qat",
    "quantize_dynamic_int8",
]

QMIN, QMAX = -127, 127  # ORT's symmetric int8 range (it never uses -128 for weights)


def _symmetric_int8(observer: Any, qscheme: Any, **extra: Any) -> Any:
    # averaging_constant=1.0: the scale tracks the weight's present absmax (not its history),
    # which is what ORT computes when it quantizes the exported weights
    return FakeQuantize.with_args(
        observer=observer,
        averaging_constant=1.0,
        quant_min=QMIN,
        quant_max=QMAX,
        dtype=torch.qint8,
        qscheme=qscheme,
        **extra,
    )


_WEIGHT_FAKE_QUANT = _symmetric_int8(
    MovingAveragePerChannelMinMaxObserver, torch.per_channel_symmetric, ch_axis=0
)
_TENSOR_FAKE_QUANT = _symmetric_int8(MovingAverageMinMaxObserver, torch.per_tensor_symmetric)


def int8_weight_fake_quant(per_channel: bool = True) -> FakeQuantize:
    """Symmetric int8 fake-quant: scale = absmax / 127 per output channel (or per tensor)."""
    return _WEIGHT_FAKE_QUANT() if per_channel else _TENSOR_FAKE_QUANT()


_QCONFIGS = {
    True: QConfig(activation=nn.Identity, weight=_WEIGHT_FAKE_QUANT),
    False: QConfig(activation=nn.Identity, weight=_TENSOR_FAKE_QUANT),
}


class DynamicActivationFakeQuant(nn.Module):
    """uint8 fake-quant of a tensor with the range of that very tensor (ORT DynamicQuantizeLinear).

    The range always includes 0; gradients pass straight through inside the range.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lo = x.detach().min().clamp(max=0).float()
        hi = x.detach().max().clamp(min=0).float()
        scale = (hi - lo) / 255.0
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        zero_point = (-lo / scale).round().clamp(0, 255).to(torch.int32)
        out = torch.fake_quantize_per_tensor_affine(x.float(), scale, zero_point, 0, 255)
        return out.to(x.dtype)


class QATLinear(nnqat.Linear):
    """``torch.ao.nn.qat.Linear`` (weight fake-quant, straight-through gradients) plus
    optional dynamic activation fake-quant of its input."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.input_fake_quant: nn.Module | None = None

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.input_fake_quant is not None:
            input = self.input_fake_quant(input)
        return super().forward(input)


class QATEmbedding(nn.Embedding):
    """Embedding whose table is fake-quantized per row (one scale per token vector)."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        weight = self.weight_fake_quant(self.weight)
        return F.embedding(
            input, weight, self.padding_idx, self.max_norm, self.norm_type,
            self.scale_grad_by_freq, self.sparse,
        )  # fmt: skip

    @classmethod
    def from_embedding(cls, emb: nn.Embedding, per_channel: bool = True) -> QATEmbedding:
        emb.__class__ = cls  # same parameters and hooks, new forward
        emb.weight_fake_quant = int8_weight_fake_quant(per_channel).to(emb.weight.device)
        return emb


def _type_names(types: Iterable[str | type]) -> set[str]:
    return {t if isinstance(t, str) else t.__name__ for t in types}


def _check_submodules(model: nn.Module, submodules: Sequence[str] | None) -> list[str] | None:
    if submodules is None:
        return None
    names = {n for n, _ in model.named_modules()}
    for name in submodules:
        if name not in names:
            top = ", ".join(n for n, _ in model.named_children())
            raise ValueError(
                f"submodule {name!r} is not in {type(model).__name__}; its top-level modules "
                f"are: {top} (use dotted paths below them, e.g. 'bert.encoder')"
            )
    return list(submodules)


def prepare_qat(
    model: nn.Module,
    *,
    exclude_module_types: Iterable[str | type] = (),
    submodules: Sequence[str] | None = None,
    quantize_embeddings: bool = False,
    quantize_activations: bool = False,
    per_channel: bool = True,
) -> nn.Module:
    """Fake-quantize the weights of every ``nn.Linear`` (and embeddings if asked), in place.

    exclude_module_types: class names (or classes) left in float, e.g. ``["LayerNorm"]``.
    submodules: dotted names to restrict QAT to (default: the whole model).
    quantize_activations: also fake-quantize each Linear's input as ORT does at run time.
    per_channel: one scale per output channel (ORT ``quantize_dynamic(per_channel=True)``);
    False: one per weight tensor (ORT's default ``per_channel=False``).
    Scales follow the weights until ``freeze_observers``. Returns ``model``.
    """
    excluded = _type_names(exclude_module_types)
    prefixes = _check_submodules(model, submodules)
    targets: list[str] = []
    skipped: list[str] = []  # modules of an excluded type: their children stay float too
    for name, module in model.named_modules():
        if not name or any(name.startswith(f"{s}.") for s in skipped):
            continue
        if prefixes is not None and not any(
            name == p or name.startswith(f"{p}.") for p in prefixes
        ):
            continue
        if type(module).__name__ in excluded:
            skipped.append(name)
        elif type(module) is nn.Linear or (quantize_embeddings and type(module) is nn.Embedding):
            targets.append(name)
    if not targets:
        raise ValueError(
            "prepare_qat found no nn.Linear to quantize (check submodules= and "
            f"exclude_module_types={sorted(excluded)})"
        )
    for name in targets:
        child = model.get_submodule(name)
        if isinstance(child, nn.Embedding):
            QATEmbedding.from_embedding(child, per_channel)
            continue
        child.qconfig = _QCONFIGS[per_channel]
        qat = QATLinear.from_float(child)
        del child.qconfig
        qat.to(child.weight.device)
        if quantize_activations:
            qat.input_fake_quant = DynamicActivationFakeQuant()
        parent, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent), attr, qat)
    return model


def _fake_quants(model: nn.Module) -> list[FakeQuantize]:
    return [m for m in model.modules() if isinstance(m, FakeQuantize)]


def freeze_observers(model: nn.Module) -> nn.Module:
    """Fix every fake-quant scale from now on (SparseML's disable_quantization_observer_epoch).

    Scales are first refreshed from the current weights, so a model frozen before its first
    forward pass still has meaningful ones.
    """
    fqs = _fake_quants(model)
    if not fqs:
        raise ValueError("freeze_observers: the model has no fake-quant modules; call prepare_qat")
    for module in model.modules():
        if (
            isinstance(module, QATLinear | QATEmbedding)
            and module.weight_fake_quant.observer_enabled[0]
        ):
            with torch.no_grad():
                module.weight_fake_quant(module.weight)
    model.apply(disable_observer)
    return model


def _on_grid(module: nn.Module) -> torch.Tensor:
    fq = module.weight_fake_quant
    with torch.no_grad():
        if fq.observer_enabled[0]:
            fq(module.weight)  # refresh scale / zero_point from the current weight
        scale, zero_point = fq.scale, fq.zero_point
        w = module.weight
        if not fq.is_per_channel:
            return torch.fake_quantize_per_tensor_affine(
                w, float(scale), int(zero_point), fq.quant_min, fq.quant_max
            )
        return torch.fake_quantize_per_channel_affine(
            w, scale.to(w.device), zero_point.to(w.device), fq.ch_axis, fq.quant_min, fq.quant_max
        )


def convert_qat(model: nn.Module) -> nn.Module:
    """Replace every QAT module by its float class with weights rounded onto the int8 grid.

    The result is a plain model (no fake-quant) ready for ONNX export; quantizing that export
    with ORT's dynamic int8 (same ``per_channel``) reproduces the trained weights exactly when
    each channel's largest weight sits at +-127 steps, which holds while observers are live.
    After ``freeze_observers``, ORT re-derives scales from the converted weights, so channels
    that shrank below their frozen range land on a finer grid (within half an ORT step).
    In place; returns the model.
    """
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, QATLinear):
                linear = nn.Linear(
                    child.in_features, child.out_features, bias=child.bias is not None,
                    device=child.weight.device, dtype=child.weight.dtype,
                )  # fmt: skip
                with torch.no_grad():
                    linear.weight.copy_(_on_grid(child))
                    if child.bias is not None:
                        linear.bias.copy_(child.bias)
                setattr(parent, name, linear)
                replaced += 1
            elif isinstance(child, QATEmbedding):
                with torch.no_grad():
                    child.weight.copy_(_on_grid(child))
                del child.weight_fake_quant
                child.__class__ = nn.Embedding
                replaced += 1
    if not replaced:
        raise ValueError("convert_qat: the model has no QAT modules; call prepare_qat first")
    return model


# torch's default symmetric int8 range is [-128, 127] (scale absmax / 127.5); [-127, 127] is
# ORT's and QAT's grid, so a convert_qat model keeps its weights exactly
_DYNAMIC_QCONFIG = QConfig(
    activation=per_channel_dynamic_qconfig.activation,
    weight=PerChannelMinMaxObserver.with_args(
        dtype=torch.qint8, qscheme=torch.per_channel_symmetric, quant_min=QMIN, quant_max=QMAX
    ),
)


def quantize_dynamic_int8(model: nn.Module, *, skip: Iterable[str] = ()) -> nn.Module:
    """A copy of ``model`` with int8 dynamic-quantized Linear layers, for PyTorch CPU inference.

    Per-channel symmetric int8 weights on the grid QAT trains for and per-batch uint8
    activations (``torch.ao`` dynamic quantization, fbgemm / x86 kernels), so a
    ``convert_qat`` model keeps its weights exactly. ``skip``: module names kept in float.
    """
    skipped = set(skip)
    missing = sorted(skipped - {n for n, _ in model.named_modules()})
    if missing:
        raise ValueError(f"skip names {missing} are not modules of {type(model).__name__}")
    # a None qconfig by module name keeps that module (and its children) in float
    qconfig: dict = {nn.Linear: _DYNAMIC_QCONFIG, **dict.fromkeys(skipped)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)  # quantized-tensor deprecation notices
        return quantize_dynamic(model, qconfig, dtype=torch.qint8, inplace=False)
