"""What ``compress`` refuses before any slow work: a method that cannot run the recipe, and
an output folder that overlaps its inputs or is taken."""

from __future__ import annotations

from pathlib import Path

from ..folder import check_apart, resolve_adapter
from ..registry import get_method
from .config import CompressConfig
from .modifiers import GMPruningModifier, QuantizationModifier, StructuredPruningModifier
from .recipe import Recipe

__all__ = ["check_compress_output", "check_method"]


def check_method(recipe: Recipe, method: str) -> None:
    """A method that keeps the base frozen composes only with modifiers that leave it alone."""
    if not get_method(method).frozen_base:
        return
    bad = [
        m.name
        for m in recipe.modifiers
        if isinstance(m, GMPruningModifier | StructuredPruningModifier | QuantizationModifier)
    ]
    if bad:
        raise ValueError(
            f"method={method} freezes the base weights, so it cannot run {', '.join(bad)}; "
            f"prune/quantize with method=full first, then train {method} on that model with a "
            "recipe of ConstantPruningModifier, DistillationModifier and schedule modifiers"
        )


def check_compress_output(config: CompressConfig, output: Path) -> None:
    """Refuse an output that is, holds or lies inside the model, the dataset or a teacher, or
    a non-empty one without ``overwrite`` (which then replaces only the model folder's files,
    recipe.yaml, sparsity.json and metrics.json)."""
    teachers = [_teacher_folder(t.strip()) for t in (config.teacher or "").split(",")]
    inputs = {"model": config.model, "dataset": config.dataset}
    for i, teacher in enumerate(filter(None, teachers), 1):
        inputs["teacher" if len(teachers) == 1 else f"teacher {i}"] = teacher
    check_apart(output, inputs)
    if output.exists() and (not output.is_dir() or any(output.iterdir())) and not config.overwrite:
        raise FileExistsError(
            f"output {str(output)!r} exists and is not empty; pass --overwrite or choose "
            "another --output"
        )


def _teacher_folder(teacher: str) -> str:
    """A teacher run folder's ``adapter/`` (what is read), else the teacher as given."""
    try:
        return str(resolve_adapter(teacher)) if Path(teacher).is_dir() else teacher
    except ValueError:
        return teacher
