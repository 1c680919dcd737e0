"""Train / validation / test splits: datasets, stratified carving, content checksums.

Splits missing from the source are carved from train, stratified by label, with a hash-based
shuffle that depends only on ``seed`` (not on numpy or Python versions), so the same input
always gives the same splits.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from .labels import clean_rows, encode_labels
from .tables import Table, missing_column

__all__ = ["DataSplits", "TextDataset", "build_splits", "split_checksum", "stratified_take"]

logger = logging.getLogger(__name__)


@dataclass
class TextDataset:
    """One split: texts, integer labels and optional second sentences (``pairs``)."""

    texts: list[str]
    labels: list[int]
    pairs: list[str] | None = None

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise InputError(f"{len(self.texts)} texts but {len(self.labels)} labels")
        if self.pairs is not None and len(self.pairs) != len(self.texts):
            raise InputError(f"{len(self.texts)} texts but {len(self.pairs)} pairs")

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: list[int]) -> TextDataset:
        """The examples at ``indices``, in that order."""
        pairs = None if self.pairs is None else [self.pairs[i] for i in indices]
        return TextDataset(
            [self.texts[i] for i in indices], [self.labels[i] for i in indices], pairs
        )


@dataclass
class DataSplits:
    """Train / validation / test splits with their label names and content checksums."""

    train: TextDataset
    validation: TextDataset
    test: TextDataset
    label_names: list[str]
    checksums: dict[str, str] = field(default_factory=dict)
    source: str = ""

    @property
    def num_labels(self) -> int:
        return len(self.label_names)


def split_checksum(ds: TextDataset) -> str:
    """sha256 of a split's content: one ``label<TAB>text[<TAB>pair]`` line per example."""
    h = hashlib.sha256()
    for i, (text, label) in enumerate(zip(ds.texts, ds.labels, strict=True)):
        pair = "" if ds.pairs is None else "\t" + ds.pairs[i]
        h.update(f"{label}\t{text}{pair}\n".encode())
    return h.hexdigest()


def stratified_take(labels: list[int], n_take: int, seed: int, salt: str) -> tuple[list, list]:
    """Pick ``n_take`` indices stratified by label; return (taken, kept), both shuffled."""
    keys = [
        hashlib.blake2b(f"{seed}:{salt}:{i}".encode(), digest_size=8).digest()
        for i in range(len(labels))
    ]
    order = sorted(range(len(labels)), key=keys.__getitem__)
    counts, n = Counter(labels), len(labels)
    quotas = {c: k * n_take / n for c, k in counts.items()}
    alloc = {c: math.floor(q) for c, q in quotas.items()}
    by_remainder = sorted(counts, key=lambda c: (-(quotas[c] - alloc[c]), c))
    for c in by_remainder[: n_take - sum(alloc.values())]:
        alloc[c] += 1
    taken, kept = [], []
    for i in order:
        if alloc[labels[i]] > 0:
            alloc[labels[i]] -= 1
            taken.append(i)
        else:
            kept.append(i)
    return taken, kept


def build_splits(
    tables: dict[str, Table],
    columns: tuple[str, str | None, str],
    label_names: list[str] | None,
    fractions: dict[str, float],
    seed: int,
    source: str,
    *,
    min_classes: int = 2,
    file: str | None = None,
) -> DataSplits:
    """Check columns, encode labels, carve missing splits from train (stratified); train
    must keep ``min_classes`` classes (1 for data that is only evaluated). ``file``: the
    one file train was read from (messages name its rows "row N of FILE")."""
    label_column = columns[2]
    if "train" not in tables:
        raise InputError(
            f"{source!r} has splits {sorted(tables)} but no train split; name the training "
            "file train.<ext> (validation/valid/dev and test are optional)"
        )
    raw: dict[str, tuple[list[str], list[Any], list[str] | None]] = {}
    for split, table in tables.items():
        args = ("text_column", "text_pair_column", "label_column")
        where = file or f"the {split} split of {source!r}"
        for col, arg in zip(columns, args, strict=True):
            if col is not None and col not in table:
                raise missing_column(col, arg, where, table)
        raw[split] = clean_rows(table, columns, split, label_names, file)
    labels_by_split, names = encode_labels(
        {s: r[1] for s, r in raw.items()}, label_names, label_column, min_classes, file
    )
    data = {s: TextDataset(r[0], labels_by_split[s], r[2]) for s, r in raw.items()}
    train = data["train"]
    n_train = len(train)
    for split in ("test", "validation"):
        if split not in data:
            n_take = math.floor(n_train * fractions[split] + 0.5)
            taken, kept = stratified_take(train.labels, n_take, seed, split)
            data[split], train = train.subset(taken), train.subset(kept)
            if not taken and fractions[split] > 0:
                logger.warning("the %s split of %r is empty (too little data)", split, source)
    if len(set(train.labels)) < min_classes:
        raise InputError(
            f"the train split of {source!r} has a single class ({names[train.labels[0]]!r}) "
            "left; a classifier needs at least two: add data of other classes"
        )
    return DataSplits(train, data["validation"], data["test"], names, source=source)
