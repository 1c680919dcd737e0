"""One record per prediction, the same from every entry point.

``{"label": str, "score": float, "probabilities": {label: float, ...}}``: the most likely
label, its probability, and every label's probability in the model's label order. The CLI's
JSON / JSONL output, ``Pipeline``, the HTTP API (and its page) and
``TextClassifier.predict_records`` all build it here, with ``prediction_records``.

Flat tables (``classify --output x.csv``, the CLI's printed table) hold the same record one
column per value: ``label``, ``score``, then ``probabilities.<label>`` per label (the names
``pandas.json_normalize`` gives the JSON record); ``record_from_flat`` reads a row back.

``ranked`` gives transformers' ``top_k`` shape: ``[{"label", "score"}, ...]``, best first.

Other problem types extend the record here (multi-label: a ``labels`` list beside
per-label probabilities; regression: a ``value``): dict fields flatten to
``<field>.<key>`` columns and numeric fields read back as floats, so only the builder and
the two tuples below change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InputError, shown

__all__ = [
    "FLAT_SEPARATOR",
    "check_top_k",
    "flat_columns",
    "flat_record",
    "prediction_record",
    "prediction_records",
    "ranked",
    "record_from_flat",
]

FLAT_SEPARATOR = "."
"""Joins a dict field and its key in a flat column name: ``probabilities.positive``."""
_NESTED = ("probabilities",)
"""Record fields that hold a dict (one flat column per key)."""
_NUMBERS = ("score",)
"""Record fields that hold a number (read back from text as floats)."""


def prediction_record(
    row: Sequence[float], labels: Sequence[str], decimals: int | None = None
) -> dict[str, Any]:
    """The record of one input's class probabilities ``row`` (column i is ``labels[i]``);
    ``decimals`` rounds the numbers (the label is chosen before rounding)."""
    values = [float(v) for v in row]
    if len(values) != len(labels) or not values:
        raise ValueError(f"{len(values)} probabilities for {len(labels)} labels {list(labels)}")
    best = max(range(len(values)), key=values.__getitem__)  # the first of equal ones
    if decimals is not None:
        values = [round(v, decimals) for v in values]
    return {
        "label": labels[best],
        "score": values[best],
        "probabilities": dict(zip(labels, values, strict=True)),
    }


def prediction_records(
    probs: Any, labels: Sequence[str], decimals: int | None = None
) -> list[dict[str, Any]]:
    """One record per row of ``probs`` ([N, C]: a tensor, an array or nested lists)."""
    rows = probs.tolist() if hasattr(probs, "tolist") else probs
    return [prediction_record(row, labels, decimals) for row in rows]


def check_top_k(top_k: Any) -> None:
    """Refuse a ``top_k`` that is neither None (every label) nor an int >= 1."""
    if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1):
        raise InputError(f"top_k must be an int >= 1 or None (every label), got {shown(top_k)}")


def ranked(record: Mapping[str, Any], top_k: int | None = None) -> list[dict[str, Any]]:
    """The ``top_k`` most likely labels of ``record`` (None: all) as transformers'
    ``[{"label": str, "score": float}, ...]``, best first (equal ones in label order)."""
    check_top_k(top_k)
    items = sorted(record["probabilities"].items(), key=lambda kv: kv[1], reverse=True)
    return [{"label": label, "score": p} for label, p in items[:top_k]]


def flat_columns(labels: Sequence[str]) -> list[str]:
    """The flat column names of a record over ``labels``, in order."""
    return ["label", "score", *(f"probabilities{FLAT_SEPARATOR}{lab}" for lab in labels)]


def flat_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` as one flat row: a dict field becomes one ``<field>.<key>`` column per key."""
    row: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, Mapping):
            row.update({f"{key}{FLAT_SEPARATOR}{k}": v for k, v in value.items()})
        else:
            row[key] = value
    return row


def record_from_flat(row: Mapping[str, Any]) -> dict[str, Any]:
    """The record a flat row holds (the inverse of ``flat_record``): numbers are read back
    from text (a CSV cell); columns that are no record field (``text``) are left out."""
    record: dict[str, Any] = {}
    for key, value in row.items():
        field, sep, rest = key.partition(FLAT_SEPARATOR)
        if sep and field in _NESTED:
            record.setdefault(field, {})[rest] = float(value)
        elif key in _NUMBERS:
            record[key] = float(value)
        elif key == "label":
            record[key] = value
    return record
