"""Labelled text datasets for training and evaluation: built-ins, local files, HF datasets.

``load_data`` always returns train / validation / test splits with integer labels 0..C-1
and the label names. Splits missing from the source are carved from train, stratified by
label, with a hash-based shuffle that depends only on ``seed`` (not on numpy or Python
versions), so the same input always gives the same splits.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import logging
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phalanx.assets import BUILTIN_DATASETS, dataset_files

logger = logging.getLogger(__name__)

Table = dict[str, list[Any]]  # column name -> values

SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".parquet")
_SPLIT_NAMES = {
    "train": ("train", "training"),
    "validation": ("validation", "valid", "val", "dev"),
    "test": ("test", "testing"),
}
_ROTTEN_POSITIVE_MAX_ID = 5331  # ids 1..5331 are the positive sentences, the rest negative
#: sha256 of each split of the pinned rotten_tomatoes 80/10/10 split (see ``split_checksum``).
ROTTEN_TOMATOES_CHECKSUMS = {
    "train": "8a7447613dfef404ef898490b8dcbe75f0407270854c5932d75b91d380f53d10",
    "validation": "8da5a6e3fdde539f7df1e6844dff323ae076f3fb6c7afe6a6851540f6da4c1f0",
    "test": "6c5c8d2705a558803f920a6fc5cd44d7b2f3acc33470a0eda60350ed99f4b762",
}
ROTTEN_TOMATOES_SIZES = {"train": 8483, "validation": 1061, "test": 1061}


@dataclass
class TextDataset:
    """One split: texts, integer labels and optional second sentences (``pairs``)."""

    texts: list[str]
    labels: list[int]
    pairs: list[str] | None = None

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError(f"{len(self.texts)} texts but {len(self.labels)} labels")
        if self.pairs is not None and len(self.pairs) != len(self.texts):
            raise ValueError(f"{len(self.texts)} texts but {len(self.pairs)} pairs")

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


def load_data(
    source: str,
    *,
    text_column: str = "text",
    text_pair_column: str | None = None,
    label_column: str = "label",
    label_names: list[str] | None = None,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 42,
    limit: int | None = None,
) -> DataSplits:
    """Load ``source`` as train / validation / test splits.

    ``source``: a built-in dataset name, a .csv/.tsv/.json/.jsonl/.parquet file, a folder of
    train/validation(valid, dev)/test files (or a ``save_to_disk`` folder), or a Hugging Face
    ``datasets`` name. Missing splits are carved from train (stratified, by the fractions of
    train's size). ``limit`` keeps a stratified subset of at most that many rows per split.
    rotten_tomatoes always uses its pinned 80/10/10 split (fractions and seed are ignored).
    """
    fractions = {"validation": validation_fraction, "test": test_fraction}
    if not all(0 <= f < 1 for f in fractions.values()) or sum(fractions.values()) >= 1:
        raise ValueError(
            f"validation_fraction ({validation_fraction}) and test_fraction ({test_fraction}) "
            "must each be in [0, 1) and sum to less than 1"
        )
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of examples per split, got {limit}")
    if source in BUILTIN_DATASETS:
        splits = _load_builtin(source, validation_fraction, seed)
    else:
        tables, feature_names = _read_source(source, label_column)
        columns = (text_column, text_pair_column, label_column)
        names = label_names or feature_names
        splits = _build_splits(tables, columns, names, fractions, seed, source)
    if limit is not None:
        for name in _SPLIT_NAMES:
            ds = getattr(splits, name)
            if len(ds) > limit:
                take, _ = _stratified_take(ds.labels, limit, seed, f"limit-{name}")
                setattr(splits, name, ds.subset(take))
    splits.checksums = {s: split_checksum(getattr(splits, s)) for s in _SPLIT_NAMES}
    return splits


# ----------------------------------------------------------------------------- splitting


def _stratified_take(labels: list[int], n_take: int, seed: int, salt: str) -> tuple[list, list]:
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


def _build_splits(
    tables: dict[str, Table],
    columns: tuple[str, str | None, str],
    label_names: list[str] | None,
    fractions: dict[str, float],
    seed: int,
    source: str,
) -> DataSplits:
    """Check columns, encode labels, carve missing splits from train (stratified)."""
    label_column = columns[2]
    if "train" not in tables:
        raise ValueError(
            f"{source!r} has splits {sorted(tables)} but no train split; name the training "
            "file train.<ext> (validation/valid/dev and test are optional)"
        )
    raw: dict[str, tuple[list[str], list[Any], list[str] | None]] = {}
    for split, table in tables.items():
        args = ("text_column", "text_pair_column", "label_column")
        for col, arg in zip(columns, args, strict=True):
            if col is not None and col not in table:
                raise ValueError(
                    f"column {col!r} not found in the {split} split of {source!r}; available "
                    f"columns: {list(table)}. Pass {arg}=<one of them>."
                )
        raw[split] = _clean_rows(table, columns, split)
    labels_by_split, names = _encode_labels(
        {s: r[1] for s, r in raw.items()}, label_names, label_column
    )
    data = {s: TextDataset(r[0], labels_by_split[s], r[2]) for s, r in raw.items()}
    train = data["train"]
    n_train = len(train)
    for split in ("test", "validation"):
        if split not in data:
            n_take = math.floor(n_train * fractions[split] + 0.5)
            taken, kept = _stratified_take(train.labels, n_take, seed, split)
            data[split], train = train.subset(taken), train.subset(kept)
            if not taken:
                logger.warning("the %s split of %r is empty (too little data)", split, source)
    if len(set(train.labels)) < 2:
        raise ValueError(
            f"the train split of {source!r} has a single class ({names[train.labels[0]]!r}) "
            "left; a classifier needs at least two: add data of other classes"
        )
    return DataSplits(train, data["validation"], data["test"], names, source=source)


def _clean_rows(
    table: Table, columns: tuple[str, str | None, str], split: str
) -> tuple[list[str], list[Any], list[str] | None]:
    """Texts as stripped strings; rows with an empty text are dropped with a warning."""
    text_col, pair_col, label_col = columns
    texts, labels, pairs, dropped = [], [], [] if pair_col else None, 0
    for i, text in enumerate(table[text_col]):
        text = _text(text)
        if not text:
            dropped += 1
            continue
        texts.append(text)
        labels.append(table[label_col][i])
        if pairs is not None:
            pairs.append(_text(table[pair_col][i]))
    if dropped:
        logger.warning("dropped %d %s rows whose %r is empty", dropped, split, text_col)
    return texts, labels, pairs


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _text(value: Any) -> str:
    return "" if _is_missing(value) else str(value).strip()


_INT_RE = re.compile(r"[+-]?\d+")


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool | int) or type(value).__name__.startswith(("int", "uint", "bool")):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
        return int(value)
    return None


def _encode_labels(
    raw: dict[str, list[Any]], label_names: list[str] | None, column: str
) -> tuple[dict[str, list[int]], list[str]]:
    """Map raw labels (ints or strings) of every split to 0..C-1; return them and the names."""
    values = [v for vs in raw.values() for v in vs]
    for split, vs in raw.items():
        if bad := [i for i, v in enumerate(vs) if not _text(v)]:
            raise ValueError(
                f"label column {column!r} is empty in {len(bad)} {split} rows (first: row "
                f"{bad[0]}); fill in or drop those rows"
            )
    ints = [_as_int(v) for v in values]
    if all(i is not None for i in ints):
        uniq = sorted(set(ints))
        if label_names:
            out = [i for i in uniq if not 0 <= i < len(label_names)]
            if out:
                raise ValueError(
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
            raise ValueError(
                f"label column {column!r} holds non-integer numbers (e.g. {fractional[0]}); "
                "phalanx trains classifiers: map them to classes first"
            )
        found = sorted({str(v).strip() for v in values})
        names = list(label_names) if label_names else found
        unknown = [v for v in found if v not in names]
        if unknown:
            raise ValueError(
                f"label {unknown[0]!r} of column {column!r} is not in label_names {names}; "
                "add it to label_names or fix the data"
            )
        index = {n: i for i, n in enumerate(names)}
        convert = lambda v: index[str(v).strip()]  # noqa: E731
    encoded = {s: [convert(v) for v in vs] for s, vs in raw.items()}
    present = {y for ys in encoded.values() for y in ys}
    if len(present) < 2:
        only = names[next(iter(present))] if present else "none"
        raise ValueError(
            f"label column {column!r} has a single class ({only!r}); a classifier needs at "
            "least two: check label_column or add data of other classes"
        )
    return encoded, names


# ----------------------------------------------------------------------------- reading


def _pandas():
    try:
        import pandas as pd
    except ImportError as err:
        raise ImportError("reading data files needs pandas: pip install 'phalanx[data]'") from err
    return pd


def _frame_to_table(df: Any) -> Table:
    return {str(c): df[c].tolist() for c in df.columns}


def _decode(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        logger.warning(
            "%s is not valid UTF-8 (first bad byte at offset %d); undecodable bytes were "
            "replaced with U+FFFD: re-save the file as UTF-8 to avoid this",
            path,
            err.start,
        )
        return raw.decode("utf-8", errors="replace")


def read_table(path: str | Path) -> Table:
    """Read one .csv/.tsv/.json/.jsonl/.parquet file into column lists."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"data file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"unsupported data file {str(path)!r}; use one of {', '.join(SUFFIXES)}")
    if path.stat().st_size == 0:
        raise ValueError(f"data file {str(path)!r} is empty")
    pd = _pandas()
    if suffix == ".parquet":
        df = pd.read_parquet(path)
    else:
        text = _decode(path)
        if not text.strip():
            raise ValueError(f"data file {str(path)!r} is empty")
        try:
            df = _parse_text(pd, text, suffix)
        except ValueError as err:
            raise ValueError(f"could not parse {str(path)!r} as {suffix[1:]}: {err}") from err
    if len(df) == 0:
        raise ValueError(f"data file {str(path)!r} has a header but no rows")
    return _frame_to_table(df)


