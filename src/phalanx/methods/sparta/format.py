"""Adapter folders in the exact layout of ``peft-sparta`` 0.0.3, plus ``phalanx.json``.

Files (names in ``phalanx.folder``):
    config.json                 the classifier's config + ``sparta_pretrained_model``
    sparse_deltas.safetensors   ``indices.<name>`` int32 [n, ndim], ``deltas.<name>`` fp32 [n]
                                for every parameter (legacy: ``sparse_deltas.pt``)
    head_init.safetensors       ``head``: the final head weight at init (legacy ``.pt``); we
                                also store every head tensor's init under its own name
    new_embeddings_init.*       optional, when tokens were added (read only)
    phalanx.json                our metadata: method, density, seed, template, labels, ...
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
import torch.nn as nn

from ...folder import (
    ADAPTER_FORMAT_VERSION,
    CONFIG_FILE,
    HEAD_INIT_FILE,
    HEAD_INIT_LEGACY_FILE,
    NEW_EMBEDDINGS_FILES,
    SPARSE_DELTAS_FILE,
    SPARSE_DELTAS_LEGACY_FILE,
    adapter_meta,
    atomic_folder,
    base_model_of,
    read_json,
    read_meta,
    write_json,
    write_meta,
)
from .model import SpaRTAModel

__all__ = ["SpaRTAAdapter", "add_deltas_into", "read_sparta_adapter", "save_sparta_adapter"]

log = logging.getLogger(__name__)


@dataclass
class SpaRTAAdapter:
    """The contents of a SpaRTA adapter folder, as tensors on the CPU."""

    path: Path
    config: dict[str, Any]
    indices: dict[str, torch.Tensor]
    deltas: dict[str, torch.Tensor]
    head_init: dict[str, torch.Tensor]
    new_embeddings: torch.Tensor | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def base_model(self) -> str:
        return str(base_model_of(self.path, self.meta, self.config))

    @property
    def id2label(self) -> dict[str, str]:
        return {str(k): v for k, v in self.config["id2label"].items()}

    @property
    def num_labels(self) -> int:
        return len(self.config["id2label"])

    def head_names(self, main_head: str) -> list[str]:
        """Parameters that are fully trained and rebuilt from ``head_init + deltas``."""
        names = [k for k in self.head_init if k != "head"]
        if "head" in self.head_init and main_head not in names:
            names.append(main_head)
        return names

    def head_value(self, name: str, main_head: str, shape: torch.Size | None) -> torch.Tensor:
        init = self.head_init.get(name)
        if init is None and name == main_head:
            init = self.head_init["head"]
        delta = self.deltas[name]
        if init.numel() != delta.numel():
            raise ValueError(
                f"{self.path}: head {name} has {init.numel()} initial values but "
                f"{delta.numel()} deltas; the adapter is corrupt"
            )
        return init.float() + delta.float().view(init.shape if shape is None else shape)


def _require(path: Path, *names: str) -> Path:
    for name in names:
        if (path / name).is_file():
            return path / name
    raise FileNotFoundError(f"adapter folder {path} has no {' or '.join(names)}")


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        return safetensors.torch.load_file(str(path), device="cpu")
    # legacy peft-sparta pickles: never unpickle arbitrary objects
    return torch.load(path, map_location="cpu", weights_only=True)


def read_sparta_adapter(path: str | Path, meta: dict[str, Any] | None = None) -> SpaRTAAdapter:
    """Read and validate an adapter folder written by phalanx or by peft-sparta.

    ``meta`` is the folder's already parsed ``phalanx.json``, if at hand.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"adapter folder {path} does not exist")
    config = read_json(_require(path, CONFIG_FILE))
    if config.get("problem_type", "single_label_classification") != "single_label_classification":
        raise ValueError(
            f"{path}: problem_type {config['problem_type']!r} is not supported; "
            "only single_label_classification"
        )
    if "sparta_pretrained_model" not in config:
        if "_name_or_path" not in config:
            raise ValueError(f"{path}/{CONFIG_FILE} names no base model (sparta_pretrained_model)")
        config["sparta_pretrained_model"] = config["_name_or_path"]
    if "id2label" not in config:
        raise ValueError(f"{path}/{CONFIG_FILE} has no id2label")
    if "num_labels" in config and config["num_labels"] != len(config["id2label"]):
        raise ValueError(
            f"{path}/{CONFIG_FILE}: num_labels={config['num_labels']} but id2label has "
            f"{len(config['id2label'])} entries"
        )
    raw = _load_tensors(_require(path, SPARSE_DELTAS_FILE, SPARSE_DELTAS_LEGACY_FILE))
    if "indices" in raw and isinstance(raw["indices"], dict):
        indices, deltas = raw["indices"], raw["deltas"]
    else:
        indices = {k[8:]: v for k, v in raw.items() if k.startswith("indices.")}
        deltas = {k[7:]: v for k, v in raw.items() if k.startswith("deltas.")}
        bad = [k for k in raw if not k.startswith(("indices.", "deltas."))]
        if bad:
            raise ValueError(f"{path}: unexpected key {bad[0]!r} in {SPARSE_DELTAS_FILE}")
    meta = read_meta(path) if meta is None else meta
    if meta.get("task") == "generative":  # an LM's deltas: no classification head
        head_init = {}
    else:
        head = _load_tensors(_require(path, HEAD_INIT_FILE, HEAD_INIT_LEGACY_FILE))
        head_init = head if isinstance(head, dict) else {"head": head}
    new_emb = None
    for name in NEW_EMBEDDINGS_FILES:
        if (path / name).is_file():
            t = _load_tensors(path / name)
            new_emb = t["new_embeddings"] if isinstance(t, dict) else t
    if meta.get("format_version", ADAPTER_FORMAT_VERSION) > ADAPTER_FORMAT_VERSION:
        raise ValueError(
            f"{path} was written by a newer phalanx (format {meta['format_version']}); upgrade"
        )
    adapter = SpaRTAAdapter(path, config, indices, deltas, head_init, new_emb, meta)
    for name in adapter.head_names(meta.get("main_head", "score.weight")):
        if name not in deltas:
            raise ValueError(f"{path}: head {name} has an initial value but no deltas")
    return adapter


