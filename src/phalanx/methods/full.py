"""Full fine-tuning: every weight trains; the folder is a plain transformers model.

A structurally pruned model (``phalanx.compress.structured.prune_structured``) is saved the
same way plus ``pruning.json`` (``phalanx.models.pruned``), which the loader reads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn as nn

from ..errors import InputError, first_line
from ..folder import (
    CONFIG_FILE,
    META_FILE,
    MODEL_WEIGHTS_FILE,
    PRUNING_FILE,
    REPAIR,
    adapter_meta,
    atomic_folder,
    check_finite,
    write_json,
    write_meta,
)
from ..folder.card import adapter_card, portable_path, write_card
from ..inference.classifier import TextClassifier
from ..models.loading import resolve_dtype
from ..registry import Method, register_method
from .base import MethodConfig

__all__ = ["FullClassifier", "FullMethodConfig", "apply_full", "save_full", "save_pruned"]

log = logging.getLogger(__name__)


@dataclass
class FullMethodConfig(MethodConfig):
    """Train all parameters (optionally keep the embeddings frozen)."""

    freeze_embeddings: bool = False
    """Keep the input embeddings frozen (saves memory and optimizer state)."""

    method_name: ClassVar[str] = "full"
    default_lr: ClassVar[float] = 5e-5


def apply_full(model: nn.Module, config: FullMethodConfig) -> nn.Module:
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
    tokenizer: Any = None,
) -> Path:
    """``save_pretrained`` (safetensors) + phalanx.json + README.md (the model card) (+ the
    tokenizer when given, and ``pruning.json`` for a structurally pruned model), written
    atomically.

    A model never wrapped by ``apply_full`` counts as fully trained with the default config.
    """
    from ..models.pruned import is_pruned, pruning_record

    config = getattr(model, "phalanx_config", None)
    if config is None:
        config, trainable = FullMethodConfig(), sum(p.numel() for p in model.parameters())
    else:
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    record = pruning_record(model) if is_pruned(model) else None
    fields = None
    if record is not None:
        layers = record["layers"]
        fields = {
            "structured_pruning": {
                "heads_per_layer": [len(r["heads"]) for r in layers],
                "ffn_per_layer": [len(r["ffn"]) for r in layers],
            }
        }
    full_meta = adapter_meta(
        model.config,
        method=config.method_name,
        method_config=config.to_dict(),
        base_model=base_model,
        trainable_parameters=trainable,
        fields=fields,
        extra=meta,
    )
    card = adapter_card(
        full_meta,
        name=portable_path(path) or "model",
        problem_type=model.config.problem_type,
        transformers_folder=record is None,
    )
    with atomic_folder(path, overwrite=overwrite) as tmp:
        model.save_pretrained(str(tmp))
        if tokenizer is not None:
            tokenizer.save_pretrained(str(tmp))
        if record is not None:
            write_json(tmp / PRUNING_FILE, record)
        write_meta(tmp, full_meta)
        write_card(tmp, card)
    return Path(path)


def save_pruned(
    model: nn.Module,
    tokenizer: Any,
    folder: str | Path,
    extra_meta: dict[str, Any] | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Write a structurally pruned classifier so ``load_pruned`` / ``load_classifier`` read it.

    ``phalanx.json`` marks the folder as a full-model folder (``method: full``) with the
    labels; ``extra_meta`` is merged into it (e.g. base_model, input_template, metrics).
    """
    from ..models.pruned import pruning_record

    pruning_record(model)  # refuses a model prune_structured did not shrink
    # no recorded base: the folder is its own (named portably, never by an absolute path)
    base = getattr(model.config, "name_or_path", "") or portable_path(folder) or "model"
    return save_full(
        model, folder, base_model=base, meta=extra_meta, overwrite=overwrite, tokenizer=tokenizer
    )


class FullClassifier(TextClassifier):
    """The classification API over a fully fine-tuned model folder."""

    repr_tag = "full"

    def _load(self, path: Path, model: Any, *, device: str | torch.device, dtype: Any) -> Any:
        from transformers import AutoModelForSequenceClassification

        from ..models.pruned import check_model_files, load_pruned

        if model is not None:
            raise ValueError("a fully fine-tuned model has no base to share; drop model=")
        if (path / PRUNING_FILE).is_file():  # heads / neurons removed by phalanx.compress
            model = load_pruned(path, dtype=resolve_dtype(dtype, device))
        else:
            check_model_files(path)
            try:
                model = AutoModelForSequenceClassification.from_pretrained(
                    path, dtype=resolve_dtype(dtype, device)
                )
            except (OSError, RuntimeError, ValueError) as err:  # what transformers raises
                raise InputError(
                    f"{path}: transformers cannot load the model ({first_line(err)}); {REPAIR}"
                ) from None
            weights = path / MODEL_WEIGHTS_FILE
            check_finite(model.state_dict().items(), weights if weights.is_file() else path)
        labels = self.meta.get("labels")
        if labels and len(labels) != model.config.num_labels:
            raise InputError(
                f"{path / META_FILE} lists {len(labels)} labels but {path / CONFIG_FILE} has "
                f"{model.config.num_labels}; {REPAIR}"
            )
        return model.to(device)


def _identity_lm(lm: nn.Module, path: Path, meta: dict[str, Any] | None = None) -> nn.Module:
    return lm  # the folder is the whole language model, loaded as it is


register_method(
    Method(
        name="full",
        config_cls=FullMethodConfig,
        description="full fine-tuning: every weight trains (a plain transformers folder)",
        apply=apply_full,
        save=save_full,
        load_classifier=FullClassifier,
        detect=lambda path: (path / MODEL_WEIGHTS_FILE).is_file(),
        frozen_base=False,
        apply_to_lm=_identity_lm,
    )
)
