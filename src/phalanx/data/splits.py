"""Train / validation / test splits: datasets, stratified carving, content checksums.

Splits missing from the source are carved from train, stratified by label, with a hash-based
shuffle that depends only on ``seed`` (not on numpy or Python versions), so the same input
always gives the same splits. Multi-label data is carved by iterative stratification
(Sechidis et al. 2011), regression data by quantile bins of the target.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import InputError
from ..problems import problem_type_name
from .labels import clean_rows, encode_labels
from .tables import Table, missing_column
from .targets import Label, LabelSpec, infer_problem_type, read_targets

__all__ = [
    "REGRESSION_BINS",
    "DataSplits",
    "TextDataset",
    "build_splits",
    "iterative_take",
    "quantile_bins",
    "split_checksum",
    "stratified_take",
]

logger = logging.getLogger(__name__)


@dataclass
class TextDataset:
    """One split: texts, labels and optional second sentences (``pairs``). A label is a class
    id (single_label), a sorted tuple of class ids (multi_label) or a float (regression)."""

    texts: list[str]
    labels: list[Label]
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
    """Train / validation / test splits with their label names and content checksums.
    Regression data has one label name, the target's (its column name)."""

    train: TextDataset
    validation: TextDataset
    test: TextDataset
    label_names: list[str]
    checksums: dict[str, str] = field(default_factory=dict)
    source: str = ""
    problem_type: str = "single_label"

    @property
    def num_labels(self) -> int:
        return len(self.label_names)


def split_checksum(ds: TextDataset) -> str:
    """sha256 of a split's content: one ``label<TAB>text[<TAB>pair]`` line per example (a
    multi-label's ids joined by ",", a regression target as its ``repr``)."""
    h = hashlib.sha256()
    for i, (text, label) in enumerate(zip(ds.texts, ds.labels, strict=True)):
        pair = "" if ds.pairs is None else "\t" + ds.pairs[i]
        h.update(f"{_label_field(label)}\t{text}{pair}\n".encode())
    return h.hexdigest()


def _label_field(label: Label) -> str:
    if isinstance(label, tuple):
        return ",".join(map(str, label))
    if isinstance(label, float):
        return repr(label)
    return f"{label}"


def _keys(n: int, seed: int, salt: str) -> list[bytes]:
    """Each index's place in the seeded shuffle (the same on every platform)."""
    return [
        hashlib.blake2b(f"{seed}:{salt}:{i}".encode(), digest_size=8).digest() for i in range(n)
    ]


def stratified_take(
    labels: list[Label], n_take: int, seed: int, salt: str, problem_type: str | None = None
) -> tuple[list, list]:
    """Pick ``n_take`` indices stratified by label; return (taken, kept), both shuffled.

    ``problem_type`` (None: from the labels' kind): single_label keeps each class's share
    (largest remainders); multi_label each label's share (``iterative_take``); regression
    the share of each of ``REGRESSION_BINS`` quantile bins of the target."""
    kind = problem_type_name(problem_type) if problem_type else _kind(labels)
    keys = _keys(len(labels), seed, salt)
    if kind == "multi_label":
        return iterative_take(labels, n_take, keys)
    if kind == "regression":
        return _take_by_class(quantile_bins(labels, keys), n_take, keys)
    return _take_by_class(labels, n_take, keys)


def _kind(labels: list[Label]) -> str:
    if any(isinstance(y, tuple) for y in labels):
        return "multi_label"
    if any(isinstance(y, float) for y in labels):
        return "regression"
    return "single_label"


def _take_by_class(labels: list, n_take: int, keys: list[bytes]) -> tuple[list, list]:
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


#: quantile bins a regression target is stratified over
REGRESSION_BINS = 10


def quantile_bins(values: list[float], keys: list[bytes], bins: int = REGRESSION_BINS) -> list:
    """Each value's quantile bin 0..bins-1 (equal counts; ties ordered by ``keys``)."""
    n = len(values)
    bins = max(1, min(bins, n))
    out = [0] * n
    for rank, i in enumerate(sorted(range(n), key=lambda i: (values[i], keys[i]))):
        out[i] = rank * bins // n
    return out


