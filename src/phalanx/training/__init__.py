"""Training: one trainer for every registered method (the HF ``Trainer`` underneath)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_attributes

if TYPE_CHECKING:
    from .config import TrainConfig, field_docs, load_yaml
    from .run import TrainingInterrupted, TrainResult, train
    from .trainer import last_checkpoint

__all__ = [
    "TrainConfig",
    "TrainResult",
    "TrainingInterrupted",
    "field_docs",
    "last_checkpoint",
    "load_yaml",
    "train",
]

# imported on first use: reading TrainConfig (the CLI's parser) needs no torch or transformers
__getattr__ = lazy_attributes(
    __name__,
    {
        "TrainConfig": ".config",
        "TrainResult": ".run",
        "TrainingInterrupted": ".run",
        "field_docs": ".config",
        "last_checkpoint": ".trainer",
        "load_yaml": ".config",
        "train": ".run",
    },
)
