"""What ``phalanx train`` / ``compress`` print: results alone on stdout, plain progress lines and
one row per evaluation on a stderr that is not a terminal, and a one-line refusal when a
``--report-to`` tracker is not installed."""

from __future__ import annotations

import importlib.util
import re

import pytest

from phalanx.cli.parser import main
from tests.hardening.harness import assert_refused, run_cli
from tests.helpers import RECIPES, write_toy_csv

TINY = ["--batch-size", "8", "--max-length", "16", "--lr", "0.01", "--logging-steps", "5"]
ROW = re.compile(r"^\s*\d+\.\d\d\s+\d+\s+(\d\.\d{4}|-)\s+\d\.\d{4}\s+\d+\.\d\d%\s+(\d\.\d{4}|-)$")
HEADER = re.compile(r"^\s*epoch\s+step\s+train loss\s+validation loss\s+accuracy\s+macro-F1$")
#: what the run logs on stderr, never on stdout
LOG_LINE = re.compile(r"^(step \d+/|data |loading the best|loaded the|.* saved to |SpaRTA: )")
DICT_MARKS = ("{'loss'", "'epoch':", "'eval_loss'", "train_runtime")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_toy_csv(tmp_path_factory.mktemp("out-data") / "toy.csv")


def _train_argv(base, data, out, *extra: str) -> list[str]:
    return ["train", "--model", str(base), "--dataset", str(data), "-o", str(out), *TINY, *extra]


def test_train_quiet_prints_only_the_results_on_stdout(tiny_base, data, tmp_path, capfd):
    code = main(["-q", *_train_argv(tiny_base("bert"), data, tmp_path / "run", "--epochs", "1")])
    out, err = capfd.readouterr()
    assert code == 0, err
    assert not any(mark in out for mark in DICT_MARKS), out
    lines = out.strip().splitlines()
    assert lines[0].startswith("trainable params: ") and lines[1].startswith("best: epoch 1 ")
    assert lines[2] == "test (10 examples):" and lines[-2].startswith("adapter: ")
    assert lines[-1].startswith("classify: phalanx classify ")
    logged = [
        line for line in lines if LOG_LINE.match(line) or ROW.match(line) or HEADER.match(line)
    ]
    assert not logged, out
    assert out.count("trainable params: ") == 1
    # -q: warnings only on stderr; neither progress nor evaluation rows
    assert not any(ROW.match(line) or HEADER.match(line) for line in err.splitlines()), err
    assert "step 5/" not in err


def test_train_without_a_terminal_writes_plain_lines_and_each_row_once(tiny_base, data, tmp_path):
    ended = run_cli(*_train_argv(tiny_base("bert"), data, tmp_path / "run", "--epochs", "2"))
    assert ended.code == 0, ended.stderr[-3000:]
    assert "\r" not in ended.stderr and "\x1b[" not in ended.stderr  # no bar, no cursor moves
    assert not any(mark in ended.stdout + ended.stderr for mark in DICT_MARKS)
    err = ended.stderr.splitlines()
    assert sum(bool(HEADER.match(line)) for line in err) == 1
    rows = [line for line in err if ROW.match(line)]
    assert [r.split()[:2] for r in rows] == [["1.00", "10"], ["2.00", "20"]]
    steps = [line for line in err if line.startswith("step ")]
    assert steps[0].startswith("step 5/20 (25%), loss ") and "steps/s, ETA " in steps[0]
    assert "trainable params: " not in ended.stdout.split("best:")[1]  # once on stdout
    assert ended.stdout.splitlines()[-1].startswith("classify: ")


def test_no_progress_keeps_the_rows(tiny_base, data, tmp_path, capfd):
    argv = _train_argv(tiny_base("bert"), data, tmp_path / "run", "--max-steps", "10")
    assert main([*argv, "--no-progress"]) == 0
    out, err = capfd.readouterr()
    assert sum(bool(ROW.match(line)) for line in err.splitlines()) == 1
    assert "step 5/" not in err and not any(mark in out for mark in DICT_MARKS)


def test_compress_prints_rows_on_stderr_and_results_on_stdout(tiny_base, data, tmp_path, capfd):
    argv = ["compress", "--recipe", str(RECIPES / "minilm_fp32_baseline.yaml")]
    argv += ["--model", str(tiny_base("bert")), "--dataset", str(data), "-o", str(tmp_path / "c")]
    argv += ["--batch-size", "8", "--max-length", "16", "--logging-steps", "5"]
    assert main([*argv, "--max-steps", "10"]) == 0
    out, err = capfd.readouterr()
    assert not any(mark in out + err for mark in DICT_MARKS), out
    assert out.startswith("sparsity of the pruned weights: ")
    assert sum(bool(HEADER.match(line)) for line in err.splitlines()) == 1
    assert "step 5/10 (50%)" in err
    assert main(["-q", *argv, "--max-steps", "5", "--overwrite"]) == 0
    out, err = capfd.readouterr()
    assert out.startswith("sparsity of the pruned weights: ") and "step 5/" not in err
    assert not any(HEADER.match(line) for line in err.splitlines())


@pytest.mark.skipif(
    importlib.util.find_spec("tensorboard") is not None
    or importlib.util.find_spec("tensorboardX") is not None,
    reason="tensorboard is installed here",
)
def test_report_to_a_missing_tracker_is_one_line_naming_what_to_install(tmp_path):
    # the model and the data do not exist: the tracker is refused before they are read
    argv = ["train", "--model", tmp_path / "no-model", "--dataset", tmp_path / "no.csv"]
    ended = run_cli(*argv, "-o", tmp_path / "run", "--report-to", "tensorboard")
    assert_refused(ended, "report_to=tensorboard", "pip install 'phalanx[tensorboard]'")
    assert ended.stdout == "" and not (tmp_path / "run").exists()


def test_report_to_an_unknown_tracker_names_the_choices(tmp_path, capfd):
    argv = ["train", "--model", str(tmp_path / "no-model"), "--dataset", str(tmp_path / "no.csv")]
    assert main([*argv, "-o", str(tmp_path / "run"), "--report-to", "tensorbord"]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert err[-1].startswith("phalanx train: error: report_to='tensorbord' is not a tracker")
    assert "tensorboard" in err[-1] and "wandb" in err[-1]
