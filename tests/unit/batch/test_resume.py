"""Resume: ``kill -9`` mid-run then ``--resume`` gives the output of an uninterrupted run
(CSV bytes, Parquet rows); a stop at a bad row keeps the chunks before it, and fixing the
row then resuming finishes the file; another input or options are refused, named."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from phalanx.batch import RowError, classify_file
from phalanx.batch.resume import sidecar_path
from phalanx.errors import InputError
from tests.hardening.harness import assert_refused, run_cli
from tests.unit.batch.conftest import read_rows, review_rows, write_rows

ROWS = review_rows(800)


def _cli(adapter: Path, source: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "phalanx", "classify", str(adapter), "--input", str(source),
            "--output", str(out), "--chunk-size", "2", "--workers", "1", "--keep-columns",
            "id", *extra]  # fmt: skip


def _killed_mid_run(argv: list[str], out: Path) -> None:
    """Start the CLI, SIGKILL it once the sidecar records a complete chunk."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sidecar, deadline = sidecar_path(out), time.monotonic() + 90
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if sidecar.exists():
                try:
                    if json.loads(sidecar.read_text())["chunks"] >= 1:
                        break
                except ValueError:
                    pass  # replaced while read
            time.sleep(0.01)
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read()}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    assert not out.exists() and sidecar.exists()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_kill_9_then_resume_gives_the_uninterrupted_output(adapter, tmp_path, fmt):
    source = write_rows(tmp_path / "in.jsonl", ROWS)
    clean, out = tmp_path / f"clean.{fmt}", tmp_path / f"out.{fmt}"
    _killed_mid_run(_cli(adapter, source, out), out)
    done = json.loads(sidecar_path(out).read_text())["rows"]
    assert 0 < done < len(ROWS)
    ended = run_cli(*_cli(adapter, source, out, "--resume")[3:], timeout=300)
    assert ended.code == 0, ended.stderr[-2000:]
    assert f"{done} of them from the interrupted run" in ended.last_line
    ran = run_cli(*_cli(adapter, source, clean)[3:], timeout=300)
    assert ran.code == 0, ran.stderr[-2000:]
    if fmt == "csv":
        assert out.read_bytes() == clean.read_bytes()
    else:
        assert read_rows(out) == read_rows(clean)
    assert not sidecar_path(out).exists() and not list(tmp_path.glob(".out*"))


def test_fix_the_bad_row_then_resume(adapter, tmp_path):
    rows = review_rows(10)
    source = tmp_path / "in.jsonl"
    lines = [json.dumps(r) for r in rows]
    source.write_text("\n".join([*lines[:7], "{oops", *lines[8:]]) + "\n")
    out = tmp_path / "out.jsonl"
    with pytest.raises(RowError) as err:
        classify_file(adapter, source, out, chunk_size=3, workers=1, progress=False)
    assert err.value.row == 8 and "row 8: line 8: not valid JSON" in str(err.value)
    assert "the 6 rows before its chunk are kept" in str(err.value) and "--resume" in str(err.value)
    assert not out.exists() and sidecar_path(out).exists()
    source.write_text("\n".join(lines) + "\n")  # the row fixed, the rows before unchanged
    report = classify_file(adapter, source, out, chunk_size=3, workers=1, resume=True,
                           progress=False)  # fmt: skip
    assert report.rows == 10 and report.resumed_rows == 6
    clean = tmp_path / "clean.jsonl"
    classify_file(adapter, source, clean, chunk_size=3, workers=1, progress=False)
    assert out.read_bytes() == clean.read_bytes()


def test_resume_refuses_other_options_and_a_changed_input(adapter, tmp_path):
    rows = review_rows(10)
    source = write_rows(tmp_path / "in.csv", rows)
    source.write_text(source.read_text() + "99,,x\n")  # a last row without text: it stops there
    out = tmp_path / "out.csv"
    with pytest.raises(RowError, match="row 11: "):
        classify_file(adapter, source, out, chunk_size=4, workers=1, progress=False)
    with pytest.raises(InputError, match=r"the option chunk_size differs .*--overwrite"):
        classify_file(adapter, source, out, chunk_size=5, workers=1, resume=True, progress=False)
    with pytest.raises(InputError, match=r"left .*resume\.json; carry on with --resume"):
        classify_file(adapter, source, out, chunk_size=4, workers=1, progress=False)
    source.write_text(source.read_text().replace("the movie was", "the film was", 1))
    with pytest.raises(InputError, match="changed since the interrupted run"):
        classify_file(adapter, source, out, chunk_size=4, workers=1, resume=True, progress=False)


def test_cli_refuses_an_existing_output_without_overwrite(adapter, tmp_path):
    source = write_rows(tmp_path / "in.csv", review_rows(3))
    out = tmp_path / "out.csv"
    out.write_text("old\n")
    assert_refused(run_cli(*_cli(adapter, source, out)[3:]), "exists", "--overwrite")
    assert out.read_text() == "old\n"
