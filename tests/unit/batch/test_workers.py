"""Several workers (threads, processes) keep the input order and give the predictions of
one; the workers x threads split fills the cores; the progress line and final summary."""

from __future__ import annotations

import logging

import pytest

from phalanx.batch import classify_file
from phalanx.batch.progress import Progress
from phalanx.batch.workers import threads_per_worker
from tests.unit.batch.conftest import read_rows, review_rows, write_rows

ROWS = review_rows(40)


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_several_workers_keep_the_input_order(adapter, tmp_path, executor):
    source = write_rows(tmp_path / "in.jsonl", ROWS)
    one = classify_file(adapter, source, tmp_path / "one.csv", chunk_size=3, workers=1,
                        keep_columns=["id"], progress=False)  # fmt: skip
    many = classify_file(adapter, source, tmp_path / "many.csv", chunk_size=3, workers=2,
                         executor=executor, threads=1, keep_columns=["id"],
                         progress=False)  # fmt: skip
    rows = read_rows(tmp_path / "many.csv")
    assert [int(r["id"]) for r in rows] == list(range(len(ROWS)))
    assert rows == read_rows(tmp_path / "one.csv")
    assert many.label_counts == one.label_counts and many.rows == len(ROWS)


def test_workers_times_threads_fill_the_cores():
    assert threads_per_worker(1, 8) == 8
    assert threads_per_worker(2, 8) == 4
    assert threads_per_worker(3, 2) == 1  # never below one


def test_plain_progress_lines_and_the_estimate_from_bytes(caplog, monkeypatch):
    import phalanx.batch.progress as progress

    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)
    bar = Progress("log", total_bytes=1000)
    with caplog.at_level(logging.INFO, logger="phalanx.batch"):
        bar.update(50, bytes_done=250)  # a quarter of the bytes for 50 rows: ~200 rows
    assert bar.estimate(250) == 200
    line = caplog.records[-1].getMessage()
    assert line.startswith("classified 50 of ~200 rows (25.0%)") and "rows/s" in line
    known = Progress("log", total_rows=80)
    known.update(20)
    assert "of 80 rows (25.0%)" in known.line(80)


def test_the_summary_names_rows_rate_and_labels(adapter, tmp_path):
    source = write_rows(tmp_path / "in.csv", ROWS)
    report = classify_file(adapter, source, tmp_path / "o.parquet", workers=1, progress=False)
    line = report.summary()
    assert line.startswith(f"wrote {len(ROWS)} rows to ") and " rows/s)" in line
    assert "; labels: " in line and sum(report.label_counts.values()) == len(ROWS)
