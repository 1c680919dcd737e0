"""Cleaning rows and encoding raw label values (ints or strings) as class ids 0..C-1.

``label_ids`` is the one rule by which every label a user hands phalanx (training data with
``label_names``, ``evaluate``'s labels, the CLI's evaluation files) becomes a class id: a
value equal to a label name, compared as stripped text (``1``, ``"1"``, ``np.int64(1)`` and
``1.0`` are all the name "1"), is that class; a whole number is read as a class id only when
no name matches it and no label name is itself a number; anything else is refused.
"""

from __future__ import annotations

import logging
import math
import numbers
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..errors import InputError, shown
from .tables import Table

__all__ = [
    "clean_rows",
    "encode_labels",
    "is_missing",
    "is_number",
    "label_ids",
    "label_text",
    "missing_label",
    "row_name",
    "text_value",
]

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
    file: str | None = None,
    *,
    read_label: Callable[[int, str], Any] | None = None,
) -> tuple[list[str], list[Any], list[str] | None]:
    """Texts as stripped strings; rows with an empty text are dropped with a warning.

    A missing label (empty, null, or spelled ``NaN``, ``NA``, ``null``, ... unless
    ``label_names`` names that spelling) is an error naming its row: silently making it a
    class of its own would train on it. Rows are named by ``split`` ("train row 3"), or by
    ``file`` when the table is that one file ("row 3 of reviews.csv").
    ``read_label(index, row)``: reads (and checks) the label of the row at ``index`` (from
    0) of every row with a text instead, ``row`` naming it (multi-label and regression
    targets, see ``phalanx.data.targets``); the label column is then not read here.
    """
    text_col, pair_col, label_col = columns
    texts, labels, pairs, dropped = [], [], [] if pair_col else None, 0
    named = {str(n).strip() for n in label_names or ()}
    for i, raw in enumerate(table[text_col]):
        row = f"{row_name(split, i + 1, file)} (rows count from 1 after the header)"
        text = text_value(raw, text_col, row)
        if not text:
            dropped += 1
            continue
        if read_label is not None:
            label = read_label(i, row)
        else:
            label = table[label_col][i]
            shown_label = text_value(label, label_col, row)
            if (not shown_label or shown_label in MISSING_SPELLINGS) and shown_label not in named:
                raise missing_label(label, label_col, row)
        texts.append(text)
        labels.append(label)
        if pairs is not None:
            pairs.append(text_value(table[pair_col][i], pair_col, row))
    if dropped:
        logger.warning("dropped %d %s rows whose %r is empty", dropped, split, text_col)
    return texts, labels, pairs


def missing_label(value: Any, column: str, row: str, fix: str = "") -> InputError:
    """The error for a label cell with no value (``fix``: what else the user may do)."""
    fix = fix or f"name {shown(value)} in label_names if it is a class"
    return InputError(
        f"label column {column!r} has no value in {row}: {shown(value)}; fill it in, drop "
        f"the row, or {fix}"
    )


def row_name(split: str, n: int, file: str | None = None) -> str:
    """How a message names row ``n`` (from 1): ``"train row 3"``, or ``"row 3 of FILE"``
    when the rows are those of one file read whole."""
    return f"row {n} of {file}" if file else f"{split} row {n}"


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
_NUMBER_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool | int) or type(value).__name__.startswith(("int", "uint", "bool")):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
        return int(value)
    return None


def label_text(value: Any) -> str | None:
    """A label value as the text it is compared by (None: no label at all).

    >>> [label_text(v) for v in (1, " 1 ", 1.0, "pos", True, None)]
    ['1', '1', '1', 'pos', 'True', None]
    """
    if not isinstance(value, str) and getattr(value, "shape", None) == ():
        value = value.item()  # a numpy scalar or a 0-d tensor
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    return None


def is_number(name: str) -> bool:
    """Whether a label name reads as a number (``"5"``, ``"-1"``, ``"0.5"``)."""
    return bool(_NUMBER_RE.fullmatch(str(name).strip()))