def iterative_take(
    labels: list[tuple[int, ...]], n_take: int, keys: list[bytes]
) -> tuple[list, list]:
    """Iterative stratification (Sechidis, Tsoumakas & Vlahavas 2011) into a taken subset of
    exactly ``n_take`` and the rest: repeatedly take the label with the fewest examples left
    (ties: the lower id) and give each of its examples (in ``keys`` order) to the subset that
    most lacks that label, ties by the subset's overall need, then by the example's key.
    Texts without labels stratify as a label of their own. Needs are counted scaled by n so
    that all arithmetic is exact."""
    n = len(labels)
    order = sorted(range(n), key=keys.__getitem__)
    sets = [y if y else (-1,) for y in labels]
    by_label: dict[int, list[int]] = {}
    for i in order:
        for lab in sets[i]:
            by_label.setdefault(lab, []).append(i)
    need = [n_take, n - n_take]
    label_need = {lab: [len(ix) * need[0], len(ix) * need[1]] for lab, ix in by_label.items()}
    left = {lab: len(ix) for lab, ix in by_label.items()}
    side: list[int | None] = [None] * n
    while left:
        lab = min(left, key=lambda m: (left[m], m))
        for i in by_label[lab]:
            if side[i] is not None:
                continue
            bit = keys[i][0] & 1
            j = max(
                (j for j in (0, 1) if need[j] > 0),
                key=lambda j: (label_need[lab][j], need[j], bit == j),
            )
            side[i] = j
            need[j] -= 1
            for m in sets[i]:
                label_need[m][j] -= n
                left[m] -= 1
                if not left[m]:
                    del left[m]
    return [i for i in order if side[i] == 0], [i for i in order if side[i] == 1]


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
    labels: LabelSpec | None = None,
) -> DataSplits:
    """Check columns, encode labels, carve missing splits from train (stratified); train
    must keep ``min_classes`` classes (1 for data that is only evaluated). ``file``: the
    one file train was read from (messages name its rows "row N of FILE"). ``labels``: how
    the labels are held and their problem type (default: inferred from the label column,
    ``phalanx.data.targets.infer_problem_type``); with label columns, the label column
    need not exist."""
    spec = labels or LabelSpec()
    label_column = columns[2]
    if "train" not in tables:
        raise InputError(
            f"{source!r} has splits {sorted(tables)} but no train split; name the training "
            "file train.<ext> (validation/valid/dev and test are optional)"
        )
    for split, table in tables.items():
        where = file or f"the {split} split of {source!r}"
        wanted = [(columns[0], "text_column"), (columns[1], "text_pair_column")]
        if spec.columns is None:
            wanted.append((label_column, "label_column"))
        else:
            wanted += [(c, "label_columns") for c in spec.columns]
        for col, arg in wanted:
            if col is not None and col not in table:
                raise missing_column(col, arg, where, table)
    problem_type = spec.problem_type or infer_problem_type(
        (v for t in tables.values() for v in t[label_column]),
        separator=spec.separator,
        column=label_column,
        label_names=label_names,
    )
    if spec.allow_empty and problem_type != "multi_label":
        logger.warning("allow_empty_labels ignored: the data is %s", problem_type)
    if problem_type == "single_label":
        raw = {s: clean_rows(t, columns, s, label_names, file) for s, t in tables.items()}
        labels_by_split, names = encode_labels(
            {s: r[1] for s, r in raw.items()}, label_names, label_column, min_classes, file
        )
        data = {s: TextDataset(r[0], labels_by_split[s], r[2]) for s, r in raw.items()}
    else:
        read, names = read_targets(tables, columns, spec, problem_type, label_names, file)
        data = {s: TextDataset(*r) for s, r in read.items()}
        if problem_type == "multi_label":
            every = [y for ds in data.values() for y in ds.labels]
            check_present(every, names, problem_type, min_classes, f"{source!r}")
    train = data["train"]
    n_train = len(train)
    for split in ("test", "validation"):
        if split not in data:
            n_take = math.floor(n_train * fractions[split] + 0.5)
            taken, kept = stratified_take(train.labels, n_take, seed, split, problem_type)
            data[split], train = train.subset(taken), train.subset(kept)
            if not taken and fractions[split] > 0:
                logger.warning("the %s split of %r is empty (too little data)", split, source)
    if problem_type == "single_label":
        if len(set(train.labels)) < min_classes:
            raise InputError(
                f"the train split of {source!r} has a single class "
                f"({names[train.labels[0]]!r}) left; a classifier needs at least two: add data "
                "of other classes"
            )
    else:
        check_present(
            train.labels, names, problem_type, min_classes, f"the train split of {source!r}"
        )
        if problem_type == "multi_label":
            _warn_absent(train.labels, names, source)
    return DataSplits(
        train, data["validation"], data["test"], names, source=source, problem_type=problem_type
    )


def _warn_absent(labels: list[tuple[int, ...]], names: list[str], source: str) -> None:
    present = {i for ids in labels for i in ids}
    absent = [n for i, n in enumerate(names) if i not in present]
    if absent:
        logger.warning(
            "labels %s of %r have no example in the train split: the model cannot learn them",
            absent,
            source,
        )


def check_present(
    labels: Sequence[Label],
    names: list[str],
    problem_type: str,
    min_classes: int,
    where: str,
) -> None:
    """Refuse ``labels`` (of ``where``, e.g. "the train split of 'x'") holding fewer than
    ``min_classes`` labels (multi_label) or, when training (``min_classes`` >= 2), a single
    target value (regression). single_label is checked by ``encode_labels`` / splits."""
    if problem_type == "regression":
        if min_classes >= 2 and len(set(labels)) < 2:
            only = f" ({labels[0]!r})" if labels else ""
            raise InputError(
                f"{where} has fewer than two distinct target values{only}; a regression model "
                "needs varied targets: check label_column or add data"
            )
        return
    present = sorted({i for ids in labels for i in ids})
    if not present and min_classes >= 1:
        raise InputError(f"{where} holds no label: check label_column / label_columns")
    if len(present) < min_classes:
        raise InputError(
            f"{where} has a single label ({names[present[0]]!r}); a multi-label classifier "
            "needs at least two: add data of other labels, or train a single_label "
            "classifier of that label against the rest"
        )
