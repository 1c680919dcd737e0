"""The export folder: ``model.onnx``, tokenizer files and ``phalanx_export.json``.

The metadata carries what inference needs without the adapter: labels, template, max
length, architecture, padding side, quantization, and a format version that readers check.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "META_FILE",
    "MODEL_FILE",
    "is_export",
    "read_export_meta",
]

EXPORT_FORMAT = "phalanx-onnx-export"
EXPORT_VERSION = 1
"""Bumped when a reader of the old version would misread the folder."""
META_FILE = "phalanx_export.json"
MODEL_FILE = "model.onnx"


def _raw_meta(path: Path) -> dict[str, Any] | None:
    meta = path / META_FILE
    if not meta.is_file():
        return None
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def is_export(path: str | Path) -> bool:
    """True for a phalanx export folder (of any format version).

    >>> is_export("runs/demo/adapter")  # doctest: +SKIP
    False
    """
    p = Path(path)
    if not p.is_dir():
        return False
    data = _raw_meta(p)
    return data is not None and data.get("format") == EXPORT_FORMAT


def read_export_meta(path: str | Path) -> dict[str, Any]:
    """The metadata of an export folder this phalanx can run; clear errors otherwise."""
    p = Path(path)
    if not p.is_dir():
        raise FileNotFoundError(f"export folder {p} does not exist")
    data = _raw_meta(p)
    if data is None or data.get("format") != EXPORT_FORMAT:
        raise FileNotFoundError(
            f"{p} is not a phalanx export folder (no readable {META_FILE}); "
            "create one with: phalanx export ADAPTER --output DIR"
        )
    version = data.get("format_version")
    if version != EXPORT_VERSION:
        raise ValueError(
            f"export folder {p} has format version {version!r} but this phalanx reads version "
            f"{EXPORT_VERSION}; export the adapter again with this phalanx "
            "(phalanx export ADAPTER --output DIR)"
        )
    model = p / data.get("model_file", MODEL_FILE)
    if not model.is_file():
        raise FileNotFoundError(f"export folder {p} lacks {model.name}; export it again")
    return data
