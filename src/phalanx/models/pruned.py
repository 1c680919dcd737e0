"""Models whose heads / neurons were physically removed: the pruning record and the loader.

transformers derives every layer's shapes from config.json (BERT's head size is
``hidden_size / num_attention_heads``), so a shrunk model cannot be described by its config
alone. The folder (a ``full`` method folder, written by ``phalanx.methods.full.save_full``)
keeps the dense config.json, the shrunk model.safetensors and a ``pruning.json`` listing the
heads and neurons every layer kept; the loader builds the dense model from the config, cuts
it to the recorded shapes and loads the weights strictly.

Folder layout::

    config.json  model.safetensors  pruning.json  phalanx.json  tokenizer files
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..errors import first_line
from ..folder import (
    CONFIG_FILE,
    MODEL_WEIGHTS_FILE,
    PRUNING_FILE,
    REPAIR,
    check_finite,
    check_head_rows,
    read_config,
    read_json,
    read_tensors,
    tensor_header,
)
from .archs import ARCHS
from .blocks import cut_heads, cut_neurons, layers_of

__all__ = [
    "PRUNING_FILE",
    "PRUNING_FORMAT_VERSION",
    "check_model_files",
    "is_pruned",
    "load_pruned",
    "pruning_record",
    "read_pruning",
    "shrink_to",
]

PRUNING_FORMAT_VERSION = 1


def is_pruned(model: nn.Module) -> bool:
    """Whether ``prune_structured`` removed heads / neurons from ``model``."""
    return getattr(model, "phalanx_pruning", None) is not None


def pruning_record(model: nn.Module) -> dict[str, Any]:
    """What ``pruning.json`` holds for ``model``: the heads and neurons every layer kept."""
    if not is_pruned(model):
        raise ValueError(
            f"{type(model).__name__} was not pruned with prune_structured (no phalanx_pruning "
            "record); save it with save_pretrained instead"
        )
    return {
        "format": "phalanx-pruned",
        "format_version": PRUNING_FORMAT_VERSION,
        "model_type": model.config.model_type,
        **model.phalanx_pruning,
    }


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
    record = read_json(path)
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


def check_model_files(path: Path) -> None:
    """A transformers model folder's ``config.json`` and weight headers readable, and its
    final head with one row per label (no tensor data is read)."""
    config = read_config(path)
    if not config:
        raise FileNotFoundError(f"model folder {path} has no {CONFIG_FILE}")
    spec = ARCHS.get(config.get("model_type") or "")
    labels = len(config.get("id2label") or {}) or config.get("num_labels")
    for weights in sorted(path.glob("*.safetensors")):
        shapes = {n: shape for n, (shape, _) in tensor_header(weights).items()}
        if spec is not None and labels:
            check_head_rows(shapes, spec.main_head, labels, weights, path / CONFIG_FILE)


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
    from transformers import AutoConfig, AutoModelForSequenceClassification

    folder = Path(folder)
    record = read_pruning(folder)
    weights = folder / MODEL_WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"{folder} has {PRUNING_FILE} but no {MODEL_WEIGHTS_FILE}")
    check_model_files(folder)
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
    state = read_tensors(weights)
    check_finite(state.items(), weights)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(
            f"{weights} does not match {PRUNING_FILE} ({first_line(err)}); {REPAIR}"
        ) from err
    if dtype is None:
        dtype = next(t.dtype for t in state.values() if t.is_floating_point())
    return model.to(device=device, dtype=dtype).eval()
