"""Reading labelled data files and sources into column tables: files, folders, HF datasets."""

from __future__ import annotations

import difflib
import io
import json
import logging
from pathlib import Path
from typing import Any

from ..assets import BUILTIN_DATASETS
from ..errors import InputError

__all__ = [
    "SPLIT_NAMES",
    "SUFFIXES",
    "Table",
    "missing_column",
    "read_labelled_source",
    "read_source",
    "read_table",
    "split_name",
]

logger = logging.getLogger(__name__)

Table = dict[str, list[Any]]  # column name -> values


SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".parquet")


SPLIT_NAMES = {
    "train": ("train", "training"),
    "validation": ("validation", "valid", "val", "dev"),
    "test": ("test", "testing"),
}


def missing_column(column: str, option: str, where: str, table: Table) -> InputError:
    """The error for a ``column`` that ``where`` (a file, a split) lacks: the columns it has
    and the option that names the right one (``text_column``: ``--text-column``)."""
    flag = "--" + option.replace("_", "-")
    return InputError(
        f"column {column!r} not found in {where}; its columns: {list(table)}. Name the right "
        f"one with {flag} ({option}= in Python)"
    )


def pandas():
    try:
        import pandas as pd
    except ImportError as err:
        raise ImportError("reading data files needs pandas: pip install 'phalanx[data]'") from err
    return pd


def frame_to_table(df: Any) -> Table:
    """A DataFrame's columns as lists (a list cell, an array in pandas, as a list)."""
    table = {}
    for c in df.columns:
        values = df[c].tolist()
        if df[c].dtype == object:  # parquet list columns arrive as arrays
            values = [v.tolist() if getattr(v, "ndim", 0) == 1 else v for v in values]
        table[str(c)] = values
    return table


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
        raise InputError(f"unsupported data file {str(path)!r}; use one of {', '.join(SUFFIXES)}")
    if path.stat().st_size == 0:
        raise InputError(f"data file {str(path)!r} is empty")
    where = str(path)
    if suffix == ".parquet":
        try:
            table = frame_to_table(pandas().read_parquet(path))
        except (ValueError, OSError) as err:  # pyarrow's errors for a damaged file
            raise InputError(f"could not read {where!r} as parquet: {err}") from err
    else:
        text = _decode(path)
        if not text.strip():
            raise InputError(f"data file {where!r} is empty")
        table = _parse_text(text, suffix, where)
    if not table or not any(table.values()):
        raise InputError(f"data file {where!r} has a header but no rows")
    _check_width(len(table), f"data file {where!r}")
    return table


#: more columns than any labelled text table has; a header past it is refused before parsing
MAX_COLUMNS = 10_000


def _check_width(n_columns: int, what: str) -> None:
    if n_columns > MAX_COLUMNS:
        raise InputError(
            f"{what} has {n_columns:,} columns, more than the {MAX_COLUMNS:,} phalanx reads; "
            "is the separator right (.csv: comma, .tsv: tab) and is this a table of texts?"
        )


def _parse_text(text: str, suffix: str, where: str) -> Table:
    if suffix in (".csv", ".tsv"):
        sep = "," if suffix == ".csv" else "\t"
        # counted on the raw header line (quoted separators only over-count): pandas would
        # build every column before we could look
        end = text.find("\n")
        _check_width(text[: end if end >= 0 else None].count(sep) + 1, f"the header of {where!r}")
        try:
            df = pandas().read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
        except ValueError as err:  # pandas' ParserError and friends
            raise InputError(f"could not parse {where!r} as {suffix[1:]}: {err}") from err
        return frame_to_table(df)
    if suffix == ".json":
        try:  # one document: records or columns ...
            return _json_table(_json(text, where), where)
        except _NotOneDocument:  # ... or JSON lines under a .json name (datasets writes those)
            pass
    records = [
        _json(line, f"{where} line {n}")
        for n, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]
    return _records_table(records, where)


class _NotOneDocument(InputError):
    """The text is not a single JSON document."""


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise _NotOneDocument(f"could not parse {where} as JSON: {err}") from err
    except (ValueError, RecursionError) as err:  # a 5,000-digit number, nesting past the stack
        raise InputError(f"{where} is not JSON phalanx can read: {type(err).__name__}") from err


