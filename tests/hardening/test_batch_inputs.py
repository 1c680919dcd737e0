"""Malformed rows of a streamed ``phalanx classify --input F --output O`` (issue 22): a bad
JSON line, a wrong field count, non-UTF-8 bytes, a missing or null text, each named with its
row and line; ``--on-error fail`` stops (exit 2, the way on named), ``skip`` writes the row
with an ``error`` field; through a fresh CLI process and the Python API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phalanx.batch import RowError, classify_file
from tests.hardening.harness import assert_refused, run_cli
from tests.unit.batch.conftest import read_rows

GOOD = "the movie was fun and great"
#: name -> (file name, bytes, the bad row's number, what its message says)
CASES = {
    "bad_json": ("in.jsonl", b'{"text": "%s"}\n{"text": oops}\n{"text": "%s"}\n',
                 2, "line 2: not valid JSON"),
    "not_an_object": ("in.jsonl", b'{"text": "%s"}\n["a list"]\n{"text": "%s"}\n',
                      2, "line 2: a JSON list"),
    "field_count": ("in.csv", b"id,text\n1,%s\n2,too,many\n3,%s\n",
                    2, "line 3: 3 fields, the header has 2"),
    "not_utf8": ("in.tsv", b"id\ttext\n1\t%s\n2\tcaf\xe9 bad\n3\t%s\n",
                 2, "in.tsv is not valid UTF-8 (byte 0xe9"),
    "null_text": ("in.jsonl", b'{"text": "%s"}\n{"text": null}\n{"text": "%s"}\n',
                  2, "the 'text' text is missing"),
    "empty_text": ("in.csv", b"id,text\n1,%s\n2,\n3,%s\n", 2, "the 'text' text is missing"),
    "missing_field": ("in.jsonl", b'{"text": "%s"}\n{"body": "x"}\n{"text": "%s"}\n',
                      2, "no 'text' field"),
}  # fmt: skip


def _write(tmp_path: Path, case: str) -> tuple[Path, int, str]:
    name, body, row, message = CASES[case]
    path = tmp_path / name
    path.write_bytes(body.replace(b"%s", GOOD.encode()))
    return path, row, message


@pytest.mark.parametrize("case", list(CASES))
def test_python_api_fail_and_skip_name_the_row(plain_adapter, tmp_path, case):
    source, row, message = _write(tmp_path, case)
    out = tmp_path / "out.jsonl"
    with pytest.raises(RowError) as err:
        classify_file(plain_adapter, source, out, chunk_size=2, workers=1, progress=False)
    assert err.value.row == row and f"row {row}: " in str(err.value) and message in str(err.value)
    assert "--on-error skip" in str(err.value) and not out.exists()
    report = classify_file(plain_adapter, source, out, chunk_size=2, workers=1, on_error="skip",
                           overwrite=True, progress=False)  # fmt: skip
    rows = read_rows(out)
    assert report.rows == 3 and report.errors == 1 and len(rows) == 3
    assert rows[row - 1]["label"] is None and message in rows[row - 1]["error"]
    assert [r["error"] for i, r in enumerate(rows) if i != row - 1] == [None, None]
    assert rows[0]["label"] is not None


@pytest.mark.parametrize("case", ["bad_json", "field_count", "not_utf8", "null_text"])
def test_cli_fail_exits_2_naming_the_row_and_the_way_on(plain_adapter, tmp_path, case):
    source, row, message = _write(tmp_path, case)
    out = tmp_path / "out.csv"
    ended = run_cli("classify", plain_adapter, "--input", source, "--output", out,
                    "--chunk-size", "2", "--workers", "1")  # fmt: skip
    assert_refused(ended, f"row {row}: ", message, "--resume", "--on-error skip")
    assert not out.exists()


def test_cli_skip_writes_the_bad_row_with_its_error(plain_adapter, tmp_path):
    source, _, message = _write(tmp_path, "not_utf8")
    out = tmp_path / "out.csv"
    ended = run_cli("classify", plain_adapter, "--input", source, "--output", out,
                    "--on-error", "skip", "--keep-columns", "id", "--workers", "1")  # fmt: skip
    assert ended.code == 0, ended.stderr[-2000:]
    assert "1 rows not classified" in ended.last_line
    rows = read_rows(out)
    assert [r["id"] for r in rows] == ["1", "", "3"]  # an unreadable row keeps no cells
    assert message in rows[1]["error"] and rows[1]["label"] == "" and rows[0]["error"] == ""


def test_cli_missing_text_column_lists_the_columns(plain_adapter, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": 1, "review": GOOD}) + "\n")
    ended = run_cli("classify", plain_adapter, "--input", source, "--output", tmp_path / "o.csv")
    assert_refused(ended, "column 'text' not found", "['id', 'review']", "--text-column")


def test_cli_printing_streams_the_rows_and_the_batch_flags_need_a_file(plain_adapter, tmp_path):
    source, _, _ = _write(tmp_path, "null_text")
    ended = run_cli("classify", plain_adapter, "--input", source, "--json", "--on-error", "skip",
                    "--chunk-size", "1")  # fmt: skip
    assert ended.code == 0, ended.stderr[-2000:]
    rows = [json.loads(line) for line in ended.stdout.splitlines()]
    assert len(rows) == 3 and rows[1]["error"].startswith("row 2: ") and rows[0]["label"]
    assert_refused(run_cli("classify", plain_adapter, GOOD, "--workers", "2"), "--input FILE")
