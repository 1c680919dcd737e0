"""Multi-label and regression targets: the label options, problem-type inference, reading.

``LabelSpec`` says how a table holds its labels; ``read_targets`` turns the label cells of
every split into what ``TextDataset.labels`` holds for that problem type:

- multi_label: a sorted tuple of class ids per text, read from a list cell (JSON, JSONL,
  Parquet, Hugging Face ``Sequence(ClassLabel)``), a delimited text (``"billing|bug"``,
  items stripped, empty items dropped) or one 0/1 column per label (``LabelSpec.columns``);
  every item goes through the one label rule (``phalanx.data.labels.label_ids``); the
  labels are the given names, else the sorted union found; duplicates in a row are merged;
- regression: a float in the data's units; the one label is the target column's name.

``infer_problem_type`` picks the problem type when none is given (see its docstring).
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InputError, shown
from ..problems import problem_type_name
from .labels import (
    MISSING_SPELLINGS,
    clean_rows,
    is_missing,
    is_number,
    label_ids,
    label_text,
    missing_label,
)
from .tables import Table

__all__ = [
    "DELIMITED_SHARE",
    "REGRESSION_MIN_DISTINCT",
    "Label",
    "LabelSpec",
    "infer_problem_type",
    "multi_hot",
    "read_targets",
]

logger = logging.getLogger(__name__)

#: a dataset label: a class id, a sorted tuple of class ids, or a target value
Label = int | tuple[int, ...] | float

#: a label column reads as multi-label when at least this share of its labelled rows are
#: lists or texts holding the separator (fewer: single labels that happen to hold it)
DELIMITED_SHARE = 0.1
#: a column of numbers reads as regression when it has a fractional number and more
#: distinct values than this (fewer: classes spelled as numbers)
REGRESSION_MIN_DISTINCT = 10

_CHOOSE = "pass --problem-type {} (problem_type= in Python)"
_TRUE, _FALSE = frozenset({"1", "true"}), frozenset({"0", "false"})


@dataclass(frozen=True)
class LabelSpec:
    """How a table holds its labels.

    ``problem_type``: single_label | multi_label | regression (transformers' spellings too);
    None infers it (``infer_problem_type``). ``columns``: one 0/1 column per label (the
    labels are then those column names; implies multi_label). ``separator``: between the
    labels of a delimited text cell. ``allow_empty``: a multi-label text may have no label.
    """

    problem_type: str | None = None
    columns: list[str] | None = None
    separator: str = "|"
    allow_empty: bool = False

    def __post_init__(self) -> None:
        kind = None if self.problem_type is None else problem_type_name(self.problem_type)
        if not isinstance(self.separator, str) or not self.separator:
            raise InputError(
                f"the label separator must be a non-empty text, got {shown(self.separator)}: "
                "pass e.g. --label-separator '|' (label_separator= in Python)"
            )
        if self.columns is not None:
            cols = self.columns
            if isinstance(cols, str) or not all(isinstance(c, str) and c for c in cols):
                raise InputError(f"label columns must be a list of column names, got {shown(cols)}")
            cols = list(cols)
            if not cols:
                raise InputError("label columns is empty: name one 0/1 column per label")
            dups = sorted({c for c in cols if cols.count(c) > 1})
            if dups:
                raise InputError(f"label columns name {shown(dups)} more than once; name each once")
            if kind not in (None, "multi_label"):
                raise InputError(
                    f"label columns (one 0/1 column per label) make the problem multi_label, "
                    f"not {kind}: drop --problem-type or --label-columns"
                )
            kind = "multi_label"
            object.__setattr__(self, "columns", cols)
        if self.allow_empty and kind not in (None, "multi_label"):
            raise InputError(
                f"empty labels apply to multi_label data, not {kind}: drop "
                "--allow-empty-labels or pass --problem-type multi_label"
            )
        object.__setattr__(self, "problem_type", kind)
        object.__setattr__(self, "allow_empty", bool(self.allow_empty))


def multi_hot(labels: Iterable[Sequence[int]], num_labels: int) -> list[list[float]]:
    """Rows of class-id tuples as 0/1 rows of ``num_labels`` floats.

    >>> multi_hot([(0, 2), ()], 3)
    [[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    """
    out = []
    for n, ids in enumerate(labels):
        row = [0.0] * num_labels
        for i in ids:
            if not (isinstance(i, numbers.Integral) and 0 <= i < num_labels):
                raise InputError(
                    f"label {shown(i)} of row {n} is no class id in 0..{num_labels - 1}"
                )
            row[i] = 1.0
        out.append(row)
    return out


# -- inference -----------------------------------------------------------------------------
def infer_problem_type(
    values: Iterable[Any],
    *,
    separator: str = "|",
    column: str = "label",
    label_names: Sequence[str] | None = None,
) -> str:
    """The problem type the label cells ``values`` suggest (missing cells ignored):

    - at least ``DELIMITED_SHARE`` (10%) of the cells are lists (or tuples, or arrays) or
      texts holding ``separator``: multi_label (fewer: single labels that happen to hold
      the separator, or stray lists, which single_label then refuses naming their row);
    - all numbers (or numeric texts), at least one fractional and more than
      ``REGRESSION_MIN_DISTINCT`` distinct: regression;
    - anything else: single_label. Numbers with more than two distinct values, and a few
      lists or delimited texts, log an INFO note saying how to choose otherwise.

    ``label_names``: the given classes; a text equal to one is never delimited, and two or
    more names rule regression out.
    """
    present = [_scalar(v) for v in values if not _is_blank(v)]
    named = {str(n).strip() for n in label_names or ()}
    allow_regression = len(named) < 2
    lists = sum(_is_list(v) for v in present)
    delimited = sum(
        isinstance(v, str) and separator in v and v.strip() not in named for v in present
    )
    if (lists or delimited) and lists + delimited >= DELIMITED_SHARE * len(present):
        return "multi_label"
    if lists or delimited:
        logger.info(
            "%d of %d labels of column %r are lists or hold %r: reading labels as single "
            "classes (single_label); if they list several labels, %s",
            lists + delimited,
            len(present),
            column,
            separator,
            _CHOOSE.format("multi_label"),
        )
        return "single_label"
    nums = [_number(v) for v in present]
    if present and all(x is not None for x in nums):
        distinct = set(nums)
        fractional = any(not x.is_integer() for x in distinct if math.isfinite(x))
        if not allow_regression:
            return "single_label"
        if fractional and len(distinct) > REGRESSION_MIN_DISTINCT:
            return "regression"
        if fractional or len(distinct) > 2:
            logger.info(
                "label column %r holds %d distinct numbers: reading them as classes "
                "(single_label); to predict them as numbers, %s",
                column,
                len(distinct),
                _CHOOSE.format("regression"),
            )
    return "single_label"


def _scalar(value: Any) -> Any:
    """A numpy scalar (or 0-d tensor) as a Python value; an array as a list."""
    if isinstance(value, str):
        return value
    if getattr(value, "shape", None) == ():
        return value.item()
    if getattr(value, "ndim", 0) == 1 and hasattr(value, "tolist"):
        return value.tolist()
    return value


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple)


def _is_blank(value: Any) -> bool:
    if isinstance(value, str):
        text = value.strip()
        return not text or text in MISSING_SPELLINGS
    return is_missing(_scalar(value))


def _number(value: Any) -> float | None:
    """``value`` as a float when it is a number or a numeric text (never a bool)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, str) and is_number(value):
        return float(value)
    return None


# -- reading ---------------------------------------------------------------------------------
def read_targets(
    tables: dict[str, Table],
    columns: tuple[str, str | None, str],
    spec: LabelSpec,
    problem_type: str,
    label_names: list[str] | None,
    file: str | None = None,
) -> tuple[dict[str, tuple[list[str], list[Label], list[str] | None]], list[str]]:
    """Texts, labels and pairs of every split, and the label names, for multi_label or
    regression data (single_label: ``phalanx.data.labels.encode_labels``). Every bad label
    is an ``InputError`` naming its row (``row_name``), the value and the fix."""
    label_col = columns[2]
    names = [str(n) for n in label_names] if label_names else None
    if problem_type == "regression":
        if names is not None and len(names) != 1:
            raise InputError(
                f"a regression model predicts one number, but label_names gives {len(names)} "
                f"names {shown(names)}: give one (the target's name) or none"
            )
        out = {}
        for split, table in tables.items():
            read = lambda i, row, t=table: _target(t[label_col][i], row, label_col)  # noqa: E731
            out[split] = clean_rows(table, columns, split, None, file, read_label=read)
        return out, names or [label_col]
    if spec.columns is not None:
        if names is not None and names != spec.columns:
            raise InputError(
                f"label_names {shown(names)} differ from the label columns "
                f"{shown(spec.columns)}, which name the labels: drop label_names"
            )
        names = list(spec.columns)
    named = set(names or ())
    raw: dict[str, tuple[list[str], list[Any], list[str] | None]] = {}
    rows: dict[str, list[str]] = {}
    for split, table in tables.items():
        rows[split] = seen = []

        def read(i: int, row: str, t: Table = table, seen: list[str] = seen) -> tuple:
            seen.append(row)
            if spec.columns is None:
                items = _items(t[label_col][i], row, label_col, named, spec.separator)
                what = f"in column {label_col!r} ({shown(t[label_col][i])})"
            else:
                items, what = _flagged(t, i, row, spec.columns), "(every label column is 0)"
            if not items and not spec.allow_empty:
                raise InputError(
                    f"{row} has no label {what}; a multi-label text needs at least one: fill "
                    "it in, drop the row, or pass --allow-empty-labels (allow_empty_labels= "
                    "in Python) if a text may have none"
                )
            return items

        raw[split] = clean_rows(table, columns, split, None, file, read_label=read)
    if names is None:
        names = _found_names(r[1] for r in raw.values())
    where = "the label columns" if spec.columns else f"column {label_col!r}"
    out = {}
    for split, (texts, items, pairs) in raw.items():
        flat = [item for row_items in items for item in row_items]
        owner = [r for r, row_items in enumerate(items) for _ in row_items]
        ids = label_ids(
            flat,
            names,
            at=lambda p, s=split, o=owner: f"in {where} of {rows[s][o[p]]}",
            fix="fix the label or the label names (label_names)",
        )
        labels, k = [], 0
        for row_items in items:
            labels.append(tuple(sorted(set(ids[k : k + len(row_items)]))))
            k += len(row_items)
        out[split] = (texts, labels, pairs)
    return out, names


def _items(value: Any, row: str, column: str, named: set[str], separator: str) -> tuple:
    """The raw labels of one multi-label cell (not yet ids), refusing a missing cell."""
    value = _scalar(value)
    if isinstance(value, list | tuple):
        items = list(value)
    elif isinstance(value, str):
        text = value.strip()
        if text in MISSING_SPELLINGS and text not in named:
            raise missing_label(value, column, row)
        items = text.split(separator)
    elif is_missing(value):
        raise missing_label(value, column, row, "write [] for a text with no label")
    else:
        items = [value]
    out = []
    for item in map(_scalar, items):
        if isinstance(item, str):
            item = item.strip()
            if not item:
                continue
        elif is_missing(item) or label_text(item) is None:
            raise InputError(
                f"label column {column!r} holds {shown(item)} in the labels of {row} "
                f"({shown(value)}); each label must be a text or a whole number"
            )
        out.append(item)
    return tuple(out)


def _flagged(table: Table, i: int, row: str, columns: list[str]) -> tuple[str, ...]:
    """The label columns whose 0/1 cell in row ``i`` is 1."""
    out = []
    for col in columns:
        flag = _flag(table[col][i])
        if flag is None:
            raise InputError(
                f"label column {col!r} holds {shown(table[col][i])} in {row}; a label column "
                "holds 0 or 1 (true/false) per row: fix the cell or drop the row"
            )
        if flag:
            out.append(col)
    return tuple(out)


def _flag(value: Any) -> bool | None:
    """A 0/1 cell as a bool (0, 1, 0.0, 1.0, true, false, as numbers or texts); else None."""
    value = _scalar(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Real) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        if is_number(text) and float(text) in (0.0, 1.0):
            return float(text) == 1.0
    return None


def _target(value: Any, row: str, column: str) -> float:
    """A regression target as a finite float; a missing, non-numeric or infinite one is
    refused naming its row and value."""
    value = _scalar(value)
    fix = "give every row a number"
    if is_missing(value) or (isinstance(value, str) and _is_blank(value)):
        raise missing_label(value, column, row, fix)
    number: float | None = None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None:
        raise InputError(
            f"regression target {shown(value)} in column {column!r} of {row} is not a "
            "number; fix the value, or if the column holds classes pass --problem-type "
            "single_label (problem_type= in Python)"
        )
    if not math.isfinite(number):
        raise InputError(
            f"regression target {shown(value)} in column {column!r} of {row} is not a "
            "finite number; fix the value or drop the row"
        )
    return number


def _found_names(items_by_split: Iterable[list[tuple]]) -> list[str]:
    """The labels found: whole numbers sorted numerically, else texts alphabetically."""
    found = {label_text(item) for items in items_by_split for row in items for item in row}
    texts = [t for t in found if t is not None]
    if texts and all(t.lstrip("+-").isdigit() for t in texts):
        return sorted(texts, key=int)
    return sorted(texts)
