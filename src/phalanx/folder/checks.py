"""Reading and checking folder metadata: phalanx.json and config.json, typed."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import InputError, shown
from .names import ADAPTER_FORMAT_VERSION, CONFIG_FILE, META_FILE, REPAIR
from .tensors import _unreadable

__all__ = [
    "LABELS_FIELD",
    "Field",
    "check_fields",
    "check_id2label",
    "check_meta",
    "is_dict",
    "is_int",
    "is_labels",
    "is_names",
    "is_str",
    "read_config",
    "read_json",
    "read_meta",
    "tensor_header",
]


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    """A JSON object from ``path``; InputError naming the file when it is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as err:  # bad UTF-8 / JSON, a 5,000-digit number
        why = "nested too deeply" if isinstance(err, RecursionError) else str(err)
        raise InputError(f"{path} is not valid JSON ({why}); {REPAIR}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path} holds a JSON {type(data).__name__}, not an object; {REPAIR}")
    return data


def _read_optional(path: Path) -> dict[str, Any]:
    return read_json(path) if path.is_file() else {}


# -- typed metadata -------------------------------------------------------------------------
Field = tuple[Callable[[Any], bool], str]
"""A JSON field's check and what it expects, for messages (``(is_str, "a string")``)."""


def is_int(low: int) -> Callable[[Any], bool]:
    """A check for an int (never a bool) of at least ``low``."""
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def is_str(v: Any) -> bool:
    return isinstance(v, str)


def is_dict(v: Any) -> bool:
    return isinstance(v, dict)


def is_names(v: Any) -> bool:
    """A list of non-empty strings."""
    return isinstance(v, list) and all(isinstance(x, str) and x for x in v)


def is_labels(v: Any) -> bool:
    """A non-empty list of distinct, non-empty strings."""
    return is_names(v) and len(v) >= 1 and len(set(v)) == len(v)


LABELS_FIELD: Field = (is_labels, "a list of distinct, non-empty strings")


def check_fields(
    data: dict[str, Any],
    fields: Mapping[str, Field],
    path: str | os.PathLike,
    fix: str = REPAIR,
    required: Iterable[str] = (),
) -> dict[str, Any]:
    """``data`` (the JSON object read from ``path``) when each field of ``fields`` that is
    there and not null passes its check and every ``required`` one is there; else InputError
    naming the file, the field, the value and ``fix``."""
    for key in required:
        if data.get(key) is None:
            raise InputError(f"{path} has no {key}; {fix}")
    for key, (ok, expected) in fields.items():
        value = data.get(key)
        if value is not None and not ok(value):
            raise InputError(
                f"{path}: {key} must be {expected}, got {shown(value)} "
                f"({type(value).__name__}); {fix}"
            )
    return data


def check_id2label(id2label: Any, path: str | os.PathLike, fix: str = REPAIR) -> list[str]:
    """The label names of an ``id2label`` mapping "0".."n-1" to distinct strings, in id
    order; InputError naming the file otherwise."""
    if isinstance(id2label, dict) and sorted(id2label) == sorted(map(str, range(len(id2label)))):
        labels = [id2label[str(i)] for i in range(len(id2label))]
        if is_labels(labels):
            return labels
    raise InputError(
        f'{path}: id2label must map "0".."n-1" to distinct label names, got '
        f"{shown(id2label)}; {fix}"
    )


_META_FIELDS: dict[str, Field] = {
    "format": (is_str, "a string"),
    "format_version": (is_int(1), "an integer >= 1"),
    "method": (is_str, "a method name (a string)"),
    "task": (is_str, "a string"),
    "base_model": (is_str, "a model name or folder (a string)"),
    "model_type": (is_str, "a string"),
    "labels": LABELS_FIELD,
    "max_length": (is_int(1), "an integer >= 1"),
    "input_template": (is_str, "a string"),
    "trainable_parameters": (is_int(0), "an integer >= 0"),
    "method_config": (is_dict, "an object"),
    "metrics": (is_dict, "an object"),
    "dataset": (is_dict, "an object"),
    "training": (is_dict, "an object"),
    "base_fingerprint": (is_dict, "an object"),
    "head_modules": (is_names, "a list of module names"),
    "main_head": (is_str, "a parameter name (a string)"),
    "verbalizers": LABELS_FIELD,
}
"""``phalanx.json``'s common fields and their types (null means: not recorded)."""

_CONFIG_FIELDS: dict[str, Field] = {
    key: (is_str, "a string")
    for key in ("model_type", "sparta_pretrained_model", "_name_or_path", "problem_type")
}


def check_meta(meta: dict[str, Any], path: str | os.PathLike) -> dict[str, Any]:
    """``meta`` (the parsed ``phalanx.json`` at ``path``) when its common fields have their
    types and its format version is one this phalanx reads; InputError otherwise."""
    path = Path(path)
    if not isinstance(meta, dict):
        raise InputError(f"{path} holds a JSON {type(meta).__name__}, not an object; {REPAIR}")
    check_fields(meta, _META_FIELDS, path)
    version = meta.get("format_version")
    if version is not None and version > ADAPTER_FORMAT_VERSION:
        raise InputError(
            f"{path} has format_version {version}: the folder was written by a newer phalanx "
            f"(this one reads {ADAPTER_FORMAT_VERSION}); upgrade phalanx"
        )
    return meta


def read_meta(folder: str | os.PathLike) -> dict[str, Any]:
    """The folder's ``phalanx.json``, its common fields checked (``{}`` when it has none: a
    peft-sparta or peft folder)."""
    path = Path(folder) / META_FILE
    return check_meta(read_json(path), path) if path.is_file() else {}


def read_config(folder: str | os.PathLike) -> dict[str, Any]:
    """The folder's ``config.json`` (``{}`` when it has none), its names and labels checked:
    ``id2label`` maps "0".."n-1" to distinct strings and ``num_labels`` agrees."""
    path = Path(folder) / CONFIG_FILE
    config = check_fields(_read_optional(path), _CONFIG_FIELDS, path)
    id2label = config.get("id2label")
    n = None if id2label is None else len(check_id2label(id2label, path))
    num = config.get("num_labels")
    if num is not None and (not is_int(1)(num) or (n is not None and num != n)):
        raise InputError(f"{path}: num_labels={shown(num)} but id2label has {n} entries; {REPAIR}")
    return config


# -- tensor files ---------------------------------------------------------------------------
def tensor_header(path: str | os.PathLike) -> dict[str, tuple[list[int], str]]:
    """``name -> (shape, dtype)`` from a ``.safetensors`` header, reading no tensor data;
    InputError naming the file when it is cut short or its header is garbled."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            return {
                k: (list(f.get_slice(k).get_shape()), str(f.get_slice(k).get_dtype()))
                for k in f.keys()  # noqa: SIM118 (safe_open is no mapping)
            }
    except (SafetensorError, OSError, ValueError) as err:
        raise _unreadable(path, err) from None
