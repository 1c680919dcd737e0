"""The Ray Data engine on a real local Ray instance (2 CPUs): same predictions as the local
engine and ``classify()``, in input order, and the same messages for bad input."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

from phalanx.errors import InputError
from tests.unit.batch.conftest import review_rows, write_rows

ray = pytest.importorskip(
    "ray", reason="the Ray engine needs the ray extra: pip install -e '.[ray]'"
)


@pytest.fixture(scope="module")
def cluster():
    """One local instance for the module (Ray takes seconds to start)."""
    import logging

    ray.init(
        num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING
    )
    yield
    ray.shutdown()


def read_folder(folder: Path) -> list[dict]:
    """The rows of every file Ray wrote, in file-name order (row order)."""
    from tests.unit.batch.conftest import read_rows

    files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    assert files, f"no file in {folder}"
    return [row for f in files for row in read_rows(f)]


def test_classify_dataset_gives_classify_predictions_in_input_order(cluster, adapter, expected):
    from phalanx.batch.ray_engine import classify_dataset

    rows = review_rows(40)
    ds = ray.data.from_items(rows, override_num_blocks=4)
    out = classify_dataset(ds, adapter, workers=2, chunk_size=6, keep_columns=["id"]).take_all()
    want = expected([r["text"] for r in rows])
    assert [r["id"] for r in out] == [r["id"] for r in rows]
    assert [r["text"] for r in out] == [r["text"] for r in rows]
    assert [r["label"] for r in out] == [w["label"] for w in want]
    for got, w in zip(out, want, strict=True):
        assert got["score"] == pytest.approx(w["score"], abs=1e-5)
        for label, p in w["probabilities"].items():
            assert got[f"probabilities.{label}"] == pytest.approx(p, abs=1e-5)


def test_parquet_to_parquet_matches_the_local_predictor_and_counts_labels(
    cluster, adapter, clf, tmp_path
):
    from phalanx.batch import BatchPredictor
    from phalanx.batch.ray_engine import run_file

    rows = review_rows(30)
    rows[4]["text"] = None  # a missing text: an error field with --on-error skip
    source = write_rows(tmp_path / "in.parquet", rows)
    options = {"keep_columns": ["id"], "on_error": "skip"}
    report = run_file(adapter, source, tmp_path / "out.parquet", workers=1, chunk_size=8,
                      predictor_options=options)  # fmt: skip
    local = BatchPredictor(classifier=clf, **options)
    local.check_columns(list(rows[0]))
    want = local(rows)
    got = read_folder(tmp_path / "out.parquet")
    assert [r["id"] for r in got] == list(range(30))
    assert [r["label"] for r in got] == [w["label"] for w in want]
    assert got[4]["label"] is None and "'text' text is missing" in got[4]["error"]
    assert not got[4]["error"].startswith("row")  # no batch-relative number
    assert all(r["error"] is None for i, r in enumerate(got) if i != 4)
    assert (report.rows, report.errors, report.engine) == (30, 1, "ray")
    assert report.label_counts == Counter(w["label"] for w in want if w["label"] is not None)
    assert ray.is_initialized()  # a cluster run_file did not start stays up


def test_csv_to_csv_keeps_every_column_and_multiline_cells(cluster, adapter, expected, tmp_path):
    from phalanx.batch.ray_engine import run_file

    rows = review_rows(21)
    source = write_rows(tmp_path / "in.csv", rows)
    out = tmp_path / "out.csv"
    report = run_file(adapter, source, out, workers=1, chunk_size=5,
                      predictor_options={"keep_all_columns": True})  # fmt: skip
    got = read_folder(out)
    want = expected([r["text"] for r in rows])
    assert [(r["id"], r["note"]) for r in got] == [(str(r["id"]), r["note"]) for r in rows]
    assert [r["label"] for r in got] == [w["label"] for w in want]
    assert report.rows == 21 and str(out) in report.summary()
    with pytest.raises(InputError, match="--overwrite"):
        run_file(adapter, source, out, workers=1)


def test_tsv_to_jsonl_writes_nested_records(cluster, adapter, expected, tmp_path):
    from phalanx.batch.ray_engine import run_file

    rows = review_rows(9)
    source = write_rows(tmp_path / "in.tsv", rows)
    report = run_file(adapter, source, tmp_path / "out.jsonl", workers=1,
                      predictor_options={"keep_columns": ["id"]})  # fmt: skip
    got = read_folder(tmp_path / "out.jsonl")
    want = expected([r["text"] for r in rows])
    assert [r["id"] for r in got] == list(range(9))
    assert [r["label"] for r in got] == [w["label"] for w in want]
    assert list(got[0]["probabilities"]) == list(want[0]["probabilities"])
    assert report.label_counts == Counter(w["label"] for w in want)


def test_a_missing_text_column_lists_the_columns_as_the_local_engine_does(
    cluster, adapter, clf, tmp_path
):
    from phalanx.batch import BatchPredictor
    from phalanx.batch.ray_engine import run_file

    source = write_rows(tmp_path / "in.parquet", [{"id": 1, "body": "good"}])
    with pytest.raises(InputError) as local:
        BatchPredictor(classifier=clf).check_columns(["id", "body"], str(source))
    with pytest.raises(InputError) as remote:
        run_file(adapter, source, tmp_path / "out.parquet", workers=1)
    assert str(remote.value) == str(local.value)
    assert "'id', 'body'" in str(remote.value) and "--text-column" in str(remote.value)
    assert not (tmp_path / "out.parquet").exists()


def test_a_bad_row_with_on_error_fail_is_named_by_its_kept_id(cluster, adapter, tmp_path):
    from phalanx.batch.ray_engine import run_file

    rows = review_rows(12)
    rows[9]["text"] = None
    source = write_rows(tmp_path / "in.parquet", rows)
    with pytest.raises(InputError, match=r"\(id=9\).*text is missing.*--on-error skip"):
        run_file(adapter, source, tmp_path / "out.parquet", workers=1, chunk_size=4,
                 predictor_options={"keep_columns": ["id"]})  # fmt: skip
    assert not (tmp_path / "out.parquet").exists()


def test_more_workers_than_the_cluster_can_hold_is_refused_not_hung(cluster, adapter, tmp_path):
    from phalanx.batch.ray_engine import run_file

    source = write_rows(tmp_path / "in.csv", review_rows(3))
    with pytest.raises(InputError, match=r"--workers 2 x 1 threads.*give --workers 1"):
        run_file(adapter, source, tmp_path / "out.csv", workers=2)


def test_an_unknown_suffix_names_the_formats(adapter, tmp_path):
    from phalanx.batch.ray_engine import run_file

    with pytest.raises(InputError, match=r"\.parquet, \.csv, \.tsv, \.jsonl"):
        run_file(adapter, tmp_path / "in.xlsx", tmp_path / "out.csv")


def test_without_ray_the_error_names_the_extra(monkeypatch, adapter):
    from phalanx.batch.ray_engine import classify_dataset

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'phalanx\[ray\]'"):
        classify_dataset(None, adapter)


def test_the_cli_engine_ray_writes_a_folder_and_says_so(cluster, adapter, tmp_path, capsys):
    from phalanx.cli import main

    source = write_rows(tmp_path / "in.parquet", review_rows(6))
    out = tmp_path / "out.csv"
    argv = ["classify", str(adapter), "--input", str(source), "--output", str(out),
            "--engine", "ray", "--workers", "1", "--keep-columns", "id"]  # fmt: skip
    assert main(argv) == 0
    assert [r["id"] for r in read_folder(out)] == [str(i) for i in range(6)]
    shown = "".join(capsys.readouterr())
    assert "wrote 6 rows" in shown and "a folder of 1 file" in shown