def _json_table(doc: Any, where: str) -> Table:
    """Records (``[{"text": ..., "label": ...}, ...]``) or columns (``{"text": [...]}``,
    ``{"text": {"0": ...}}``, pandas' default orient)."""
    if isinstance(doc, list):
        return _records_table(doc, where)
    if isinstance(doc, dict) and doc and all(isinstance(v, list | dict) for v in doc.values()):
        columns = {str(k): list(v.values()) if isinstance(v, dict) else v for k, v in doc.items()}
        lengths = {len(v) for v in columns.values()}
        if len(lengths) == 1:
            return columns
        raise InputError(f"{where!r}: its columns have different lengths {sorted(lengths)}")
    raise InputError(
        f"{where!r} holds a JSON {type(doc).__name__}; expected a list of records "
        '([{"text": ..., "label": ...}, ...]) or an object of columns'
    )


def _records_table(records: list[Any], where: str) -> Table:
    for n, rec in enumerate(records, start=1):
        if not isinstance(rec, dict):
            raise InputError(
                f"{where!r}: record {n} is a JSON {type(rec).__name__}, not an object "
                '({"text": ..., "label": ...})'
            )
    columns: dict[str, None] = {}
    for rec in records:
        columns.update(dict.fromkeys(map(str, rec)))
        _check_width(len(columns), f"data file {where!r}")
    return {c: [rec.get(c) for rec in records] for c in columns}


def _find_split_files(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        split = split_name(path.stem)
        if split and path.suffix.lower() in SUFFIXES:
            if split in found:
                names = f"{found[split].name} and {path.name}"
                raise InputError(f"two {split} files in {str(folder)!r}: {names}; keep one")
            found[split] = path
    return found


def split_name(name: str) -> str | None:
    return next((s for s, aliases in SPLIT_NAMES.items() if name.lower() in aliases), None)


def read_source(source: str, label_column: str) -> tuple[dict[str, Table], list[str] | None]:
    """Tables by split (and ClassLabel names, for HF datasets) for a file, folder or HF name."""
    tables, names, _ = read_labelled_source(source, label_column)
    return tables, names


def read_labelled_source(
    source: str, label_column: str
) -> tuple[dict[str, Table], list[str] | None, str | None]:
    """``read_source`` and the problem type a Hugging Face dataset's label feature says
    (``Sequence(ClassLabel)``: multi_label, a float ``Value``: regression; else None)."""
    path = Path(source).expanduser()
    if path.is_file():
        return {"train": read_table(path)}, None, None
    if path.is_dir():
        if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
            import datasets

            return _from_hf(datasets.load_from_disk(str(path)), source, label_column)
        files = _find_split_files(path)
        if files:
            return {s: read_table(p) for s, p in files.items()}, None, None
    elif path.suffix.lower() in SUFFIXES or source.startswith((".", "/", "~")):
        raise FileNotFoundError(f"no such data file or folder: {source!r}")
    elif close := difflib.get_close_matches(source, list(BUILTIN_DATASETS), n=1, cutoff=0.8):
        raise InputError(
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
        raise InputError(
            f"{source!r} is not a built-in dataset ({', '.join(BUILTIN_DATASETS)}), a local "
            f"{'/'.join(SUFFIXES)} file, a folder of train/validation/test files, nor a "
            f"loadable Hugging Face dataset ({type(err).__name__}: {err})"
        ) from err
    return _from_hf(loaded, source, label_column)


def _from_hf(
    loaded: Any, source: str, label_column: str
) -> tuple[dict[str, Table], list[str] | None, str | None]:
    split_dict = loaded if hasattr(loaded, "keys") else {"train": loaded}
    tables: dict[str, Table] = {}
    names, kind = None, None
    for key in split_dict:
        split = split_name(key)
        if split is None:
            logger.info("ignoring split %r of %r", key, source)
            continue
        ds = split_dict[key]
        feature = ds.features.get(label_column)
        inner = getattr(feature, "feature", None)  # Sequence / List of a feature
        feature_names = getattr(feature, "names", None) or getattr(inner, "names", None)
        names = names or feature_names
        if getattr(inner, "names", None):
            kind = "multi_label"
        elif str(getattr(feature, "dtype", "")).startswith(("float", "double")):
            kind = "regression"
        table = ds.to_dict()
        if feature_names and label_column in table:
            # a ClassLabel stores ids: its names are the labels (-1, "no label", is missing)
            table[label_column] = [
                [_class_name(v, feature_names) for v in vs]
                if isinstance(vs, list)
                else _class_name(vs, feature_names)
                for vs in table[label_column]
            ]
        tables[split] = table
    return tables, names, kind


def _class_name(value: Any, names: list[str]) -> Any:
    """A ClassLabel id as its name; -1 (no label) as missing; anything else as it is."""
    if isinstance(value, int) and 0 <= value < len(names):
        return names[value]
    return None if value == -1 else value
