"""The common metadata every adapter folder records, and what it says (base model, labels)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .checks import _read_optional, read_config, read_meta
from .names import (
    ADAPTER_FORMAT,
    ADAPTER_FORMAT_VERSION,
    EXPORT_FORMAT,
    EXPORT_META_FILE,
    META_FILE,
    PEFT_CONFIG_FILE,
    TOKENIZER_CONFIG_FILE,
)
from .writing import write_json

__all__ = ["adapter_meta", "base_model_of", "has_tokenizer", "is_export", "labels_of", "write_meta"]


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
    config = read_config(folder) if config is None else config
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
    config = read_config(folder) if config is None else config
    id2label = config.get("id2label") or {}
    return [id2label[k] for k in sorted(id2label, key=int)] or None


def has_tokenizer(folder: str | os.PathLike) -> bool:
    """Whether the folder carries its own tokenizer (else the base model's is used)."""
    return (Path(folder) / TOKENIZER_CONFIG_FILE).is_file()


def is_export(path: str | os.PathLike) -> bool:
    """True for a phalanx export folder (of any format version), or a folder whose
    ``phalanx_export.json`` is broken (``read_export_meta`` then says how).

    >>> is_export("runs/demo/adapter")  # doctest: +SKIP
    False
    """
    file = Path(path) / EXPORT_META_FILE
    if not file.is_file():
        return False
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return True
    return not isinstance(data, dict) or data.get("format") == EXPORT_FORMAT
