"""CompareConfig (methods, per-method options, shared validation), the table formats and the
child-output plumbing of ``phalanx.compare``, without training anything."""

from __future__ import annotations

import csv
import io
import json
import signal
from pathlib import Path

import pytest

from phalanx.compare import CompareConfig, CompareResult, CompareRow
from phalanx.compare.run import _exit_reason, _segments, metric
from phalanx.compare.table import (
    human_bytes,
    human_seconds,
    to_csv,
    to_json,
    to_markdown,
    to_text,
    write_tables,
)
from phalanx.errors import InputError
from phalanx.registry import get_method, method_names


def test_methods_commas_spaces_and_all():
    assert CompareConfig(methods=["sparta,lora", "head"]).methods == ["sparta", "lora", "head"]
    assert CompareConfig(methods="ia3, full").methods == ["ia3", "full"]
    assert CompareConfig().methods == method_names()
    generative = CompareConfig(methods=["all"], task="generative").methods
    assert "head" not in generative and all(get_method(m).generative for m in generative)


@pytest.mark.parametrize(
    "methods, fragment",
    [(["sparta,lroa"], "unknown method 'lroa'"), (["lora,lora"], "given twice"), ([","], "empty")],
)
def test_bad_methods_are_refused(methods, fragment):
    with pytest.raises(InputError, match=fragment):
        CompareConfig(methods=methods)


def test_method_options_for_one_method_or_all():
    cfg = CompareConfig(
        methods=["sparta,lora"],
        method_options={"target_modules": ["query"], "lora.r": 4, "sparta": {"density": 0.05}},
    )
    assert cfg.options_for("lora") == {"target_modules": ["query"], "r": 4}
    assert cfg.options_for("sparta") == {"target_modules": ["query"], "density": 0.05}
    lora = cfg.train_config("lora").method_config()
    assert lora.r == 4 and list(lora.target_modules) == ["query"]
    with pytest.raises(InputError, match="'ia3' is not among the compared methods"):
        CompareConfig(methods=["sparta"], method_options={"ia3.x": 1})
    with pytest.raises(ValueError, match="r"):  # sparta takes no r: its row fails, not the run
        CompareConfig(methods=["sparta,lora"], method_options={"r": 4}).train_config("sparta")


def test_shared_options_are_trainconfig_s_and_validated_once():
    cfg = CompareConfig(methods=["sparta,head"], dataset="my.csv", max_steps=5, lr=0.01)
    assert cfg.output == str(Path("runs") / "compare-minilm-l6-my")
    train = cfg.train_config("head")
    assert (train.method, train.max_steps, train.lr, train.dataset) == ("head", 5, 0.01, "my.csv")
    assert train.output == str(Path(cfg.output) / "head")
    with pytest.raises(InputError, match="max_length"):
        CompareConfig(methods=["sparta"], max_length=0)
    with pytest.raises(InputError, match="did you mean 'methods'"):
        CompareConfig.from_dict({"method": "lora"})


# ----------------------------------------------------------------------------- tables


def _result(tmp_path: Path) -> CompareResult:
    ok = CompareRow(
        "sparta", lr=0.003, trainable_parameters=1322, adapter_bytes=35410,
        validation={"accuracy": 0.5, "macro_f1": 0.4},
        test={"accuracy": 2 / 3, "macro_f1": 0.55}, train_seconds=75.0,
        peak_rss_bytes=600 << 20, steps=3, run_folder=str(tmp_path / "sparta"),
    )  # fmt: skip
    failed = CompareRow("lora", "failed", lr=0.001, error="boom | with a pipe")
    config = CompareConfig(methods=["sparta,lora"], output=str(tmp_path))
    data = {"sizes": {"train": 48, "validation": 6, "test": 6}, "labels": ["1", "3", "5"]}
    return CompareResult(config, [ok, failed], tmp_path, data=data)


def test_the_four_formats_agree(tmp_path):
    result = _result(tmp_path)
    files = write_tables(result, tmp_path)
    assert sorted(files) == ["csv", "json", "md"] and all(p.is_file() for p in files.values())
    rows = json.loads(files["json"].read_text())["rows"]
    table = list(csv.DictReader(io.StringIO(files["csv"].read_text())))
    assert [r["method"] for r in rows] == [r["method"] for r in table] == ["sparta", "lora"]
    assert float(table[0]["test_accuracy"]) == rows[0]["test_accuracy"] == 2 / 3
    assert int(table[0]["peak_rss_bytes"]) == rows[0]["peak_rss_bytes"]
    assert table[1]["test_accuracy"] == "" and rows[1]["test_accuracy"] is None
    assert rows[1]["error"] == table[1]["error"] == "boom | with a pipe"
    md = files["md"].read_text().splitlines()
    assert md[0].startswith("minilm-l6 on rotten_tomatoes (48/6/6 train/val/test)")
    assert md[2].startswith("| method | lr | trainable |") and len(md) == 6
    assert "| sparta | 0.003 | 1,322 | 34.6 KiB | 50.0 | 0.400 | 66.7 | 0.550 | 1.2 min |" in md[4]
    assert md[5].endswith("| failed: boom \\| with a pipe |")  # the pipe does not split a cell
    text = to_text(result).splitlines()
    assert text[2].split()[:7] == "method lr trainable adapter val acc %".split()
    assert text[3].split()[:3] == ["sparta", "0.003", "1,322"]
    assert text[4].startswith("lora") and text[4].endswith("failed: boom | with a pipe")
    assert to_markdown(result) == files["md"].read_text()
    assert (
        to_csv(result) == files["csv"].read_text() and to_json(result) == files["json"].read_text()
    )


def test_human_units():
    assert human_bytes(None) == human_seconds(None) == "-"
    assert human_bytes(512) == "512 B" and human_bytes(35410) == "34.6 KiB"
    assert human_bytes(3 << 30) == "3.00 GiB"
    assert human_seconds(12.34) == "12.3 s" and human_seconds(90) == "1.5 min"
    assert human_seconds(3 * 3600) == "3.0 h"


def test_metric_reads_every_spelling():
    assert metric({"macro-F1": 0.5, "accuracy": 1}, "macro_f1") == 0.5
    assert metric({"eval_macro_f1": 0.25}, "macro_f1") == 0.25
    assert metric({"test_f1_macro": 0.75, "eval_accuracy": 0.5}, "macro_f1") == 0.75
    assert metric({"eval_accuracy": 0.5}, "accuracy") == 0.5
    assert metric({"accuracy": "high", "loss": 1.0}, "accuracy") is None
    assert metric({}, "macro_f1") is None


# ----------------------------------------------------------------------------- the child


def test_segments_split_lines_and_in_place_updates():
    stream = io.BytesIO("a\r\nstep 1\rstep 2\rdone\nlast é".encode())
    assert list(_segments(stream)) == [
        ("a", False),
        ("step 1", True),
        ("step 2", True),
        ("done", False),
        ("last é", False),
    ]


def test_exit_reason():
    assert "killed by SIGKILL (out of memory?)" in _exit_reason(-signal.SIGKILL, "")
    assert _exit_reason(1, "RuntimeError: oops") == "RuntimeError: oops"
    assert _exit_reason(3, "") == "the training process exited with code 3"
    assert "without a result" in _exit_reason(0, "fine")
