"""``classify_file`` over every input x output format: the predictions ``classify()`` gives
the same texts, in input order, with the kept columns (their types kept in Parquet)."""

from __future__ import annotations

import itertools
import json

import pytest

from phalanx.batch import classify_file
from phalanx.errors import InputError
from tests.unit.batch.conftest import FORMATS, read_rows, review_rows, write_rows

pytestmark = pytest.mark.usefixtures("one_thread")

ROWS = review_rows(11)
TEXTS = [r["text"] for r in ROWS]


def _probabilities(row: dict, labels: list[str]) -> list[float]:
    if "probabilities" in row:
        return [float(row["probabilities"][lab]) for lab in labels]
    return [float(row[f"probabilities.{lab}"]) for lab in labels]


def assert_predictions(rows: list[dict], records: list[dict], labels: list[str]) -> None:
    assert [r["label"] for r in rows] == [r["label"] for r in records]
    for row, record in zip(rows, records, strict=True):
        assert float(row["score"]) == pytest.approx(record["score"], abs=1e-5)
        assert _probabilities(row, labels) == pytest.approx(
            _probabilities(record, labels), abs=1e-5
        )


@pytest.mark.parametrize("src,dst", list(itertools.product(FORMATS, FORMATS)))
def test_every_format_pair_gives_classify_predictions_in_order(
    adapter, clf, expected, tmp_path, src, dst
):
    source = write_rows(tmp_path / f"in.{src}", ROWS)
    out = tmp_path / f"out.{dst}"
    report = classify_file(
        clf, source, out, chunk_size=4, workers=1, keep_columns=["id", "note"], progress=False
    )
    rows = read_rows(out)
    assert report.rows == len(ROWS) == len(rows) and report.errors == 0
    assert [str(r["id"]) for r in rows] == [str(r["id"]) for r in ROWS]  # input order
    # multi-line cells intact; an empty csv/tsv cell is a missing value (as pandas reads it),
    # which a csv/tsv output writes as an empty cell again
    flat_text = src in ("csv", "tsv") and dst not in ("csv", "tsv")
    want = [None if flat_text and r["note"] == "" else r["note"] for r in ROWS]
    got = ["" if r["note"] is None and dst in ("csv", "tsv") else r["note"] for r in rows]
    assert got == [("" if w is None and dst in ("csv", "tsv") else w) for w in want]
    assert [r["text"] for r in rows] == TEXTS
    assert_predictions(rows, expected(TEXTS), clf.labels)
    assert sum(report.label_counts.values()) == len(ROWS)
    assert list(rows[0]) == [
        "id", "note", "text", "label", "score", *(
            [f"probabilities.{lab}" for lab in clf.labels] if dst != "jsonl" else ["probabilities"]
        ),
    ]  # fmt: skip
    assert not list(tmp_path.glob(".out*")), "the partial and the sidecar are gone"


def test_json_array_output_and_input(adapter, clf, expected, tmp_path):
    source = write_rows(tmp_path / "in.json", ROWS)
    out = tmp_path / "out.json"
    classify_file(adapter, source, out, chunk_size=5, workers=1, progress=False)
    rows = json.loads(out.read_text())
    assert [r["text"] for r in rows] == TEXTS
    assert_predictions(rows, expected(TEXTS), clf.labels)


def test_parquet_keeps_the_input_types_and_all_null_columns(adapter, tmp_path):
    import pyarrow.parquet as pq

    rows = [{**r, "score": 0.5, "empty": None} for r in ROWS]
    source = write_rows(tmp_path / "in.parquet", rows)
    out = tmp_path / "out.parquet"
    classify_file(adapter, source, out, chunk_size=3, workers=1, keep_all_columns=True,
                  progress=False)  # fmt: skip
    schema = pq.read_schema(out)
    assert str(schema.field("id").type) == "int64"  # kept: the input's type
    assert str(schema.field("input.score").type) == "double"  # renamed: not the prediction's
    assert str(schema.field("score").type) == "double"
    assert str(schema.field("label").type) == "string"
    back = pq.read_table(out).to_pylist()
    assert [r["id"] for r in back] == list(range(len(ROWS)))
    assert all(r["empty"] is None and r["input.score"] == 0.5 for r in back)


def test_jsonl_to_parquet_with_an_all_null_first_chunk(adapter, tmp_path):
    rows = [{"text": r["text"], "tag": None if i < 4 else f"t{i}"} for i, r in enumerate(ROWS)]
    source = write_rows(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.parquet"
    classify_file(adapter, source, out, chunk_size=4, workers=1, keep_columns=["tag"],
                  progress=False)  # fmt: skip
    assert [r["tag"] for r in read_rows(out)] == [r["tag"] for r in rows]


def test_an_existing_output_needs_overwrite_before_any_work(adapter, tmp_path):
    source = write_rows(tmp_path / "in.csv", ROWS)
    out = tmp_path / "out.csv"
    out.write_text("keep me\n")
    with pytest.raises(InputError, match="--overwrite"):
        classify_file(adapter, source, out, workers=1, progress=False)
    assert out.read_text() == "keep me\n"
    classify_file(adapter, source, out, workers=1, overwrite=True, progress=False)
    assert len(read_rows(out)) == len(ROWS)


def test_a_missing_text_column_lists_the_columns_there_are(adapter, tmp_path):
    for fmt in FORMATS:
        source = write_rows(tmp_path / f"in.{fmt}", [{"id": 1, "body": "x"}])
        with pytest.raises(InputError) as err:
            classify_file(adapter, source, tmp_path / "o.csv", workers=1, progress=False)
        assert "column 'text' not found" in str(err.value) and "['id', 'body']" in str(err.value)
        assert "--text-column" in str(err.value)
    assert not (tmp_path / "o.csv").exists()


def test_text_column_and_keep_columns_refusals(adapter, tmp_path):
    source = write_rows(tmp_path / "in.csv", [{"id": 1, "body": "the movie was fun"}])
    out = tmp_path / "o.jsonl"
    report = classify_file(adapter, source, out, text_column="body", keep_columns=["id"],
                           workers=1, progress=False)  # fmt: skip
    assert report.rows == 1 and read_rows(out)[0]["id"] == "1"
    with pytest.raises(InputError, match="--keep-columns 'date' is not a column"):
        classify_file(adapter, source, out, text_column="body", keep_columns=["date"],
                      overwrite=True, workers=1, progress=False)  # fmt: skip
