"""Save and load models whose heads / neurons were physically removed.

transformers derives every layer's shapes from config.json (BERT's head size is
``hidden_size / num_attention_heads``), so a shrunk model cannot be described by its config
alone. The folder keeps the dense config.json, the shrunk model.safetensors and a
``pruning.json`` listing the heads and neurons every layer kept; the loader builds the dense
model from the config, cuts it to the recorded shapes and loads the weights strictly.

Folder layout::

    config.json  model.safetensors  pruning.json  phalanx.json  tokenizer files
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..folder import atomic_folder, write_json
from .blocks import cut_heads, cut_neurons, layers_of

__all__ = ["PRUNING_FILE", "PRUNING_FORMAT_VERSION", "load_pruned", "save_pruned", "shrink_to"]

PRUNING_FILE = "pruning.json"
PRUNING_FORMAT_VERSION = 1


def _state(model: nn.Module) -> dict[str, Any]:
    state = getattr(model, "phalanx_pruning", None)
    if state is None:
        raise ValueError(
            f"{type(model).__name__} was not pruned with prune_structured (no phalanx_pruning "
            "record); save it with save_pretrained instead"
        )
    return state


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
    from ..methods.full import FullConfig

    state = _state(model)
    config = model.config
    id2label = {int(k): v for k, v in config.id2label.items()}
    meta: dict[str, Any] = {
        "format": "phalanx-adapter",
        "format_version": 1,
        "method": "full",
        "method_config": getattr(model, "phalanx_config", FullConfig()).to_dict(),
        "base_model": getattr(config, "name_or_path", "") or str(folder),
        "model_type": config.model_type,
        "labels": [id2label[i] for i in sorted(id2label)],
        "trainable_parameters": sum(p.numel() for p in model.parameters()),
        "structured_pruning": {
            "heads_per_layer": [len(r["heads"]) for r in state["layers"]],
            "ffn_per_layer": [len(r["ffn"]) for r in state["layers"]],
        },
        **(extra_meta or {}),
    }
    record = {
        "format": "phalanx-pruned",
        "format_version": PRUNING_FORMAT_VERSION,
        "model_type": config.model_type,
        **state,
    }
    with atomic_folder(folder, overwrite=overwrite) as tmp:
        model.save_pretrained(str(tmp))
        if tokenizer is not None:
            tokenizer.save_pretrained(str(tmp))
        write_json(tmp / PRUNING_FILE, record)
        write_json(tmp / "phalanx.json", meta)
    return Path(folder)


def shrink_to(model: nn.Module, state: dict[str, Any]) -> None:
    """Cut a freshly built dense model to the shapes recorded in ``state``."""
    layers = layers_of(model)
    records = state["layers"]
    if len(records) != len(layers):
        raise ValueError(
            f"pruning record has {len(records)} layers but the model config builds {len(layers)}"
        )
    for layer, record in zip(layers, records, strict=True):
        cut_heads(layer, torch.tensor(record["heads"]), torch.tensor(record["kv_heads"]))
        cut_neurons(layer, torch.tensor(record["ffn"]))
    model.phalanx_pruning = {
        k: v for k, v in state.items() if k not in ("format", "format_version")
    }


def read_pruning(folder: str | Path) -> dict[str, Any]:
    """The pruning record of ``folder``, checked for format and version."""
    path = Path(folder) / PRUNING_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{folder} has no {PRUNING_FILE}; it is not a pruned model folder")
    record = json.loads(path.read_text())
    if record.get("format") != "phalanx-pruned":
        raise ValueError(
            f"{path} is not a phalanx pruning record (format {record.get('format')!r})"
        )
    version = record.get("format_version")
    if version != PRUNING_FORMAT_VERSION:
        raise ValueError(
            f"{path} has format_version {version!r}; this phalanx reads version "
            f"{PRUNING_FORMAT_VERSION}: upgrade phalanx or re-save the model"
        )
    return record


def load_pruned(
    folder: str | Path,
    *,
    dtype: torch.dtype | None = None,
    device: str | torch.device = "cpu",
    id2label: dict[int, str] | None = None,
) -> nn.Module:
    """The ``*ForSequenceClassification`` model saved by ``save_pruned``, in eval mode.

    ``id2label`` renames the labels (their number must match the saved head).
    """
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForSequenceClassification

    folder = Path(folder)
    record = read_pruning(folder)
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"{folder} has {PRUNING_FILE} but no model.safetensors")
    config = AutoConfig.from_pretrained(folder)
    if id2label is not None:
        saved = config.num_labels
        if len(id2label) != saved:
            raise ValueError(
                f"{folder} is a pruned classifier with {saved} labels; it cannot take "
                f"{len(id2label)} ({list(id2label.values())}). Use labels of the same count"
            )
        config.id2label = {int(k): v for k, v in id2label.items()}
        config.label2id = {v: k for k, v in config.id2label.items()}
    model = AutoModelForSequenceClassification.from_config(config)
    shrink_to(model, record)
    state = load_file(str(weights))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(f"{weights} does not match {PRUNING_FILE}: {err}") from err
    if dtype is None:
        dtype = next(t.dtype for t in state.values() if t.is_floating_point())
    return model.to(device=device, dtype=dtype).eval()
