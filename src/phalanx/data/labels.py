"""Cleaning rows and encoding raw label values (ints or strings) as class ids 0..C-1."""

from __future__ import annotations

import logging
import math
import re
from typing import Any

from ..errors import InputError, shown
from .tables import Table

__all__ = ["clean_rows", "encode_labels", "is_missing", "text_value"]

logger = logging.getLogger(__name__)


#: how files spell a missing value (pandas' defaults): never a label unless named as one
MISSING_SPELLINGS = frozenset(
    "#N/A,#N/A N/A,#NA,-1.#IND,-1.#QNAN,-NaN,-nan,1.#IND,1.#QNAN,<NA>,N/A,NA,NULL,NaN,None,"
    "n/a,nan,null,none,Null,NONE,na".split(",")
)


def clean_rows(
    table: Table,
    columns: tuple[str, str | None, str],
    split: str,
    label_names: list[str] | None = None,
) -> tuple[list[str], list[Any], list[str] | None]:
    """Texts as stripped strings; rows with an empty text are dropped with a warning.

    A missing label (empty, null, or spelled ``NaN``, ``NA``, ``null``, ... unless
    ``label_names`` names that spelling) is an error naming its row: silently making it a
    class of its own would train on it.
    """
    text_col, pair_col, label_col = columns
    texts, labels, pairs, dropped = [], [], [] if pair_col else None, 0
    named = set(label_names or ())
    for i, raw in enumerate(table[text_col]):
        row = f"{split} row {i + 1} (rows count from 1 after the header)"
        text = text_value(raw, text_col, row)
        if not text:
            dropped += 1
            continue
        label = table[label_col][i]
        shown_label = text_value(label, label_col, row)
        if (not shown_label or shown_label in MISSING_SPELLINGS) and shown_label not in named:
            raise InputError(
                f"label column {label_col!r} has no value in {row}: {shown(label)}; fill it "
                f"in, drop the row, or name {shown(label)} in label_names if it is a class"
            )
        texts.append(text)
        labels.append(label)
        if pairs is not None:
            pairs.append(text_value(table[pair_col][i], pair_col, row))
    if dropped:
        logger.warning("dropped %d %s rows whose %r is empty", dropped, split, text_col)
    return texts, labels, pairs


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def text_value(value: Any, column: str = "", row: str = "") -> str:
    """A cell as stripped text ('' when missing); a list or mapping is not a text."""
    if isinstance(value, list | tuple | dict):
        raise InputError(
            f"column {column!r} holds a {type(value).__name__} in {row}: {shown(value)}; "
            "each cell must be a single text or label"
        )
    return "" if is_missing(value) else str(value).strip()


_INT_RE = re.compile(r"[+-]?\d+")


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool | int) or type(value).__name__.startswith(("int", "uint", "bool")):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
        return int(value)
    return None


def encode_labels(
    raw: dict[str, list[Any]], label_names: list[str] | None, column: str
) -> tuple[dict[str, list[int]], list[str]]:
    """Map raw labels (ints or strings) of every split to 0..C-1; return them and the names."""
    values = [v for vs in raw.values() for v in vs]
    ints = [_as_int(v) for v in values]
    if all(i is not None for i in ints):
        uniq = sorted(set(ints))
        if label_names:
            out = [i for i in uniq if not 0 <= i < len(label_names)]
            if out:
                raise InputError(
                    f"integer label {out[0]} is outside 0..{len(label_names) - 1} of "
                    f"label_names {label_names}; fix the labels or the label_names"
                )
            mapping, names = {i: i for i in uniq}, list(label_names)
        elif uniq == list(range(len(uniq))):
            mapping, names = {i: i for i in uniq}, [str(i) for i in uniq]
        else:
            logger.info("remapping integer labels %s to 0..%d", uniq, len(uniq) - 1)
            mapping, names = {v: i for i, v in enumerate(uniq)}, [str(v) for v in uniq]
        convert = lambda v: mapping[_as_int(v)]  # noqa: E731
    else:
        fractional = [v for v in values if isinstance(v, float) and not v.is_integer()]
        if fractional:
            raise InputError(
                f"label column {column!r} holds non-integer numbers (e.g. {fractional[0]}); "
                "phalanx trains classifiers: map them to classes first"
            )
        found = sorted({str(v).strip() for v in values})
        names = list(label_names) if label_names else found
        unknown = [v for v in found if v not in names]
        if unknown:
            raise InputError(
                f"label {unknown[0]!r} of column {column!r} is not in label_names {names}; "
                "add it to label_names or fix the data"
            )
        index = {n: i for i, n in enumerate(names)}
        convert = lambda v: index[str(v).strip()]  # noqa: E731
    encoded = {s: [convert(v) for v in vs] for s, vs in raw.items()}
    present = {y for ys in encoded.values() for y in ys}
    if len(present) < 2:
        only = names[next(iter(present))] if present else "none"
        raise InputError(
            f"label column {column!r} has a single class ({only!r}); a classifier needs at "
            "least two: check label_column or add data of other classes"
        )
    return encoded, names
