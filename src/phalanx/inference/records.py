"""One record per prediction, the same from every entry point.

The record depends on the model's problem type (``phalanx.problems.Problem``):

- single_label: ``{"label": str, "score": float, "probabilities": {label: float, ...}}``,
  the most likely label, its probability, and every label's probability (a softmax);
- multi_label: ``{"labels": [str, ...], "probabilities": {label: float, ...}}``, the labels
  at or above their thresholds (in the model's label order; possibly none) and every label's
  own sigmoid probability (they do not sum to 1);
- regression: ``{"value": float}``, the prediction in the data's units.

The CLI's JSON / JSONL output, ``Pipeline``, the HTTP API (and its page) and
``TextClassifier.predict_records`` all build it here, with ``prediction_records``.

Flat tables (``classify --output x.csv``, the CLI's printed table) hold the same record one
column per value: ``label``, ``score``, then ``probabilities.<label>`` per label (the names
``pandas.json_normalize`` gives the JSON record); a multi-label record's ``labels`` is one
column of names joined by ``|`` (empty: none); ``record_from_flat`` reads a row back.

``ranked`` gives transformers' ``top_k`` shape: ``[{"label", "score"}, ...]``, best first
(multi-label: by each label's probability); a regression record has no labels to rank.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InputError, shown
from ..problems import Problem

__all__ = [
    "FLAT_SEPARATOR",
    "LIST_SEPARATOR",
    "check_top_k",
    "flat_columns",
    "flat_record",
    "join_labels",
    "prediction_record",
    "prediction_records",
    "ranked",
    "record_from_flat",
]

FLAT_SEPARATOR = "."
"""Joins a dict field and its key in a flat column name: ``probabilities.positive``."""
LIST_SEPARATOR = "|"
"""Joins the items of a list field (a multi-label record's ``labels``) in one flat cell."""
_NESTED = ("probabilities",)
"""Record fields that hold a dict (one flat column per key)."""
_NUMBERS = ("score", "value")
"""Record fields that hold a number (read back from text as floats)."""
_LISTS = ("labels",)
"""Record fields that hold a list of names (one flat cell, joined by ``LIST_SEPARATOR``)."""
_TEXTS = ("label",)
_SINGLE = Problem()


def prediction_record(
    row: Sequence[float],
    labels: Sequence[str],
    decimals: int | None = None,
    problem: Problem = _SINGLE,
) -> dict[str, Any]:
    """The record of one input's scores ``row`` (``problem.scores`` of its logits; column i
    is ``labels[i]``); ``decimals`` rounds the numbers (decisions are taken before rounding)."""
    values = [float(v) for v in row]
    if len(values) != len(labels) or not values:
        what = "values" if problem.type == "regression" else "probabilities"
        raise ValueError(f"{len(values)} {what} for {len(labels)} labels {list(labels)}")
    if problem.type == "regression":
        if len(values) != 1:
            raise ValueError(f"a regression record holds one value, got {len(values)}")
        value = values[0] if decimals is None else round(values[0], decimals)
        return {"value": value}
    if problem.type == "multi_label":
        thresholds = problem.threshold_vector(len(labels))
        chosen = [lab for lab, p, t in zip(labels, values, thresholds, strict=True) if p >= t]
        if decimals is not None:
            values = [round(v, decimals) for v in values]
        return {"labels": chosen, "probabilities": dict(zip(labels, values, strict=True))}
    best = max(range(len(values)), key=values.__getitem__)  # the first of equal ones
    if decimals is not None:
        values = [round(v, decimals) for v in values]
    return {
        "label": labels[best],
        "score": values[best],
        "probabilities": dict(zip(labels, values, strict=True)),
    }


def prediction_records(
    scores: Any,
    labels: Sequence[str],
    decimals: int | None = None,
    problem: Problem = _SINGLE,
) -> list[dict[str, Any]]:
    """One record per row of ``scores`` ([N, C]: a tensor, an array or nested lists, as
    ``problem.scores`` gives them: probabilities, or values for regression)."""
    rows = scores.tolist() if hasattr(scores, "tolist") else scores
    return [prediction_record(row, labels, decimals, problem) for row in rows]


def check_top_k(top_k: Any, problem: Problem = _SINGLE) -> None:
    """Refuse a ``top_k`` that is neither None (every label) nor an int >= 1, and any
    ``top_k`` for a regression model (it predicts a value, not labels to rank)."""
    if problem.type == "regression":
        raise InputError(
            f"top_k={shown(top_k)} ranks labels by probability, but this is a regression "
            'model: it predicts one value ({"value": ...}); drop top_k'
        )
    if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1):
        raise InputError(f"top_k must be an int >= 1 or None (every label), got {shown(top_k)}")


def ranked(record: Mapping[str, Any], top_k: int | None = None) -> list[dict[str, Any]]:
    """The ``top_k`` most likely labels of ``record`` (None: all) as transformers'
    ``[{"label": str, "score": float}, ...]``, best first (equal ones in label order).
    A multi-label record ranks each label's own probability."""
    # a regression record ({"value": ...}) is the only one without probabilities
    check_top_k(top_k, _SINGLE if "probabilities" in record else Problem("regression"))
    items = sorted(record["probabilities"].items(), key=lambda kv: kv[1], reverse=True)
    return [{"label": label, "score": p} for label, p in items[:top_k]]


def flat_columns(labels: Sequence[str], problem: Problem = _SINGLE) -> list[str]:
    """The flat column names of a record over ``labels``, in order."""
    probabilities = [f"probabilities{FLAT_SEPARATOR}{lab}" for lab in labels]
    if problem.type == "regression":
        return ["value"]
    if problem.type == "multi_label":
        return ["labels", *probabilities]
    return ["label", "score", *probabilities]


def flat_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` as one flat row: a dict field becomes one ``<field>.<key>`` column per key,
    a list field one cell of its items joined by ``|``."""
    row: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, Mapping):
            row.update({f"{key}{FLAT_SEPARATOR}{k}": v for k, v in value.items()})
        elif isinstance(value, (list, tuple)):
            row[key] = join_labels(value)
        else:
            row[key] = value
    return row


def join_labels(names: Sequence[str]) -> str:
    """Names in one cell, joined by ``|``; a name holding ``|`` would not read back."""
    bad = [n for n in names if LIST_SEPARATOR in str(n)]
    if bad:
        raise InputError(
            f"label {shown(bad[0])} holds {LIST_SEPARATOR!r}, which joins labels in a flat "
            "table's cell; write JSON or JSONL (.json / .jsonl) instead"
        )
    return LIST_SEPARATOR.join(str(n) for n in names)


def _split_labels(cell: Any) -> list[str]:
    """A flat ``labels`` cell back as a list: ``""`` (or a reader's missing value) is none."""
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return []
    if isinstance(cell, (list, tuple)):
        return [str(c) for c in cell]
    text = str(cell)
    return text.split(LIST_SEPARATOR) if text else []


def record_from_flat(row: Mapping[str, Any]) -> dict[str, Any]:
    """The record a flat row holds (the inverse of ``flat_record``): numbers are read back
    from text (a CSV cell), ``labels`` as a list; columns that are no record field
    (``text``) are left out."""
    record: dict[str, Any] = {}
    for key, value in row.items():
        field, sep, rest = key.partition(FLAT_SEPARATOR)
        if sep and field in _NESTED:
            record.setdefault(field, {})[rest] = float(value)
        elif key in _NUMBERS:
            record[key] = float(value)
        elif key in _LISTS:
            record[key] = _split_labels(value)
        elif key in _TEXTS:
            record[key] = value
    return record
