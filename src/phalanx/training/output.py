"""The run folder: refuse to clobber an earlier run or an input, clear it on overwrite, check
resumes."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import torch

from ..errors import InputError
from ..folder import CARD_FILE, check_apart
from .config import TrainConfig, load_yaml
from .trainer import checkpoint_folders, checkpoint_problem, last_checkpoint

__all__ = ["OWNED_ENTRIES", "barrier", "check_output", "clear_output"]

log = logging.getLogger("phalanx.train")

#: what a run writes into its output folder (and what ``overwrite`` removes)
OWNED_ENTRIES = ("adapter", "checkpoints", "train_config.yaml", "metrics.json", CARD_FILE)
# settings a resumed run must share with the checkpoint's run
RESUME_KEYS = (
    "method", "method_options", "model", "dataset", "text_column", "text_pair_column",
    "label_column", "label_names", "limit", "input_template", "max_length", "batch_size",
    "grad_accum", "seed", "lr", "warmup_ratio", "weight_decay", "epochs", "max_steps",
    "layer_lr_decay", "problem_type", "label_columns", "label_separator", "allow_empty_labels",
    "normalize_target", "loss", "pos_weight",
)  # fmt: skip


def check_output(
    config: TrainConfig, output: Path, ckpt_dir: Path, world_size: int = 1
) -> Path | None:
    """Raise if ``output`` holds an earlier run (unless overwrite / resume) or is, holds or
    lies inside the model or dataset; return the checkpoint to resume from, if any (the
    newest complete one). Touches nothing on disk."""
    check_apart(output, {"model": config.model, "dataset": config.dataset})
    if output.exists() and not output.is_dir():
        raise FileExistsError(
            f"output {str(output)!r} exists and is not a folder; choose another --output"
        )
    existing = output.is_dir() and any(output.iterdir())
    resume_from = last_checkpoint(ckpt_dir, world_size) if config.resume else None
    if config.resume:
        if resume_from is None:
            _no_checkpoint(ckpt_dir, world_size)
        else:
            check_resumable(config, ckpt_dir)
            log.info("resuming from %s", resume_from)
    elif existing and not config.overwrite:
        raise FileExistsError(
            f"output folder {str(output)!r} exists and is not empty; pass --overwrite to replace "
            "its results, --resume to continue its training, or choose another --output"
        )
    return resume_from


def _no_checkpoint(ckpt_dir: Path, world_size: int) -> None:
    """A resume without a complete checkpoint: start afresh when there is none at all, else
    refuse (every one is incomplete), naming the newest and what it lacks."""
    found = checkpoint_folders(ckpt_dir)
    if not found:
        log.warning("resume: no checkpoint in %s; starting from scratch", ckpt_dir)
        return
    raise InputError(
        f"cannot resume: none of the {len(found)} checkpoints in {ckpt_dir} is complete "
        f"(newest: {found[0].name}, {checkpoint_problem(found[0], world_size)}); start afresh "
        "with --overwrite"
    )


def clear_output(config: TrainConfig, output: Path, main: bool) -> None:
    """With overwrite (and no resume), remove what an earlier run wrote; create the folder."""
    barrier()  # every rank has looked before the main one deletes anything
    if main and config.overwrite and not config.resume and output.is_dir():
        for name in OWNED_ENTRIES:
            target = output / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    if main:
        output.mkdir(parents=True, exist_ok=True)
    barrier()


def check_resumable(config: TrainConfig, ckpt_dir: Path) -> None:
    """The settings that shape the optimisation must match the checkpointed run's."""
    saved_file = ckpt_dir / "train_config.yaml"
    if not saved_file.is_file():
        return
    saved, now = load_yaml(saved_file), config.resolved()
    for key in RESUME_KEYS:
        if key in saved and saved[key] != now.get(key):
            raise ValueError(
                f"cannot resume: {key} was {saved[key]!r} in the checkpointed run but is "
                f"{now.get(key)!r} now; use the same setting, or start afresh with --overwrite"
            )


def barrier() -> None:
    """Wait for every rank (no-op outside distributed runs)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