def config_dict(sparta: SpaRTAModel, base_model: str, id2label: dict[int, str]) -> dict:
    """The classifier config with peft-sparta's extra fields."""
    cfg = json.loads(sparta.model.config.to_json_string(use_diff=False))
    cfg["architectures"] = [type(sparta.model).__name__]
    cfg["sparta_pretrained_model"] = base_model
    cfg["_name_or_path"] = base_model
    cfg["problem_type"] = "single_label_classification"
    cfg["id2label"] = {str(i): label for i, label in id2label.items()}
    cfg["label2id"] = {label: int(i) for i, label in id2label.items()}
    return cfg


def save_sparta_adapter(
    sparta: SpaRTAModel,
    path: str | Path,
    *,
    base_model: str,
    meta: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``sparta`` as an adapter folder (atomically) and return its path."""
    id2label = {int(k): v for k, v in sparta.model.config.id2label.items()}
    state = sparta.sparse_state()
    tensors = {}
    for name, (idx, delta) in state.items():
        tensors[f"indices.{name}"] = idx
        tensors[f"deltas.{name}"] = delta
    main = sparta.arch.main_head
    head = {n: t.float().contiguous() for n, t in sparta.head_init.items()}
    if main in head:
        head["head"] = head[main].clone()
    full_meta = adapter_meta(
        sparta.model.config,
        method=getattr(sparta.sparta_config, "method_name", "sparta"),
        method_config=sparta.sparta_config.to_dict(),
        base_model=base_model,
        trainable_parameters=sparta.num_trainable_parameters(),
        fields={
            "base_fingerprint": sparta.base_fingerprint,
            "head_modules": list(sparta.head_modules),
            "main_head": main,
            "adapted_tensors": len(sparta.deltas),
        },
        extra=meta,
    )
    with atomic_folder(path, overwrite=overwrite) as tmp:
        safetensors.torch.save_file(tensors, str(tmp / SPARSE_DELTAS_FILE))
        if head:
            safetensors.torch.save_file(head, str(tmp / HEAD_INIT_FILE))
        write_json(tmp / CONFIG_FILE, config_dict(sparta, base_model, id2label))
        write_meta(tmp, full_meta)
    log.info("SpaRTA adapter saved to %s", path)
    return Path(path)


@torch.no_grad()
def add_deltas_into(
    model: nn.Module, path: str | Path, meta: dict[str, Any] | None = None
) -> nn.Module:
    """Add a SpaRTA folder's deltas into ``model`` in place (irreversible) and return it.

    Used for language models (``task: generative`` folders), whose every parameter has an
    entry and which have no classification head.
    """
    ad = read_sparta_adapter(path, meta)
    for name, p in model.named_parameters():
        delta = ad.deltas.get(name)
        if delta is None:
            raise ValueError(f"adapter {path} has no entry for {name!r}: another base model?")
        if delta.numel():
            idx = tuple(ad.indices[name].long().to(p.device).unbind(1))
            p[idx] = (p[idx].float() + delta.to(p.device)).to(p.dtype)
    return model
