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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
import torch.nn as nn

from ...errors import InputError
from ...folder import (
    CONFIG_FILE,
    HEAD_INIT_FILE,
    HEAD_INIT_LEGACY_FILE,
    META_FILE,
    NEW_EMBEDDINGS_FILES,
    REPAIR,
    SPARSE_DELTAS_FILE,
    SPARSE_DELTAS_LEGACY_FILE,
    adapter_meta,
    atomic_folder,
    base_model_of,
    check_finite,
    check_meta,
    read_config,
    read_meta,
    read_tensors,
    write_json,
    write_meta,
)
from ...folder.card import adapter_card, portable_path, write_card
from ...models.archs import ARCHS
from ...problems.types import HF_PROBLEM_TYPES
from .model import SpaRTAModel

__all__ = [
    "SpaRTAAdapter",
    "add_deltas_into",
    "check_fits",
    "read_sparta_adapter",
    "save_sparta_adapter",
]

_INDEX_DTYPES = (torch.int32, torch.int64)

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
    deltas_file: Path | None = None
    """The file the indices and deltas came from (named in errors)."""
    head_file: Path | None = None

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

    def init_of(self, name: str, main_head: str) -> torch.Tensor | None:
        """The initial value of head tensor ``name`` (None: not rebuilt from an init)."""
        init = self.head_init.get(name)
        if init is None and name == main_head:
            init = self.head_init.get("head")
        return init

    def head_value(self, name: str, main_head: str, shape: torch.Size | None) -> torch.Tensor:
        init = self.init_of(name, main_head)
        delta = self.deltas[name]
        return init.float() + delta.float().view(init.shape if shape is None else shape)


def _require(path: Path, *names: str) -> Path:
    for name in names:
        if (path / name).is_file():
            return path / name
    raise FileNotFoundError(f"adapter folder {path} has no {' or '.join(names)}")


def _named_tensors(data: Any, file: Path, what: str = "named tensors") -> dict[str, torch.Tensor]:
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in data.items()
    ):
        raise InputError(f"{file} does not hold {what}; {REPAIR}")
    return data


