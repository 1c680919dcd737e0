"""Full fine-tuning: every weight trains; the folder is a plain transformers model."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn as nn

from ..folder import atomic_folder, write_json
from ..inference.classifier import TextClassifier
from ..models.loading import load_tokenizer, resolve_dtype
from ..registry import Method, register_method
from .base import MethodConfig

__all__ = ["FullClassifier", "FullConfig"]

log = logging.getLogger(__name__)


@dataclass
class FullConfig(MethodConfig):
    """Train all parameters (optionally keep the embeddings frozen)."""

    freeze_embeddings: bool = False
    """Keep the input embeddings frozen (saves memory and optimizer state)."""

    method_name: ClassVar[str] = "full"
    default_lr: ClassVar[float] = 5e-5


def apply_full(model: nn.Module, config: FullConfig) -> nn.Module:
    for p in model.parameters():
        p.requires_grad_(True)
    if config.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    model.phalanx_config = config
    return model


def save_full(
    model: nn.Module,
    path: str | Path,
    *,
    base_model: str,
    meta: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """``save_pretrained`` (safetensors) + phalanx.json, written atomically."""
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    full_meta = {
        "format": "phalanx-adapter",
        "format_version": 1,
        "method": "full",
        "method_config": model.phalanx_config.to_dict(),
        "base_model": base_model,
        "model_type": model.config.model_type,
        "labels": [id2label[i] for i in sorted(id2label)],
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        **(meta or {}),
    }
    with atomic_folder(path, overwrite=overwrite) as tmp:
        model.save_pretrained(str(tmp))
        write_json(tmp / "phalanx.json", full_meta)
    return Path(path)


class FullClassifier(TextClassifier):
    """The classification API over a fully fine-tuned model folder."""

    repr_tag = "full"

    def __init__(
        self,
        adapter: str | Path,
        model: Any = None,
        device: str | torch.device = "cpu",
        input_template: str | None = None,
        max_length: int | None = None,
        dtype: str | torch.dtype | None = None,
        batch_size: int = 32,
    ):
        from transformers import AutoModelForSequenceClassification

        if model is not None:
            raise ValueError("a fully fine-tuned model has no base to share; drop model=")
        path = Path(adapter)
        self.adapter = str(adapter)
        meta = json.loads((path / "phalanx.json").read_text())
        if (path / "pruning.json").is_file():  # heads / neurons removed by phalanx.compress
            from ..models.pruned import load_pruned

            model = load_pruned(path, dtype=resolve_dtype(dtype, device))
        else:
            model = AutoModelForSequenceClassification.from_pretrained(
                path, dtype=resolve_dtype(dtype, device)
            )
        self.model = model.to(device).eval()
        self.device = next(self.model.parameters()).device
        self.id2label = {str(i): label for i, label in enumerate(meta["labels"])}
        self.base_model_name = meta.get("base_model", str(path))
        has_tok = (path / "tokenizer_config.json").is_file()
        self.tokenizer = load_tokenizer(str(path) if has_tok else self.base_model_name, self.model)
        self._settings(meta, input_template, max_length, self.model)
        self.batch_size = batch_size


register_method(
    Method(
        name="full",
        config_cls=FullConfig,
        description="full fine-tuning: every weight trains (a plain transformers folder)",
        apply=apply_full,
        save=save_full,
        load_classifier=FullClassifier,
        detect=lambda path: (path / "model.safetensors").is_file(),
    )
)
