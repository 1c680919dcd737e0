"""The recipe modifiers phalanx runs: one small validated dataclass each.

Field names and defaults follow SparseML 1.x so its recipes run unchanged. Epochs are floats;
``start_epoch: -1`` means "from the start" and ``end_epoch: -1`` "until training ends", as in
SparseML.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import InputError

__all__ = [
    "ALL_PRUNABLE",
    "MODIFIERS",
    "ConstantPruningModifier",
    "DistillationModifier",
    "EpochRangeModifier",
    "GMPruningModifier",
    "LearningRateFunctionModifier",
    "MagnitudePruningModifier",
    "Modifier",
    "QuantizationModifier",
    "SetWeightDecayModifier",
    "StructuredPruningModifier",
    "build_modifier",
]

#: SparseML's name for "every prunable layer" (here: every Linear weight outside the head)
ALL_PRUNABLE = "__ALL_PRUNABLE__"


def _flag(value: Any, name: str) -> bool:
    """SparseML recipes write booleans as 0/1 (``quantize_embeddings: 1``)."""
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    raise InputError(f"{name} must be true/false (or 1/0), got {value!r}")


def _fraction(value: Any, name: str, *, closed: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{name} must be a number in [0, 1], got {value!r}")
    hi_ok = value <= 1 if closed else value < 1
    if not (value >= 0 and hi_ok):
        raise InputError(f"{name} must be in [0, 1{']' if closed else ')'}, got {value!r}")
    return float(value)


def _epoch(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{name} must be a number of epochs, got {value!r}")
    if value < 0 and value != -1:
        raise InputError(f"{name} must be >= 0 (or -1: unbounded), got {value!r}")
    return float(value)


@dataclass
class Modifier:
    """Common fields: when the modifier acts."""

    start_epoch: float = -1.0
    end_epoch: float = -1.0

    name: ClassVar[str] = ""

    def __post_init__(self) -> None:
        self.start_epoch = _epoch(self.start_epoch, f"{self.name}.start_epoch")
        self.end_epoch = _epoch(self.end_epoch, f"{self.name}.end_epoch")
        if self.end_epoch != -1 and self.end_epoch < max(self.start_epoch, 0):
            raise InputError(
                f"{self.name}: end_epoch ({self.end_epoch:g}) is before start_epoch "
                f"({self.start_epoch:g})"
            )

    @property
    def start(self) -> float:
        return max(self.start_epoch, 0.0)

    def last_epoch(self) -> float:
        """The latest epoch this modifier names (for the recipe's range check)."""
        return max(self.start_epoch, self.end_epoch, 0.0)

    def describe(self) -> str:
        inner = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self))
        return f"{self.name}({inner})"


@dataclass
class EpochRangeModifier(Modifier):
    """Train from start_epoch to end_epoch (sets the number of epochs)."""

    name: ClassVar[str] = "EpochRangeModifier"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.end_epoch <= 0:
            raise InputError(f"EpochRangeModifier.end_epoch must be > 0, got {self.end_epoch:g}")


