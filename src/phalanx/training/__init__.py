"""Training: one trainer for every registered method (the HF ``Trainer`` underneath)."""

from .config import DEFAULT_LRS, TrainConfig, field_docs, load_yaml
from .run import TrainingInterrupted, TrainResult, train
from .trainer import last_checkpoint

__all__ = [
    "DEFAULT_LRS",
    "TrainConfig",
    "TrainResult",
    "TrainingInterrupted",
    "field_docs",
    "last_checkpoint",
    "load_yaml",
    "train",
]
