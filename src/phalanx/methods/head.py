"""Head-only fine-tuning: the classification head trains, the whole body stays frozen.

The adapter is a SpaRTA folder with no deltas outside the head, so it loads in phalanx and
in peft-sparta alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch.nn as nn

from ..registry import Method, register_method
from .base import MethodConfig
from .sparta import SpaRTAforSequenceClassification, SpaRTAModel, save_sparta_adapter

__all__ = ["HeadConfig", "apply_head"]


@dataclass
class HeadConfig(MethodConfig):
    """Train only the classification head (for BERT-like models: pooler + classifier)."""

    head_modules: list[str] | None = None
    """Modules trained fully; default: from the architecture table."""

    method_name: ClassVar[str] = "head"
    default_lr: ClassVar[float] = 2e-3


def apply_head(model: nn.Module, config: HeadConfig) -> SpaRTAModel:
    return SpaRTAModel(model, config, head_only=True)


def _detect(path: Path) -> bool:
    return False  # a head folder is a SpaRTA folder; phalanx.json names the method


register_method(
    Method(
        name="head",
        config_cls=HeadConfig,
        description="head only: the classification head trains, the body is frozen",
        apply=apply_head,
        save=save_sparta_adapter,
        load_classifier=SpaRTAforSequenceClassification,
        detect=_detect,
    )
)