@dataclass
class LearningRateFunctionModifier(Modifier):
    """Learning rate from init_lr to final_lr between start and end epoch (linear or cosine)."""

    lr_func: str = "linear"
    init_lr: float = 0.0
    final_lr: float = 0.0

    name: ClassVar[str] = "LearningRateFunctionModifier"
    FUNCS: ClassVar[tuple[str, ...]] = ("linear", "cosine")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lr_func not in self.FUNCS:
            raise InputError(
                f"{self.name}.lr_func {self.lr_func!r} is not supported; use one of "
                f"{', '.join(self.FUNCS)}"
            )
        for f in ("init_lr", "final_lr"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                raise InputError(f"{self.name}.{f} must be a number >= 0, got {v!r}")
        if not self.init_lr > 0:
            raise InputError(f"{self.name}.init_lr must be > 0, got {self.init_lr!r}")


def _params(value: Any, name: str) -> str | list[str]:
    if value == ALL_PRUNABLE:
        return value
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise InputError(
        f"{name}.params must be {ALL_PRUNABLE}, a parameter name, 're:REGEX' or a list of "
        f"those, got {value!r}"
    )


@dataclass
class ConstantPruningModifier(Modifier):
    """Keep the zeros already in ``params`` at zero (sparse transfer)."""

    params: Any = ALL_PRUNABLE

    name: ClassVar[str] = "ConstantPruningModifier"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.params = _params(self.params, self.name)


@dataclass
class GMPruningModifier(Modifier):
    """Gradual magnitude pruning: sparsity s_t = s_f + (s_i - s_f)(1 - (t - t0)/n)^3."""

    init_sparsity: float = 0.05
    final_sparsity: float = 0.8
    update_frequency: float = 1.0
    params: Any = ALL_PRUNABLE
    leave_enabled: bool = True
    inter_func: str = "cubic"
    mask_type: str = "unstructured"
    global_sparsity: bool = False

    name: ClassVar[str] = "GMPruningModifier"
    INTER_FUNCS: ClassVar[tuple[str, ...]] = ("cubic", "linear")

    def __post_init__(self) -> None:
        super().__post_init__()
        self.params = _params(self.params, self.name)
        self.init_sparsity = _fraction(self.init_sparsity, f"{self.name}.init_sparsity")
        self.final_sparsity = _fraction(
            self.final_sparsity, f"{self.name}.final_sparsity", closed=False
        )
        self.leave_enabled = _flag(self.leave_enabled, f"{self.name}.leave_enabled")
        self.global_sparsity = _flag(self.global_sparsity, f"{self.name}.global_sparsity")
        if self.end_epoch == -1:
            raise InputError(f"{self.name}.end_epoch is required (when the target is reached)")
        upd = self.update_frequency
        if isinstance(upd, bool) or not isinstance(upd, int | float) or upd <= 0:
            raise InputError(f"{self.name}.update_frequency must be > 0 epochs, got {upd!r}")
        if self.inter_func not in self.INTER_FUNCS:
            raise InputError(
                f"{self.name}.inter_func {self.inter_func!r} is not supported; use one of "
                f"{', '.join(self.INTER_FUNCS)}"
            )
        if self.mask_type != "unstructured":
            raise InputError(
                f"{self.name}.mask_type {self.mask_type!r} is not supported; use "
                "'unstructured' (for heads / FFN neurons use !StructuredPruningModifier)"
            )

    def sparsity_at(self, epoch: float) -> float:
        """Target sparsity at ``epoch`` (``init`` before start, ``final`` from end_epoch on)."""
        if epoch < self.start:
            return self.init_sparsity
        span = self.end_epoch - self.start
        progress = 1.0 if span <= 0 else min(max((epoch - self.start) / span, 0.0), 1.0)
        power = 3 if self.inter_func == "cubic" else 1
        return (
            self.final_sparsity
            + (self.init_sparsity - self.final_sparsity) * (1.0 - progress) ** power
        )


@dataclass
class MagnitudePruningModifier(GMPruningModifier):
    """SparseML's other name for gradual magnitude pruning."""

    name: ClassVar[str] = "MagnitudePruningModifier"


@dataclass
class QuantizationModifier(Modifier):
    """Quantization-aware training of Linear layers from start_epoch; observers frozen later.

    ``freeze_bn_stats_epoch`` is accepted for SparseML recipes and has nothing to act on
    (transformer classifiers have no batch norm). At the end the fake-quant modules are
    converted: the saved weights lie on the int8 grid ONNX Runtime quantizes to.
    """

    disable_quantization_observer_epoch: float | None = None
    freeze_bn_stats_epoch: float | None = None
    quantize_embeddings: bool = False
    quantize_linear_activations: bool = False
    exclude_module_types: list[str] = field(default_factory=list)
    submodules: list[str] | None = None

    name: ClassVar[str] = "QuantizationModifier"

    def __post_init__(self) -> None:
        super().__post_init__()
        for f in ("disable_quantization_observer_epoch", "freeze_bn_stats_epoch"):
            if getattr(self, f) is not None:
                setattr(self, f, _epoch(getattr(self, f), f"{self.name}.{f}"))
        obs = self.disable_quantization_observer_epoch
        if obs is not None and obs < self.start:
            raise InputError(
                f"{self.name}.disable_quantization_observer_epoch ({obs:g}) is before "
                f"start_epoch ({self.start:g})"
            )
        self.quantize_embeddings = _flag(
            self.quantize_embeddings, f"{self.name}.quantize_embeddings"
        )
        self.quantize_linear_activations = _flag(
            self.quantize_linear_activations, f"{self.name}.quantize_linear_activations"
        )
        for f in ("exclude_module_types", "submodules"):
            v = getattr(self, f)
            if v is not None and not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
                raise InputError(f"{self.name}.{f} must be a list of names, got {v!r}")

    def last_epoch(self) -> float:
        obs = self.disable_quantization_observer_epoch or 0.0
        return max(super().last_epoch(), obs, self.freeze_bn_stats_epoch or 0.0)


@dataclass
class DistillationModifier(Modifier):
    """loss = hardness * T^2 * KL(teacher || student at temperature T) + (1 - hardness) * CE."""

    hardness: float = 0.5
    temperature: float = 2.0
    distill_output_keys: list[str] = field(default_factory=lambda: ["logits"])

    name: ClassVar[str] = "DistillationModifier"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.hardness = _fraction(self.hardness, f"{self.name}.hardness")
        t = self.temperature
        if isinstance(t, bool) or not isinstance(t, int | float) or t <= 0:
            raise InputError(f"{self.name}.temperature must be > 0, got {t!r}")
        if self.distill_output_keys != ["logits"]:
            raise InputError(
                f"{self.name}.distill_output_keys {self.distill_output_keys!r} is not "
                "supported; classifiers distil their logits: use [logits]"
            )


@dataclass
class SetWeightDecayModifier(Modifier):
    """AdamW weight decay from start_epoch on."""

    weight_decay: float = 0.0

    name: ClassVar[str] = "SetWeightDecayModifier"

    def __post_init__(self) -> None:
        super().__post_init__()
        wd = self.weight_decay
        if isinstance(wd, bool) or not isinstance(wd, int | float) or wd < 0:
            raise InputError(f"{self.name}.weight_decay must be a number >= 0, got {wd!r}")


@dataclass
class StructuredPruningModifier(Modifier):
    """phalanx's own: remove a fraction of attention heads and FFN neurons before training
    (the matrices shrink, so dense runtimes get faster)."""

    heads_fraction: float = 0.0
    ffn_fraction: float = 0.0
    importance: str = "magnitude"

    name: ClassVar[str] = "StructuredPruningModifier"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.heads_fraction = _fraction(
            self.heads_fraction, f"{self.name}.heads_fraction", closed=False
        )
        self.ffn_fraction = _fraction(self.ffn_fraction, f"{self.name}.ffn_fraction", closed=False)
        if self.importance not in ("magnitude", "taylor"):
            raise InputError(
                f"{self.name}.importance {self.importance!r} is not supported; use magnitude "
                "(weight norms) or taylor (|w * dL/dw| over the first training batches)"
            )
        if self.heads_fraction == 0 and self.ffn_fraction == 0:
            raise InputError(f"{self.name}: give heads_fraction and/or ffn_fraction > 0")
        if self.start > 0:
            raise InputError(
                f"{self.name}.start_epoch must be 0: the matrices shrink before training, "
                f"so the optimizer only ever sees the smaller model (got {self.start_epoch:g})"
            )


MODIFIERS: dict[str, type[Modifier]] = {
    cls.name: cls
    for cls in (
        EpochRangeModifier,
        LearningRateFunctionModifier,
        GMPruningModifier,
        MagnitudePruningModifier,
        ConstantPruningModifier,
        QuantizationModifier,
        DistillationModifier,
        SetWeightDecayModifier,
        StructuredPruningModifier,
    )
}


def build_modifier(tag: str, fields: dict[str, Any], source: str = "<recipe>") -> Modifier:
    """``!tag`` + its fields -> a validated modifier; unknown names are listed errors."""
    cls = MODIFIERS.get(tag)
    if cls is None:
        raise InputError(
            f"recipe {source}: modifier !{tag} is not supported; supported modifiers: "
            f"{', '.join(sorted(MODIFIERS))}"
        )
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in fields if k not in known]
    if unknown:
        raise InputError(
            f"recipe {source}: {tag} does not take field(s) {', '.join(map(str, unknown))}; "
            f"its fields: {', '.join(known)}"
        )
    try:
        return cls(**fields)
    except ValueError as err:
        raise InputError(f"recipe {source}: {err}") from None