def _read_sparse(file: Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(indices, deltas) by parameter name, their dtypes, shapes and values checked."""
    raw = read_tensors(file)
    if isinstance(raw, dict) and isinstance(raw.get("indices"), dict):  # legacy nested .pt
        indices = _named_tensors(raw["indices"], file, "indices by parameter name")
        deltas = _named_tensors(raw.get("deltas"), file, "deltas by parameter name")
    else:
        raw = _named_tensors(raw, file)
        bad = [k for k in raw if not k.startswith(("indices.", "deltas."))]
        if bad:
            raise InputError(
                f"{file}: unexpected tensor {bad[0]!r} (only indices.<name> and "
                f"deltas.<name>); {REPAIR}"
            )
        indices = {k[8:]: v for k, v in raw.items() if k.startswith("indices.")}
        deltas = {k[7:]: v for k, v in raw.items() if k.startswith("deltas.")}
    lone = sorted(set(indices) ^ set(deltas))
    if lone:
        has, lacks = ("indices", "deltas") if lone[0] in indices else ("deltas", "indices")
        raise InputError(f"{file}: {has}.{lone[0]} has no {lacks}.{lone[0]}; {REPAIR}")
    for name, idx in indices.items():
        delta = deltas[name]
        if idx.dtype not in _INDEX_DTYPES or idx.dim() != 2:
            raise InputError(
                f"{file}: indices.{name} is {_kind(idx)}, not int32 / int64 of shape "
                f"[n, ndim]; {REPAIR}"
            )
        if delta.dtype != torch.float32 or delta.dim() != 1 or len(delta) != len(idx):
            raise InputError(
                f"{file}: deltas.{name} is {_kind(delta)}, not float32 of shape [{len(idx)}] "
                f"(one per row of indices.{name}); {REPAIR}"
            )
    check_finite(((f"deltas.{n}", d) for n, d in deltas.items()), file)
    return indices, deltas


def _kind(t: torch.Tensor) -> str:
    return f"{str(t.dtype).removeprefix('torch.')} of shape {list(t.shape)}"


def _read_floats(file: Path, key: str) -> dict[str, torch.Tensor]:
    """A head-init or new-embeddings file: float tensors by name (a bare legacy tensor is
    stored under ``key``), free of NaN and inf."""
    data = read_tensors(file)
    tensors = {key: data} if isinstance(data, torch.Tensor) else _named_tensors(data, file)
    for name, t in tensors.items():
        if not t.is_floating_point():
            raise InputError(f"{file}: tensor {name!r} is {_kind(t)}, not floats; {REPAIR}")
    check_finite(tensors.items(), file)
    return tensors


def _check_labels(path: Path, config: dict[str, Any], meta: dict[str, Any], head: Any) -> None:
    """config.json's labels agree with phalanx.json's and with the head's rows."""
    n = len(config["id2label"])
    labels = meta.get("labels")
    if labels and len(labels) != n:
        raise InputError(
            f"{path / META_FILE} lists {len(labels)} labels but {path / CONFIG_FILE} has {n} "
            f"in id2label; {REPAIR}"
        )
    if head is not None and (head.dim() < 1 or head.shape[0] != n):
        raise InputError(
            f"{path / CONFIG_FILE} lists {n} labels but the head in its head init has shape "
            f"{list(head.shape)} (one row per label); {REPAIR}"
        )


def read_sparta_adapter(path: str | Path, meta: dict[str, Any] | None = None) -> SpaRTAAdapter:
    """Read and validate an adapter folder written by phalanx or by peft-sparta.

    Every tensor is checked on its own (dtype, shape, NaN / inf) and against the config's
    labels; :func:`check_fits` checks it against the base model. ``meta`` is the folder's
    already parsed ``phalanx.json``, if at hand.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"adapter folder {path} does not exist")
    _require(path, CONFIG_FILE)
    config = read_config(path)
    problem_type = config.get("problem_type") or "single_label_classification"
    if problem_type not in HF_PROBLEM_TYPES.values():
        raise ValueError(
            f"{path}: problem_type {problem_type!r} is not supported; use one of "
            f"{', '.join(HF_PROBLEM_TYPES.values())}"
        )
    if "sparta_pretrained_model" not in config:
        if "_name_or_path" not in config:
            raise ValueError(f"{path}/{CONFIG_FILE} names no base model (sparta_pretrained_model)")
        config["sparta_pretrained_model"] = config["_name_or_path"]
    if "id2label" not in config:
        raise InputError(f"{path / CONFIG_FILE} has no id2label; {REPAIR}")
    meta = read_meta(path) if meta is None else check_meta(meta, path / META_FILE)
    deltas_file = _require(path, SPARSE_DELTAS_FILE, SPARSE_DELTAS_LEGACY_FILE)
    indices, deltas = _read_sparse(deltas_file)
    spec = ARCHS.get(config.get("model_type") or "")  # peft-sparta folders name no head
    main = meta.get("main_head") or (spec.main_head if spec else "score.weight")
    head_file = None
    if meta.get("task") == "generative":  # an LM's deltas: no classification head
        head_init = {}
    else:
        head_file = _require(path, HEAD_INIT_FILE, HEAD_INIT_LEGACY_FILE)
        head_init = _read_floats(head_file, "head")
    new_emb = None
    for name in NEW_EMBEDDINGS_FILES:
        if (path / name).is_file():
            new_emb = _read_floats(path / name, "new_embeddings").get("new_embeddings")
            if new_emb is None or new_emb.dim() != 2:
                raise InputError(
                    f"{path / name} holds no new_embeddings tensor of shape [tokens, hidden]; "
                    f"{REPAIR}"
                )
    adapter = SpaRTAAdapter(
        path, config, indices, deltas, head_init, new_emb, meta, deltas_file, head_file
    )
    if head_init:
        _check_labels(path, config, meta, adapter.init_of(main, main))
        both = [head_init[k] for k in ("head", main) if k in head_init]
        if len(both) == 2 and not torch.equal(*both):  # peft-sparta reads "head"
            raise InputError(f"{head_file}: tensors 'head' and {main!r} differ; {REPAIR}")
    for name in adapter.head_names(main):
        init = adapter.init_of(name, main)
        if name not in deltas or len(deltas[name]) != init.numel():
            got = f"{len(deltas[name])} deltas" if name in deltas else "no deltas"
            raise InputError(
                f"{deltas_file}: head tensor {name} has {init.numel()} initial values in "
                f"{head_file.name} but {got} (a head is trained fully); {REPAIR}"
            )
    return adapter


def check_fits(
    ad: SpaRTAAdapter,
    shapes: Mapping[str, torch.Size],
    is_head: Callable[[str], bool],
    main_head: str,
) -> None:
    """Refuse an adapter that does not fit the base whose parameter shapes are ``shapes``.

    Every parameter has an entry (heads aside, peft-sparta writes them all) and every entry
    is a parameter; each index row has one coordinate per dimension, inside the shape; a
    head init has the parameter's shape (the final layer: one row per label).
    """
    file = ad.deltas_file or ad.path
    unknown = [n for n in ad.deltas if n not in shapes]
    if unknown:
        raise InputError(
            f"{file}: deltas.{unknown[0]} is no parameter of the base model "
            f"{ad.base_model!r} (and {len(unknown) - 1} more): the adapter belongs to another "
            f"model; load it with its own base, or {REPAIR}"
        )
    missing = [n for n in shapes if n not in ad.deltas and not is_head(n)]
    if missing:
        raise InputError(
            f"{file} has no entry for parameter {missing[0]!r} of the base model (and "
            f"{len(missing) - 1} more): another base model? {REPAIR}"
        )
    final = main_head.rpartition(".")[0]
    for name, shape in shapes.items():
        init = ad.init_of(name, main_head) if is_head(name) else None
        if init is not None:
            rows_ok = init.shape[:1] == shape[:1] or name.rpartition(".")[0] == final
            if init.dim() != len(shape) or init.shape[1:] != shape[1:] or not rows_ok:
                raise InputError(
                    f"{ad.head_file}: the head init of {name} has shape {list(init.shape)} "
                    f"but the model's {name} has {list(shape)}; {REPAIR}"
                )
        elif name in ad.indices:
            _check_positions(file, name, ad.indices[name], shape)


def _check_positions(file: Path, name: str, idx: torch.Tensor, shape: torch.Size) -> None:
    if idx.shape[1] != len(shape):
        raise InputError(
            f"{file}: indices.{name} has {idx.shape[1]} coordinates per row but the "
            f"parameter has {len(shape)} dimensions {list(shape)}; {REPAIR}"
        )
    if not len(idx):
        return
    low, high = idx.min(0).values, idx.max(0).values
    limit = torch.tensor(list(shape), dtype=high.dtype)
    if bool((low < 0).any()) or bool((high >= limit).any()):
        dim = int(((low < 0) | (high >= limit)).nonzero()[0])
        bad = int(low[dim]) if low[dim] < 0 else int(high[dim])
        raise InputError(
            f"{file}: indices.{name} holds position {bad} in dimension {dim}, outside the "
            f"parameter's shape {list(shape)}; {REPAIR}"
        )


def config_dict(sparta: SpaRTAModel, base_model: str, id2label: dict[int, str]) -> dict:
    """The classifier config with peft-sparta's extra fields."""
    cfg = json.loads(sparta.model.config.to_json_string(use_diff=False))
    cfg["architectures"] = [type(sparta.model).__name__]
    cfg["sparta_pretrained_model"] = base_model
    cfg["_name_or_path"] = base_model
    cfg["problem_type"] = sparta.model.config.problem_type or "single_label_classification"
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
    """Write ``sparta`` as an adapter folder (atomically, with its model card ``README.md``)
    and return its path."""
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
    card = adapter_card(
        full_meta,
        name=portable_path(path) or "adapter",
        problem_type=sparta.model.config.problem_type,
    )
    with atomic_folder(path, overwrite=overwrite) as tmp:
        safetensors.torch.save_file(tensors, str(tmp / SPARSE_DELTAS_FILE))
        if head:
            safetensors.torch.save_file(head, str(tmp / HEAD_INIT_FILE))
        write_json(tmp / CONFIG_FILE, config_dict(sparta, base_model, id2label))
        write_meta(tmp, full_meta)
        write_card(tmp, card)
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
    check_fits(ad, {n: p.shape for n, p in model.named_parameters()}, lambda _: False, "")
    for name, p in model.named_parameters():
        delta = ad.deltas[name]
        if delta.numel():
            idx = tuple(ad.indices[name].long().to(p.device).unbind(1))
            p[idx] = (p[idx].float() + delta.to(p.device)).to(p.dtype)
    return model
