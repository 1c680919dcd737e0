"""The adapter-folder contract: file names, the common metadata, finding and describing folders.

Every adapter folder phalanx writes holds ``phalanx.json`` (the metadata below) beside its
method's files: a SpaRTA / head folder is peft-sparta 0.0.3's layout (``config.json``,
``sparse_deltas.safetensors``, ``head_init.safetensors``), a peft folder is peft's
(``adapter_config.json``, ``adapter_model.safetensors``), a full fine-tune is a plain
transformers folder (``config.json``, ``model.safetensors``, ``pruning.json`` when heads or
neurons were removed). Only this module spells those names.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "ADAPTER_FORMAT",
    "ADAPTER_FORMAT_VERSION",
    "CONFIG_FILE",
    "HEAD_INIT_FILE",
    "HEAD_INIT_LEGACY_FILE",
    "META_FILE",
    "MODEL_WEIGHTS_FILE",
    "NEW_EMBEDDINGS_FILES",
    "PEFT_CONFIG_FILE",
    "PEFT_WEIGHTS_FILE",
    "PRUNING_FILE",
    "SPARSE_DELTAS_FILE",
    "SPARSE_DELTAS_LEGACY_FILE",
    "TOKENIZER_CONFIG_FILE",
    "adapter_info",
    "adapter_meta",
    "atomic_folder",
    "base_model_of",
    "has_tokenizer",
    "labels_of",
    "read_json",
    "read_meta",
    "resolve_adapter",
    "write_json",
    "write_meta",
]

META_FILE = "phalanx.json"
"""phalanx's metadata: method, its config, base model, labels, template, max length, ..."""
CONFIG_FILE = "config.json"
"""The transformers config (SpaRTA folders add ``sparta_pretrained_model``)."""
SPARSE_DELTAS_FILE = "sparse_deltas.safetensors"
"""SpaRTA: ``indices.<name>`` int32 [n, ndim] and ``deltas.<name>`` fp32 [n] per parameter."""
SPARSE_DELTAS_LEGACY_FILE = "sparse_deltas.pt"
"""peft-sparta's older pickle of the same (read with ``weights_only=True``)."""
HEAD_INIT_FILE = "head_init.safetensors"
"""SpaRTA: the head's initial weights (key ``head``, plus one key per head tensor)."""
HEAD_INIT_LEGACY_FILE = "head_init.pt"
NEW_EMBEDDINGS_FILES = ("new_embeddings_init.safetensors", "new_embeddings_init.pt")
"""SpaRTA: rows of tokens added to the vocabulary (read only)."""
PEFT_CONFIG_FILE = "adapter_config.json"
PEFT_WEIGHTS_FILE = "adapter_model.safetensors"
MODEL_WEIGHTS_FILE = "model.safetensors"
"""A full fine-tune's weights (``save_pretrained``)."""
PRUNING_FILE = "pruning.json"
"""The heads and neurons each layer kept (structurally pruned full models)."""
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
ADAPTER_FORMAT = "phalanx-adapter"
ADAPTER_FORMAT_VERSION = 1
"""Bumped when a reader of the old version would misread the folder."""


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces ``path`` in one rename.

    Example:
        >>> with atomic_folder("out/adapter") as tmp:  # doctest: +SKIP
        ...     (tmp / "config.json").write_text("{}")
    """
    final = Path(path)
    if final.exists() and not final.is_dir():
        raise FileExistsError(f"{final} exists and is not a folder")
    if final.is_dir() and any(final.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{final} exists and is not empty; choose another folder or pass overwrite=True "
            "(--overwrite on the command line)"
        )
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
        old = None
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_json(path: str | os.PathLike, data: Any) -> None:
    """``data`` as indented JSON with sorted keys (the layout every phalanx file uses)."""
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    """A JSON object from ``path``; ValueError naming the file when it is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(
            f"{path} is not valid JSON ({err}); restore it from the adapter's original copy "
            "or save the adapter again"
        ) from None
    if not isinstance(data, dict):
        raise ValueError(
            f"{path} holds a JSON {type(data).__name__}, not an object; restore it from the "
            "adapter's original copy or save the adapter again"
        )
    return data


def _read_optional(path: Path) -> dict[str, Any]:
    return read_json(path) if path.is_file() else {}


def read_meta(folder: str | os.PathLike) -> dict[str, Any]:
    """The folder's ``phalanx.json`` (``{}`` when it has none: a peft-sparta or peft folder)."""
    return _read_optional(Path(folder) / META_FILE)


