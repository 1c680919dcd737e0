"""``phalanx compare`` on multi-label and regression data: the problem-type options reach
every method's TrainConfig, and the table's metric columns follow the problem type."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from phalanx.compare import CompareConfig, CompareResult, CompareRow
from phalanx.compare.result import COLUMNS, columns, headline_metrics
from phalanx.compare.run import _ok_row
from phalanx.compare.table import HEADERS, headers, to_csv, to_json, to_markdown, to_text
from tests.hardening.harness import run_cli
from tests.helpers import write_ratings, write_topics

TIMEOUT = 600  # each method's child imports torch
BUDGET = ["--max-steps", "2", "--max-length", "16", "--batch-size", "8", "--no-progress"]


def test_problem_type_options_reach_every_methods_train_config():
    cfg = CompareConfig(
        methods=["sparta,lora"],
        dataset="tickets.csv",
        problem_type="multi_label_classification",
        label_columns="billing, bug",
        label_separator=";",
        allow_empty_labels=True,
        pos_weight="auto",
        thresholds="per_label",
    )
    for method in cfg.methods:
        train = cfg.train_config(method)
        assert train.problem_type == "multi_label"  # TrainConfig's validation, once
        assert train.label_columns == ["billing", "bug"] and train.label_separator == ";"
        assert train.allow_empty_labels and train.pos_weight == "auto"
        assert train.thresholds == "per_label"
    reg = CompareConfig(
        methods=["head"], problem_type="regression", normalize_target=False, loss="huber"
    )
    train = reg.train_config("head")
    assert (train.problem_type, train.normalize_target, train.loss) == (
        "regression",
        False,
        "huber",
    )
    with pytest.raises(ValueError, match="label_columns"):
        CompareConfig(methods=["head"], problem_type="regression", label_columns=["a"])


def test_headline_metrics_and_columns_per_problem_type():
    assert headline_metrics(None) == ("accuracy", "macro_f1")
    assert headline_metrics("multi_label") == ("micro_f1", "macro_f1", "mean_average_precision")
    assert headline_metrics("regression") == ("spearman", "pearson", "mse")
    assert columns() == COLUMNS and "test_accuracy" in COLUMNS  # single-label: as before
    assert columns("multi_label")[5:11] == (
        "validation_micro_f1", "validation_macro_f1", "validation_mean_average_precision",
        "test_micro_f1", "test_macro_f1", "test_mean_average_precision",
    )  # fmt: skip
    assert columns("regression")[5:8] == (
        "validation_spearman",
        "validation_pearson",
        "validation_mse",
    )
    assert headers() == HEADERS and "val acc %" in HEADERS
    assert headers("multi_label")[4:10] == (
        "val micro-F1", "val macro-F1", "val mAP", "test micro-F1", "test macro-F1", "test mAP",
    )  # fmt: skip
    assert headers("regression")[4:10] == (
        "val Spearman", "val Pearson", "val MSE", "test Spearman", "test Pearson", "test MSE",
    )  # fmt: skip


def test_a_workers_metrics_become_the_rows_headline_figures():
    out = {
        "lr": 1e-3, "trainable_parameters": 10, "adapter_bytes": 100, "train_seconds": 1.0,
        "validation": {"micro_f1": 0.5, "macro_f1": 0.25, "mean_average_precision": 0.75,
                       "subset_accuracy": 0.1, "loss": 0.6},
        "test": {"test_micro_f1": 0.4, "test_macro_f1": 0.2},
    }  # fmt: skip
    row = _ok_row("lora", out, 123, "/x/lora", headline_metrics("multi_label"))
    assert row.validation == {"micro_f1": 0.5, "macro_f1": 0.25, "mean_average_precision": 0.75}
    assert row.test == {"micro_f1": 0.4, "macro_f1": 0.2, "mean_average_precision": None}


def _result(tmp_path: Path, problem_type: str, val: dict, test: dict) -> CompareResult:
    ok = CompareRow(
        "sparta", lr=0.003, trainable_parameters=1322, adapter_bytes=35410, validation=val,
        test=test, train_seconds=75.0, peak_rss_bytes=600 << 20, steps=3,
    )  # fmt: skip
    failed = CompareRow("lora", "failed", lr=0.001, error="boom")
    config = CompareConfig(methods=["sparta,lora"], output=str(tmp_path))
    data = {"sizes": {"train": 48, "validation": 6, "test": 6}, "problem_type": problem_type}
    return CompareResult(config, [ok, failed], tmp_path, data=data)


@pytest.mark.parametrize(
    "problem_type, val, test, cells",
    [
        (
            "multi_label",
            {"micro_f1": 0.5, "macro_f1": 0.4, "mean_average_precision": 0.8},
            {"micro_f1": 0.625, "macro_f1": 0.5, "mean_average_precision": 0.75},
            "| 0.500 | 0.400 | 0.800 | 0.625 | 0.500 | 0.750 |",
        ),
        (
            "regression",
            {"spearman": 0.5, "pearson": 0.25, "mse": 1.5},
            {"spearman": -0.125, "pearson": 0.75, "mse": 12.25},
            "| 0.500 | 0.250 | 1.5 | -0.125 | 0.750 | 12.25 |",
        ),
    ],
)
def test_tables_of_other_problem_types_show_their_own_metrics(
    tmp_path, problem_type, val, test, cells
):
    result = _result(tmp_path, problem_type, val, test)
    doc = json.loads(to_json(result))
    assert doc["data"]["problem_type"] == problem_type
    assert doc["metrics"] == list(headline_metrics(problem_type))
    rows = doc["rows"]
    table = list(csv.DictReader(io.StringIO(to_csv(result))))
    assert list(table[0]) == list(rows[0]) == list(columns(problem_type))
    for m in headline_metrics(problem_type):
        assert rows[0][f"validation_{m}"] == float(table[0][f"validation_{m}"]) == val[m]
        assert rows[0][f"test_{m}"] == test[m] and rows[1][f"test_{m}"] is None
        assert table[1][f"test_{m}"] == ""
    assert "test_accuracy" not in rows[0] and "validation_accuracy" not in table[0]
    md = to_markdown(result).splitlines()
    assert md[0].startswith(f"minilm-l6 on rotten_tomatoes ({problem_type}, 48/6/6 train/val/")
    assert md[2] == "| " + " | ".join(headers(problem_type)) + " |"
    assert cells in md[4] and md[5].endswith("| failed: boom |")
    text = to_text(result).splitlines()
    assert text[2].split()[4:6] == ["val", headers(problem_type)[4].split()[1]]


# ----------------------------------------------------------------------------- end to end


def _compare(tiny_base, data: Path, out: Path, *extra) -> tuple[int, dict, list[dict], str]:
    argv = ["--model", tiny_base("bert"), "--dataset", data, "-o", out, *BUDGET, *extra]
    ended = run_cli("compare", *argv, timeout=TIMEOUT)
    assert ended.code == 0, ended.stderr[-3000:]
    doc = json.loads((out / "compare.json").read_text())
    with (out / "compare.csv").open() as f:
        table = list(csv.DictReader(f))
    return ended.code, doc, table, ended.stdout


def test_compare_on_multi_label_data_tables_micro_macro_f1_and_map(tiny_base, tmp_path):
    data = write_topics(tmp_path / "topics.csv")
    _, doc, table, stdout = _compare(
        tiny_base, data, tmp_path / "cmp", "--label-column", "labels",
        "--problem-type", "multi_label", "--methods", "sparta,lora",
    )  # fmt: skip
    assert doc["data"]["problem_type"] == "multi_label"
    assert doc["data"]["labels"] == ["complaint", "craft", "praise"]
    assert [r["method"] for r in doc["rows"]] == ["sparta", "lora"]
    for row, line in zip(doc["rows"], table, strict=True):
        assert row["status"] == "ok", row["error"]
        for m in ("micro_f1", "macro_f1", "mean_average_precision"):
            for split in ("validation", "test"):
                assert 0.0 <= row[f"{split}_{m}"] <= 1.0
                assert float(line[f"{split}_{m}"]) == row[f"{split}_{m}"]
        meta = json.loads((Path(row["run_folder"]) / "adapter" / "phalanx.json").read_text())
        assert meta["problem"]["type"] == "multi_label"
    assert "val micro-F1" in stdout and "test mAP" in stdout and "acc %" not in stdout


def test_compare_on_regression_data_tables_spearman_pearson_and_mse(tiny_base, tmp_path):
    data = write_ratings(tmp_path / "ratings.csv")
    _, doc, table, stdout = _compare(
        tiny_base, data, tmp_path / "cmp", "--label-column", "score",
        "--problem-type", "regression", "--methods", "head",
    )  # fmt: skip
    assert doc["data"]["problem_type"] == "regression"
    (row,) = doc["rows"]
    assert row["status"] == "ok", row["error"]
    for split in ("validation", "test"):
        assert -1.0 <= row[f"{split}_spearman"] <= 1.0 and -1.0 <= row[f"{split}_pearson"] <= 1.0
        assert row[f"{split}_mse"] >= 0.0 and float(table[0][f"{split}_mse"]) == row[f"{split}_mse"]
    assert "test Spearman" in stdout and "val MSE" in stdout
