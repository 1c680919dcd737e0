"""Texts without labels from any source (calibration data, files to classify).

No label column is read or needed: only the text column (and a second text's column).
"""

from __future__ import annotations

from pathlib import Path

from ..assets import BUILTIN_DATASETS
from .builtin import load_builtin
from .labels import row_name, text_value
from .splits import stratified_take
from .tables import Table, missing_column, read_source

__all__ = ["read_texts", "table_texts"]


def read_texts(
    source: str,
    text_column: str = "text",
    text_pair_column: str | None = None,
    *,
    limit: int | None = None,
    seed: int = 42,
    skip_empty: bool = True,
) -> tuple[list[str], list[str] | None]:
    """The texts (and second texts) of ``source``: every row of a file, the train split of a
    folder of split files, a ``datasets`` folder or name, or a built-in dataset.

    Cells are stripped text; rows with an empty text are left out unless not
    ``skip_empty`` (then they are ``""``, one per row). ``limit`` keeps a seeded sample of
    at most that many rows, in their order. A missing column is named with the columns the
    source has.

    >>> read_texts("reviews.csv", "review", limit=2)  # doctest: +SKIP
    (['a charming journey', 'bleak and desperate'], None)
    """
    if source in BUILTIN_DATASETS:
        train = load_builtin(source, 0.1, seed).train
        texts, pairs = list(train.texts), None if train.pairs is None else list(train.pairs)
    else:
        tables, _ = read_source(source, "label")
        split = "train" if "train" in tables else next(iter(tables))
        file = source if Path(source).expanduser().is_file() else None
        texts, pairs = table_texts(
            tables[split], text_column, text_pair_column, split=split, file=file,
            where=file or f"the {split} split of {source!r}", skip_empty=skip_empty,
        )  # fmt: skip
    if limit is not None and len(texts) > limit:
        keep = sorted(stratified_take([0] * len(texts), limit, seed, "texts")[0])
        texts = [texts[i] for i in keep]
        pairs = None if pairs is None else [pairs[i] for i in keep]
    return texts, pairs


def table_texts(
    table: Table,
    text_column: str,
    text_pair_column: str | None = None,
    *,
    where: str,
    split: str = "train",
    file: str | None = None,
    skip_empty: bool = True,
) -> tuple[list[str], list[str] | None]:
    """The stripped texts (and second texts) of one table; ``where`` names it in the error
    for a missing column, ``split`` / ``file`` its rows (``phalanx.data.labels.row_name``)."""
    for col, option in ((text_column, "text_column"), (text_pair_column, "text_pair_column")):
        if col is not None and col not in table:
            raise missing_column(col, option, where, table)
    texts: list[str] = []
    pairs: list[str] | None = None if text_pair_column is None else []
    for i, raw in enumerate(table[text_column]):
        row = row_name(split, i + 1, file)
        text = text_value(raw, text_column, row)
        if not text and skip_empty:
            continue
        texts.append(text)
        if pairs is not None:
            pairs.append(text_value(table[text_pair_column][i], text_pair_column, row))
    return texts, pairs
