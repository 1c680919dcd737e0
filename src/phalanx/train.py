"""``phalanx.train``: fine-tune any registered method on a labelled text dataset.

Example:
    >>> from phalanx.train import TrainConfig, train
    >>> result = train(TrainConfig(method="sparta", model="minilm-l6",
    ...                            dataset="rotten_tomatoes"))  # doctest: +SKIP
    >>> result.test["accuracy"]  # doctest: +SKIP
    0.81
"""

from .training import (
    DEFAULT_LRS,
    TrainConfig,
    TrainingInterrupted,
    TrainResult,
    last_checkpoint,
    train,
)

__all__ = [
    "DEFAULT_LRS",
    "TrainConfig",
    "TrainResult",
    "TrainingInterrupted",
    "last_checkpoint",
    "train",
]
