"""Calibration inputs for int8 exports, read from a dataset by the adapter's own columns.

Calibration needs texts only: no label column is read or asked for. The text (and second
text) columns default to those the adapter's training run read.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["CALIBRATION_SIZE", "calibration_source", "calibration_texts"]

CALIBRATION_SIZE = 256
"""Texts calibrated on by default."""


def calibration_source(meta: dict[str, Any]) -> str | None:
    """The dataset an adapter was trained on (its ``phalanx.json`` ``meta``), if recorded."""
    training = meta.get("training") if isinstance(meta.get("training"), dict) else {}
    dataset = meta.get("dataset") if isinstance(meta.get("dataset"), dict) else {}
    source = training.get("dataset") or dataset.get("source")
    return source if isinstance(source, str) and source else None


def calibration_texts(
    adapter: str | os.PathLike,
    source: str | None = None,
    size: int = CALIBRATION_SIZE,
    *,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    seed: int = 42,
) -> list[Any] | None:
    """Up to ``size`` inputs of ``source`` (default: the adapter's training dataset; None
    when it records none) to calibrate an int8 export of ``adapter`` on: texts, or dicts of
    the adapter's template fields when it joins a text and a second text.

    ``text_column`` / ``text_pair_column`` default to the training run's columns, else
    ``text``. Rows with an empty text are skipped; an empty result is an InputError.

    >>> calibration_texts("runs/reviews", "other.csv", 128)  # doctest: +SKIP
    ['a charming journey', ...]
    """
    from ..data.templates import pair_items
    from ..data.texts import read_texts
    from ..errors import InputError
    from ..folder import read_meta, resolve_adapter, saved_columns

    meta = read_meta(resolve_adapter(adapter))
    source = source or calibration_source(meta)
    if not source:
        return None
    saved = saved_columns(meta)
    text = text_column or saved["text"] or "text"
    pair = text_pair_column or saved["text_pair"]
    template = meta.get("input_template")
    texts, pairs = read_texts(str(source), text, pair if template else None, limit=size, seed=seed)
    if not texts:
        raise InputError(f"calibration data {source!r} holds no texts (column {text!r})")
    if pairs is not None and template:
        return pair_items(template, texts, pairs)
    return texts
