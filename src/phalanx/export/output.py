"""Where an export may be written: never over its input, and over a folder only its own files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..folder import CARD_FILE, TOKENIZER_FILES, base_model_of, check_apart, check_writable
from .format import META_FILE, MODEL_FILE

__all__ = ["EXPORT_FILES", "check_export_output"]

EXPORT_FILES = (MODEL_FILE, f"{MODEL_FILE}.data", META_FILE, CARD_FILE, *TOKENIZER_FILES)
"""What an export writes: the files ``overwrite`` replaces in an existing folder (others stay)."""


def check_export_output(
    output: str | Path, source: str | Path, overwrite: bool, name: str = "input adapter"
) -> None:
    """Refuse, before any work, an export folder that is, holds or lies inside ``source`` (an
    adapter or export folder) or the adapter's local base model, or a non-empty one without
    ``overwrite``."""
    inputs: dict[str, Any] = {name: source}
    if Path(source).is_dir() and not (Path(source) / META_FILE).is_file():
        inputs["base model"] = base_model_of(source)
    check_apart(output, inputs)
    check_writable(output, overwrite)
