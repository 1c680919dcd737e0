"""``CompressConfig``: the settings of ``phalanx compress`` (the recipe sets the schedule)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..registry import Method, get_method, method_names
from ..training.config import PROBLEM_OPTIONS, TrainConfig, fields_from, refuse_unknown_options
from ..validation import check_field_types

__all__ = ["CompressConfig", "can_compress", "compress_methods"]

#: the TrainConfig options compress takes as they are; the recipe sets epochs, the lr
#: schedule, weight decay and warmup, and CompressConfig declares the options of its own
SHARED_OPTIONS = (
    "model",
    "dataset",
    "method_options",
    "text_column",
    "label_column",
    "label_names",
    *PROBLEM_OPTIONS,
    "limit",
    "input_template",
    "max_length",
    "batch_size",
    "eval_batch_size",
    "seed",
    "device",
    "precision",
    "overwrite",
    "logging_steps",
    "progress",
)


def can_compress(method: Method) -> bool:
    """Whether compress can train ``method``: it trains the base weights themselves (pruning,
    QAT, structured pruning), or it keeps a pruned base pruned (``restrict_to_unpruned``)."""
    return not method.frozen_base or method.restrict_to_unpruned is not None


def compress_methods() -> list[str]:
    """The registered methods compress can train (``can_compress``)."""
    return [name for name in method_names() if can_compress(get_method(name))]


def __getattr__(name: str) -> Any:
    # COMPRESS_METHODS (the CLI's --method choices) is read from the registry on first use:
    # loading the registry imports every method
    if name == "COMPRESS_METHODS":
        return tuple(compress_methods())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
@fields_from(TrainConfig, *SHARED_OPTIONS)
class CompressConfig:
    """Settings of one compression run (``phalanx compress``; every field is a ``--flag``).

    Besides its own fields it takes ``SHARED_OPTIONS`` from ``TrainConfig`` (same types,
    defaults, docs and validation).
    """

    recipe: str | None = None
    """SparseML-style recipe YAML (epochs, learning rate, pruning, distillation, QAT)."""
    teacher: str | None = None
    """Distillation teacher: a phalanx adapter or run folder (any method), a transformers
    folder or a Hub id; required when the recipe has a DistillationModifier. Several,
    comma-separated, distil from their ensemble (mean logits)."""
    distill_augment: int = 0
    """Extra copies of every training text for distillation (random word crops and
    dropouts, labelled by the teacher); an epoch then covers originals and copies."""
    output: str | None = None
    """Output folder (the model, phalanx.json, recipe.yaml, sparsity.json, metrics.json);
    default runs/compress-<model>-<dataset>."""
    method: str = "full"
    """full (every weight trains) or sparta (SpaRTA deltas on a pruned base; pruned
    positions get no deltas)."""
    lr: float | None = None
    """Peak learning rate when the recipe has no LearningRateFunctionModifier (default 5e-5)."""
    max_steps: int | None = None
    """Stop after this many optimizer steps (smoke runs; the recipe's epochs still set the
    schedule)."""

    def __post_init__(self) -> None:
        check_field_types(self, "compress config")
        if not self.recipe:
            raise InputError("give the recipe: phalanx compress --recipe RECIPE.yaml ...")
        if not can_compress(get_method(self.method)):
            raise InputError(
                f"method {self.method!r} cannot compress; choose one of "
                f"{', '.join(compress_methods())}"
            )
        if self.distill_augment < 0:
            raise InputError(
                f"distill_augment={self.distill_augment} must be >= 0 (extra copies of each "
                "training text; 0 = none)"
            )
        if self.output is None:
            self.output = str(Path("runs") / f"compress-{_slug(self.model)}-{_slug(self.dataset)}")
        self.train_config(epochs=1.0)  # TrainConfig validates the shared options now

    def train_config(
        self, *, epochs: float, lr: float | None = None, weight_decay: float = 0.0
    ) -> TrainConfig:
        """The TrainConfig whose data loading and TrainingArguments the run reuses."""
        train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
        shared = {k: v for k, v in self.to_dict().items() if k in train_fields}
        return TrainConfig(
            **{
                **shared,
                "epochs": epochs,
                "lr": lr if lr is not None else self.lr,
                "warmup_ratio": 0.0,
                "weight_decay": weight_decay,
                "save_total_limit": None,
            }
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CompressConfig:
        """Build from a mapping; unknown keys are refused with the closest valid name."""
        refuse_unknown_options(cls, data, "compress")
        return cls(**data)


def _slug(name: str) -> str:
    stem = Path(name).stem if ("/" in name or "." in name) else name
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in stem) or "run"