def label_ids(
    values: Iterable[Any],
    names: Sequence[str],
    *,
    at: Callable[[int], str] = "at position {} (from 0)".format,
    fix: str = "",
) -> list[int]:
    """The class ids of ``values`` over the classes ``names`` (in id order), by the one label
    rule (see the module docstring). A refused value raises an ``InputError`` naming it,
    where it is (``at(position)``), the label set and ``fix``.

    >>> label_ids([1, "3", 5.0], ["1", "3", "5"])
    [0, 1, 2]
    >>> label_ids([0, "positive"], ["negative", "positive"])
    [0, 1]
    """
    names = [str(n) for n in names]
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        index.setdefault(name.strip(), i)
    ids_too = not any(is_number(n) for n in names)
    out = []
    for pos, value in enumerate(values):
        text = label_text(value)
        if text is not None and text in index:
            out.append(index[text])
        elif ids_too and _is_id(text, len(names)):
            out.append(int(text))
        else:
            raise InputError(_refusal(value, text, at(pos), names, ids_too, fix))
    return out


def _is_id(text: str | None, num_labels: int) -> bool:
    return text is not None and bool(_INT_RE.fullmatch(text)) and 0 <= int(text) < num_labels


def _refusal(
    value: Any, text: str | None, where: str, names: list[str], ids_too: bool, fix: str
) -> str:
    """Why ``value`` is no label of ``names``, and what to do."""
    parts = [f"label {shown(value)} {where} is not in the label set {shown(names)}"]
    if text is not None and _INT_RE.fullmatch(text):
        parts.append(
            f"as a class id it is outside 0..{len(names) - 1}"
            if ids_too
            else "label names that are numbers make every number a name, never a class id: "
            "give the label itself"
        )
    return "; ".join(parts + ([fix] if fix else []))


def encode_labels(
    raw: dict[str, list[Any]],
    label_names: list[str] | None,
    column: str,
    min_classes: int = 2,
    file: str | None = None,
) -> tuple[dict[str, list[int]], list[str]]:
    """Map raw labels (ints or strings) of every split to 0..C-1; return them and the names.

    With ``label_names`` the values are read by ``label_ids`` (a value equal to a name is
    that name; an integer is an id only when the names are not numbers); without, the names
    are the values found (integers sorted numerically, strings alphabetically). Fewer than
    ``min_classes`` classes present is an error (a classifier trains on two or more).
    ``file``: the one file the rows come from, which messages then name (``row_name``).
    """
    if label_names:
        names = [str(n) for n in label_names]
        encoded = {
            s: label_ids(
                vs,
                names,
                at=lambda pos, s=s: (
                    f"in {row_name(s, pos + 1, file)}{',' if file else ' of'} column "
                    f"{column!r} (rows with a text, from 1 after the header)"
                ),
                fix="fix the labels or the label_names",
            )
            for s, vs in raw.items()
        }
    else:
        encoded, names = _encode_found(raw, column)
    present = {y for ys in encoded.values() for y in ys}
    if not present:
        raise InputError(f"label column {column!r} holds no label: check label_column")
    if len(present) < min_classes:
        only = names[next(iter(present))]
        raise InputError(
            f"label column {column!r} has a single class ({only!r}); a classifier needs at "
            "least two: check label_column or add data of other classes"
        )
    return encoded, names


def _encode_found(raw: dict[str, list[Any]], column: str) -> tuple[dict[str, list[int]], list[str]]:
    """Labels encoded over the classes found in the data (no names given)."""
    values = [v for vs in raw.values() for v in vs]
    ints = [_as_int(v) for v in values]
    if all(i is not None for i in ints):
        uniq = sorted(set(ints))
        if uniq != list(range(len(uniq))):
            logger.info("remapping integer labels %s to 0..%d", uniq, len(uniq) - 1)
        mapping, names = {v: i for i, v in enumerate(uniq)}, [str(v) for v in uniq]
        convert = lambda v: mapping[_as_int(v)]  # noqa: E731
    else:
        fractional = [v for v in values if isinstance(v, float) and not v.is_integer()]
        if fractional:
            raise InputError(
                f"label column {column!r} holds non-integer numbers (e.g. {fractional[0]}); "
                "map them to classes first, or predict them as numbers with --problem-type "
                "regression (problem_type= in Python)"
            )
        names = sorted({str(v).strip() for v in values})
        index = {n: i for i, n in enumerate(names)}
        convert = lambda v: index[str(v).strip()]  # noqa: E731
    return {s: [convert(v) for v in vs] for s, vs in raw.items()}, names
