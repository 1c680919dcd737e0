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

__all__ = ["HeadMethodConfig", "apply_head"]


@dataclass
class HeadMethodConfig(MethodConfig):
    """Train only the classification head (for BERT-like models: pooler + classifier)."""

    head_modules: list[str] | None = None
    """Modules trained fully; default: from the architecture table."""

    method_name: ClassVar[str] = "head"
    default_lr: ClassVar[float] = 2e-3


def apply_head(model: nn.Module, config: HeadMethodConfig) -> SpaRTAModel:
    return SpaRTAModel(model, config, head_only=True)


def _detect(path: Path) -> bool:
    return False  # a head folder is a SpaRTA folder; its metadata names the method


register_method(
    Method(
        name="head",
        config_cls=HeadMethodConfig,
        description="head only: the classification head trains, the body is frozen",
        apply=apply_head,
        save=save_sparta_adapter,
        load_classifier=SpaRTAforSequenceClassification,
        detect=_detect,
        shares_base=True,  # a head folder loads as a SpaRTA folder: onto a shared base
        # no apply_to_lm: a language model that scores label words has no head to train
    )
)