def write_meta(folder: str | os.PathLike, meta: dict[str, Any]) -> None:
    """Write ``phalanx.json`` into ``folder``."""
    write_json(Path(folder) / META_FILE, meta)


def adapter_meta(
    model_config: Any,
    *,
    method: str,
    method_config: dict[str, Any],
    base_model: str,
    trainable_parameters: int,
    fields: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The common ``phalanx.json`` fields every writer records, then ``fields`` (the
    method's own, e.g. ``base_fingerprint``), then ``extra`` (the caller's: template,
    max length, metrics, ...; it wins).

    ``model_config`` is the transformers config of the saved model (labels, model type).
    """
    id2label = {int(k): v for k, v in model_config.id2label.items()}
    return {
        "format": ADAPTER_FORMAT,
        "format_version": ADAPTER_FORMAT_VERSION,
        "method": method,
        "method_config": method_config,
        "base_model": base_model,
        "model_type": model_config.model_type,
        "labels": [id2label[i] for i in sorted(id2label)],
        "trainable_parameters": trainable_parameters,
        **(fields or {}),
        **(extra or {}),
    }


def base_model_of(
    folder: str | os.PathLike,
    meta: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
) -> str | None:
    """The base model a folder needs, or None when it names none.

    ``phalanx.json``'s ``base_model`` wins; then peft-sparta's ``sparta_pretrained_model``
    in ``config.json``, peft's ``base_model_name_or_path`` in ``adapter_config.json``, and
    last ``config.json``'s ``_name_or_path`` (older peft-sparta adapters). ``meta`` and
    ``config`` are the already parsed ``phalanx.json`` / ``config.json``, if at hand.
    """
    folder = Path(folder)
    meta = read_meta(folder) if meta is None else meta
    if meta.get("base_model"):
        return str(meta["base_model"])
    config = _read_optional(folder / CONFIG_FILE) if config is None else config
    base = (
        config.get("sparta_pretrained_model")
        or _read_optional(folder / PEFT_CONFIG_FILE).get("base_model_name_or_path")
        or config.get("_name_or_path")
    )
    return str(base) if base else None


def labels_of(
    folder: str | os.PathLike,
    meta: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
) -> list[str] | None:
    """The class names in id order: ``phalanx.json``'s, else ``config.json``'s ``id2label``."""
    meta = read_meta(folder) if meta is None else meta
    if meta.get("labels"):
        return list(meta["labels"])
    config = _read_optional(Path(folder) / CONFIG_FILE) if config is None else config
    id2label = config.get("id2label") or {}
    return [id2label[k] for k in sorted(id2label, key=int)] or None


def has_tokenizer(folder: str | os.PathLike) -> bool:
    """Whether the folder carries its own tokenizer (else the base model's is used)."""
    return (Path(folder) / TOKENIZER_CONFIG_FILE).is_file()


def resolve_adapter(path: str | None) -> Path:
    """An adapter folder, or a run folder holding ``adapter/``."""
    if not path:
        raise ValueError("give the adapter folder (e.g. runs/NAME/adapter)")
    p = Path(path).expanduser()
    if not p.is_dir():
        raise FileNotFoundError(f"adapter folder {path!r} does not exist")
    if not any((p / f).is_file() for f in (META_FILE, CONFIG_FILE, PEFT_CONFIG_FILE)):
        if (p / "adapter").is_dir():
            return p / "adapter"
        if (p / "checkpoints").is_dir():
            raise ValueError(
                f"{path!r} is a run folder without a finished adapter (training did not "
                "complete); continue it with: phalanx train --output "
                f"{path} --resume"
            )
        raise ValueError(f"{path!r} holds no adapter (no {META_FILE} / {CONFIG_FILE})")
    return p


def adapter_info(path: Path) -> dict[str, Any]:
    """What ``phalanx info`` shows, read from the folder's JSON files only."""
    from .registry import method_for_folder

    meta = read_meta(path)
    config = _read_optional(path / CONFIG_FILE)
    method = method_for_folder(path, meta)
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return {
        "adapter": str(path),
        "method": method.name,
        "base_model": base_model_of(path, meta, config),
        "model_type": meta.get("model_type") or config.get("model_type"),
        "trainable_parameters": meta.get("trainable_parameters"),
        "labels": labels_of(path, meta, config) or [],
        "input_template": meta.get("input_template"),
        "max_length": meta.get("max_length"),
        "size_bytes": size,
        "method_config": meta.get("method_config"),
        "metrics": meta.get("metrics", {}),
        "dataset": meta.get("dataset", {}).get("source"),
    }
