"""``CompressConfig``: the settings of ``phalanx compress`` (the recipe sets the schedule)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..training.config import TrainConfig, refuse_unknown_options

__all__ = ["COMPRESS_METHODS", "CompressConfig"]

#: full: every weight trains (pruning, QAT, structured). sparta: SpaRTA deltas on a pruned
#: base, with the deltas kept off pruned positions (ConstantPruningModifier + distillation).
COMPRESS_METHODS = ("full", "sparta")


@dataclass
class CompressConfig:
    """Settings of one compression run (``phalanx compress``; every field is a ``--flag``)."""

    recipe: str | None = None
    """SparseML-style recipe YAML (epochs, learning rate, pruning, distillation, QAT)."""
    model: str = "minilm-l6"
    """Student: a built-in name, a transformers folder (e.g. a pruned model) or a Hub id."""
    dataset: str = "rotten_tomatoes"
    """Built-in dataset, a csv/tsv/json/jsonl/parquet file, a folder or a datasets name."""
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
    method_options: dict[str, Any] = field(default_factory=dict)
    """Options of the method (e.g. density=0.01 for sparta)."""
    text_column: str = "text"
    """Column holding the text."""
    label_column: str = "label"
    """Column holding the label."""
    label_names: list[str] | None = None
    """Names of the classes in id order (default: inferred from the data)."""
    limit: int | None = None
    """Use at most this many examples per split (quick runs)."""
    input_template: str | None = None
    """Format applied to each text before tokenizing, e.g. 'Review: {sentence}'."""
    max_length: int = 64
    """Truncate inputs to this many tokens."""
    batch_size: int = 32
    """Training batch size."""
    eval_batch_size: int = 64
    """Evaluation batch size."""
    max_steps: int | None = None
    """Stop after this many optimizer steps (smoke runs; the recipe's epochs still set the
    schedule)."""
    lr: float | None = None
    """Peak learning rate when the recipe has no LearningRateFunctionModifier (default 5e-5)."""
    seed: int = 42
    """Seed of the data order, dropout and the new head."""
    device: str = "auto"
    """auto, cpu or cuda."""
    precision: str = "auto"
    """auto (bf16 on GPUs that support it, else fp32), fp32, bf16 or fp16."""
    overwrite: bool = False
    """Replace an existing output folder."""
    logging_steps: int = 50
    """Log the training loss every this many steps."""
    progress: bool = True
    """Show a progress bar."""

    def __post_init__(self) -> None:
        if not self.recipe:
            raise ValueError("give the recipe: phalanx compress --recipe RECIPE.yaml ...")
        if self.method not in COMPRESS_METHODS:
            raise ValueError(
                f"method {self.method!r} cannot compress; choose one of "
                f"{', '.join(COMPRESS_METHODS)}"
            )
        if self.distill_augment < 0:
            raise ValueError(
                f"distill_augment={self.distill_augment} must be >= 0 (extra copies of each "
                "training text; 0 = none)"
            )
        if self.method == "full" and self.method_options:
            raise ValueError(f"method_options {self.method_options} only apply to method=sparta")
        if self.output is None:
            self.output = str(Path("runs") / f"compress-{_slug(self.model)}-{_slug(self.dataset)}")
        self.train_config(epochs=1.0)  # TrainConfig validates the shared options now

    def train_config(self, *, epochs: float, lr: float | None = None, weight_decay: float = 0.0):
        """The TrainConfig whose data loading and TrainingArguments the run reuses."""
        return TrainConfig(
            method=self.method,
            method_options=dict(self.method_options),
            model=self.model,
            dataset=self.dataset,
            text_column=self.text_column,
            label_column=self.label_column,
            label_names=self.label_names,
            limit=self.limit,
            input_template=self.input_template,
            max_length=self.max_length,
            epochs=epochs,
            max_steps=self.max_steps,
            batch_size=self.batch_size,
            eval_batch_size=self.eval_batch_size,
            lr=lr if lr is not None else self.lr,
            warmup_ratio=0.0,
            weight_decay=weight_decay,
            seed=self.seed,
            device=self.device,
            precision=self.precision,
            output=self.output,
            logging_steps=self.logging_steps,
            progress=self.progress,
            save_total_limit=None,
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
