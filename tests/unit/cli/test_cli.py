"""The ``phalanx`` CLI end to end on a tiny model, plus its one-line errors for bad input."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from phalanx.cli.parser import main
from tests.helpers import write_toy_csv

pytestmark = pytest.mark.usefixtures("one_thread")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def rotten_tomatoes_present() -> bool:
    from phalanx.assets import list_datasets

    return any(d["name"] == "rotten_tomatoes" and d["installed"] for d in list_datasets())


TINY = ["--batch-size", "16", "--max-length", "32", "--no-progress", "--lr", "0.01"]


@pytest.fixture(scope="module")
def trained_run(tiny_base, tmp_path_factory):
    """`phalanx train` on a real rotten_tomatoes subset (64 sentences per split)."""
    if not rotten_tomatoes_present():
        pytest.skip("rotten_tomatoes is not downloaded: run `phalanx assets download`")
    out = tmp_path_factory.mktemp("cli") / "run"
    argv = ["train", "--model", tiny_base("bert"), "--dataset", "rotten_tomatoes"]
    argv += ["--limit", "64", "--epochs", "1", "-o", out, *TINY]
    assert main([str(a) for a in argv]) == 0
    return out


def test_train_prints_trainable_line_and_test_metrics(trained_run, capsys):
    code, out, _ = run(capsys, "info", trained_run)
    assert code == 0
    assert "method:" in out and "sparta" in out and "labels:" in out and "negative, positive" in out
    assert "trainable params:" in out and "size on disk:" in out and "test accuracy:" in out
    info = json.loads(run(capsys, "info", trained_run / "adapter", "--json")[1])
    assert info["metrics"]["test"]["n"] == 64 and info["dataset"] == "rotten_tomatoes"


def test_classify_texts_and_files(trained_run, tmp_path, capsys):
    code, out, _ = run(capsys, "classify", trained_run, "a charming journey", "bleak")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].split()[:4] == ["label", "score", "negative", "positive"] and len(lines) == 3
    code, out, _ = run(capsys, "classify", trained_run, "fun", "--json")
    row = json.loads(out)
    assert row["label"] in ("negative", "positive")
    assert set(row) == {"text", "label", "score", "probabilities"}
    assert sum(row["probabilities"].values()) == pytest.approx(1, abs=1e-5)
    assert row["score"] == row["probabilities"][row["label"]]

    source = tmp_path / "in.jsonl"
    source.write_text('{"review": "great fun"}\n{"review": "dull"}\n')
    for suffix in (".csv", ".jsonl"):
        target = tmp_path / f"out{suffix}"
        code, out, _ = run(
            capsys, "classify", trained_run, "--input", source, "--text-column", "review",
            "--output", target,
        )  # fmt: skip
        assert code == 0 and "wrote 2 predictions" in out
        if suffix == ".csv":
            rows = list(csv.DictReader(target.open()))
        else:
            rows = [json.loads(line) for line in target.read_text().splitlines()]
        assert [r["text"] for r in rows] == ["great fun", "dull"]
        flat = ["text", "label", "score", "probabilities.negative", "probabilities.positive"]
        assert list(rows[0]) == (flat if suffix == ".csv" else [*flat[:3], "probabilities"])


def test_evaluate_prints_seed_layout_and_writes_json(trained_run, tmp_path, capsys):
    target = tmp_path / "metrics.json"
    argv = ["evaluate", trained_run, "--dataset", "rotten_tomatoes", "--limit", "64"]
    code, out, _ = run(capsys, *argv, "--output", target)
    assert code == 0
    assert out.startswith("loss: ") and "\naccuracy: " in out and "confusion matrix (rows" in out
    assert "balanced accuracy:" in out and "MCC:" in out and "F1-score:" in out
    saved = json.loads(target.read_text())
    assert saved["split"] == "test" and saved["n"] == 64
    info = json.loads((trained_run / "adapter" / "phalanx.json").read_text())
    assert saved["accuracy"] == pytest.approx(info["metrics"]["test"]["accuracy"])


def test_config_file_options_and_flag_precedence(tiny_base, tmp_path, capsys):
    data = write_toy_csv(tmp_path / "toy.csv")
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {"model": str(tiny_base("bert")), "dataset": str(data), "epochs": 5, "max_steps": 3,
             "output": str(tmp_path / "run"), "method_options": {"density": 0.05},
             "progress": False},
        )
    )  # fmt: skip
    code, out, err = run(capsys, "validate", cfg)
    assert code == 0 and "OK" in out and "76 train / 10 validation / 10 test" in out, err
    code, out, _ = run(capsys, "train", "--config", cfg, "--max-steps", "2", "--lr", "0.02")
    assert code == 0
    saved = yaml.safe_load((tmp_path / "run" / "train_config.yaml").read_text())
    assert saved["max_steps"] == 2 and saved["lr"] == 0.02  # flags win over the file
    assert saved["epochs"] == 5 and saved["method_options"]["density"] == 0.05  # file values
    meta = json.loads((tmp_path / "run" / "adapter" / "phalanx.json").read_text())
    assert meta["metrics"]["steps"] == 2
    code, _, err = run(capsys, "train", "--config", cfg, "--method-options", "density=0.05")
    assert code == 2 and "exists and is not empty" in err and "--overwrite" in err


def test_listings(capsys):
    for command in ("models", "datasets"):
        code, out, _ = run(capsys, command)
        assert code == 0 and out.startswith("name") and "installed" in out.splitlines()[0]
    assert "minilm-l6" in run(capsys, "models")[1]
    assert "rotten_tomatoes" in run(capsys, "datasets")[1]
    assert "sparta" in run(capsys, "methods")[1]
    rows = json.loads(run(capsys, "models", "--json")[1])
    assert {"name", "installed", "package"} <= set(rows[0])


def test_assets_download_is_a_quick_no_op_when_present(capsys):
    if not rotten_tomatoes_present():
        pytest.skip("rotten_tomatoes is not downloaded")
    code, out, _ = run(capsys, "assets", "download", "rotten_tomatoes")
    assert code == 0 and out.strip() == "present: rotten_tomatoes"


def test_help_has_examples_and_console_script_runs():
    proc = subprocess.run(
        [sys.executable, "-m", "phalanx", "train", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "examples:" in proc.stdout and "--input-template" in proc.stdout
    assert "--method-options KEY=VALUE" in proc.stdout


# ----------------------------------------------------------------------------- bad input


@pytest.fixture(scope="module")
def tiny_args(tiny_base):
    return ["--model", str(tiny_base("bert")), "--max-steps", "1", "--no-progress"]


def _bad(capsys, *argv) -> str:
    code, _, err = run(capsys, *argv)
    assert code == 2, err
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"phalanx {argv[0]}: error: "), err
    return last


def test_missing_and_empty_files(capsys, tmp_path, tiny_args):
    err = _bad(capsys, "train", "--dataset", tmp_path / "nope.csv", *tiny_args)
    assert "nope.csv" in err and "no such data file" in err
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "is empty" in _bad(capsys, "train", "--dataset", empty, *tiny_args)
    assert "does not exist" in _bad(capsys, "train", "--config", tmp_path / "missing.yaml")
    blank = tmp_path / "blank.yaml"
    blank.write_text("\n")
    assert "is empty" in _bad(capsys, "validate", blank)
    assert "does not exist" in _bad(capsys, "classify", tmp_path / "no-adapter", "hi")


def test_unknown_columns_single_class_and_unknown_names(capsys, tmp_path, tiny_args):
    data = write_toy_csv(tmp_path / "toy.csv")
    err = _bad(capsys, "train", "--dataset", data, "--text-column", "review", *tiny_args)
    assert "'review' not found" in err and "['text', 'label']" in err and "text_column" in err
    one = tmp_path / "one.csv"
    one.write_text("text,label\n" + "".join(f"good {i},pos\n" for i in range(20)))
    err = _bad(capsys, "train", "--dataset", one, *tiny_args)
    assert "single class ('pos')" in err
    err = _bad(capsys, "train", "--dataset", "roten_tomatoes", *tiny_args)
    assert "'roten_tomatoes'" in err and "rotten_tomatoes" in err
    err = _bad(capsys, "train", "--model", "minilm-l7", "--dataset", data, "--max-steps", "1")
    assert "'minilm-l7'" in err and "minilm-l6" in err
    err = _bad(capsys, "validate", _yaml(tmp_path, {"epoch": 2}))
    assert "unknown training option 'epoch'" in err and "'epochs'" in err


def _yaml(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    return path