def _parse_text(pd: Any, text: str, suffix: str) -> Any:
    if suffix in (".csv", ".tsv"):
        sep = "," if suffix == ".csv" else "\t"
        return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    try:  # .json holds records (a list or columns); fall back to JSON lines
        return pd.read_json(io.StringIO(text), lines=suffix == ".jsonl", dtype=False)
    except ValueError:
        if suffix == ".jsonl":
            raise
        return pd.read_json(io.StringIO(text), lines=True, dtype=False)


def _find_split_files(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        split = _split_name(path.stem)
        if split and path.suffix.lower() in SUFFIXES:
            if split in found:
                names = f"{found[split].name} and {path.name}"
                raise ValueError(f"two {split} files in {str(folder)!r}: {names}; keep one")
            found[split] = path
    return found


def _split_name(name: str) -> str | None:
    return next((s for s, aliases in _SPLIT_NAMES.items() if name.lower() in aliases), None)


def _read_source(source: str, label_column: str) -> tuple[dict[str, Table], list[str] | None]:
    """Tables by split (and ClassLabel names, for HF datasets) for a file, folder or HF name."""
    path = Path(source).expanduser()
    if path.is_file():
        return {"train": read_table(path)}, None
    if path.is_dir():
        if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
            import datasets

            return _from_hf(datasets.load_from_disk(str(path)), source, label_column)
        files = _find_split_files(path)
        if files:
            return {s: read_table(p) for s, p in files.items()}, None
    elif path.suffix.lower() in SUFFIXES or source.startswith((".", "/", "~")):
        raise FileNotFoundError(f"no such data file or folder: {source!r}")
    elif close := difflib.get_close_matches(source, list(BUILTIN_DATASETS), n=1, cutoff=0.8):
        raise ValueError(
            f"unknown dataset {source!r}: did you mean the built-in {close[0]!r}? Known "
            f"built-ins: {', '.join(BUILTIN_DATASETS)} (Hub datasets: use 'org/name')"
        )
    try:
        import datasets
    except ImportError as err:
        raise ImportError(
            f"{source!r} is not a built-in dataset ({', '.join(BUILTIN_DATASETS)}) nor a local "
            "file; loading it as a Hugging Face dataset needs: pip install 'phalanx[data]'"
        ) from err
    try:
        loaded = datasets.load_dataset(str(path) if path.is_dir() else source)
    except Exception as err:  # datasets raises many types; re-raise with what was tried
        raise ValueError(
            f"{source!r} is not a built-in dataset ({', '.join(BUILTIN_DATASETS)}), a local "
            f"{'/'.join(SUFFIXES)} file, a folder of train/validation/test files, nor a "
            f"loadable Hugging Face dataset ({type(err).__name__}: {err})"
        ) from err
    return _from_hf(loaded, source, label_column)


def _from_hf(
    loaded: Any, source: str, label_column: str
) -> tuple[dict[str, Table], list[str] | None]:
    split_dict = loaded if hasattr(loaded, "keys") else {"train": loaded}
    tables: dict[str, Table] = {}
    names = None
    for key in split_dict:
        split = _split_name(key)
        if split is None:
            logger.info("ignoring split %r of %r", key, source)
            continue
        ds = split_dict[key]
        names = names or getattr(ds.features.get(label_column), "names", None)
        tables[split] = ds.to_dict()
    return tables, names


# ----------------------------------------------------------------------------- built-ins


def _load_builtin(name: str, validation_fraction: float, seed: int) -> DataSplits:
    files = dataset_files(name)
    if name == "rotten_tomatoes":
        table = _read_rotten_tomatoes(files["all"])
        fractions = {"validation": 0.1, "test": 0.1}
        splits = _build_splits(
            {"train": table}, ("text", None, "label"), ["negative", "positive"], fractions, 42, name
        )
        for split, expected in ROTTEN_TOMATOES_CHECKSUMS.items():
            got = split_checksum(getattr(splits, split))
            if got != expected:
                raise RuntimeError(
                    f"rotten_tomatoes {split} split checksum {got} differs from the pinned "
                    f"{expected}: the data file or the split code changed; delete "
                    f"{files['all'].parent} and rerun `phalanx assets download`"
                )
        return splits
    pd = _pandas()
    tables = {
        split: _frame_to_table(
            pd.read_csv(path, sep="\t", skiprows=[1, 2], dtype=str, keep_default_na=False)
        )
        for split, path in files.items()
    }
    fractions = {"validation": validation_fraction, "test": 0.0}
    return _build_splits(tables, ("Text", None, "Category"), None, fractions, seed, name)


def _read_rotten_tomatoes(path: Path) -> Table:
    """Parse ``id<TAB>score<TAB>sentence`` lines; ids up to 5331 are the positive ones."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    rows = [line.split("\t", 2) for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    return {
        "text": [sentence.strip() for _, _, sentence in rows],
        "label": [int(int(ident) <= _ROTTEN_POSITIVE_MAX_ID) for ident, _, _ in rows],
    }
