"""A tiny SpaRTA adapter and a table of texts in every input format, for the batch tests."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.helpers import NEGATIVE, POSITIVE

FORMATS = ("csv", "tsv", "jsonl", "parquet")


def review_rows(n: int) -> list[dict]:
    """``n`` rows: an int ``id``, a ``text`` from the tiny vocabulary, a ``note`` with commas
    and a quoted line break (CSV cells that span lines)."""
    rows = []
    for i in range(n):
        words = POSITIVE if i % 2 else NEGATIVE
        text = f"the movie was {words[i % len(words)]} and {words[(i * 7) % len(words)]}"
        rows.append({"id": i, "text": text, "note": f'#{i}, "n"\nline two' if i % 3 == 0 else ""})
    return rows


def write_rows(path: Path, rows: list[dict]) -> Path:
    """``rows`` as ``path``'s format (csv / tsv / jsonl / parquet / json)."""
    suffix = path.suffix
    if suffix in (".csv", ".tsv"):
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, list(rows[0]), delimiter="\t" if suffix == ".tsv" else ",")
            writer.writeheader()
            writer.writerows(rows)
    elif suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif suffix == ".json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=7)
    return path


def read_rows(path: Path) -> list[dict]:
    """The rows of an output file (csv cells as text, parquet and json values typed)."""
    suffix = path.suffix
    if suffix in (".csv", ".tsv"):
        with path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ","))
    if suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    if suffix == ".json":
        return json.loads(path.read_text(encoding="utf-8"))
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


@pytest.fixture(scope="session")
def adapter(tiny_base, tmp_path_factory) -> Path:
    """A SpaRTA adapter on the tiny BERT, trained a few steps (labels ``0`` / ``1``)."""
    from tests.helpers import train_adapter

    out = tmp_path_factory.mktemp("batch") / "adapter"
    train_adapter(tiny_base("bert"), out, density=0.05, seed=3)
    return out


@pytest.fixture(scope="session")
def clf(adapter):
    from phalanx import load_classifier

    return load_classifier(adapter)


@pytest.fixture(scope="session")
def expected(clf):
    """``text -> the prediction record classify() gives it`` (rounded as files write it)."""
    from phalanx.inference.records import prediction_records

    def records(texts: list[str]) -> list[dict]:
        return prediction_records(clf.classify(texts), clf.labels, decimals=6)

    return records
