"""``phalanx compare`` end to end on a 3-class CSV with renamed columns (``review``,
``stars`` 1/3/5) and a tiny random BERT: each method trains in its own child process."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import yaml

from phalanx.cli.parser import main
from tests.hardening.harness import assert_refused, run_cli

TIMEOUT = 600  # each child imports torch: seconds alone, minutes on a busy machine
BUDGET = ["--max-steps", "2", "--max-length", "16", "--batch-size", "8", "--no-progress"]


def _args(tiny_base, reviews_csv, out: Path) -> list:
    columns = ["--text-column", "review", "--label-column", "stars"]
    return ["--model", tiny_base("bert"), "--dataset", reviews_csv, *columns, "-o", out, *BUDGET]


def _tables(out: Path) -> tuple[list[dict], list[dict], list[str]]:
    rows = json.loads((out / "compare.json").read_text())["rows"]
    with (out / "compare.csv").open() as f:
        table = list(csv.DictReader(f))
    md = [line for line in (out / "compare.md").read_text().splitlines() if line.startswith("| ")]
    return rows, table, md[2:]  # markdown: the rows under the header and its rule


def test_compare_writes_one_table_in_three_formats(tiny_base, reviews_csv, tmp_path):
    out = tmp_path / "cmp"
    argv = [*_args(tiny_base, reviews_csv, out), "--methods", "sparta,lora"]
    ended = run_cli("compare", *argv, timeout=TIMEOUT)
    assert ended.code == 0, ended.stderr[-3000:]
    assert "Traceback" not in ended.stderr
    for tag in ("[1/2 sparta]", "[2/2 lora]"):  # progress: which method, n of N, its lines
        assert f"{tag} training" in ended.stderr and f"{tag} done" in ended.stderr
    rows, table, md = _tables(out)
    assert [r["method"] for r in rows] == [r["method"] for r in table] == ["sparta", "lora"]
    assert [line.split("|")[1].strip() for line in md] == ["sparta", "lora"]
    for row, line, md_line in zip(rows, table, md, strict=True):
        assert row["status"] == line["status"] == "ok" and row["error"] is None
        assert row["steps"] == 2 and row["lr"] == {"sparta": 3e-3, "lora": 1e-3}[row["method"]]
        for key in ("validation_accuracy", "validation_macro_f1", "test_accuracy", "test_macro_f1"):
            assert 0.0 <= row[key] <= 1.0 and float(line[key]) == row[key]
        for key in ("trainable_parameters", "adapter_bytes", "peak_rss_bytes"):
            assert row[key] > 0 and int(line[key]) == row[key]
        assert row["peak_rss_bytes"] > 100 << 20  # a child that imported torch
        assert (
            0 < row["train_seconds"] < 120 and float(line["train_seconds"]) == row["train_seconds"]
        )
        assert f"| {row['trainable_parameters']:,} |" in md_line
        assert f"| {100 * row['test_accuracy']:.1f} | {row['test_macro_f1']:.3f} |" in md_line
        run = Path(row["run_folder"])
        assert (run / "adapter").is_dir() and (run / "metrics.json").is_file()
        assert (out / f"{row['method']}.log").read_text().strip()
    assert "sparta" in ended.stdout and "test acc %" in ended.stdout  # the table on stdout
    assert "[1/2" not in ended.stdout  # progress stays on stderr


def test_a_failing_method_fails_its_row_and_the_exit_code(tiny_base, reviews_csv, tmp_path):
    out = tmp_path / "cmp"
    config = tmp_path / "compare.yaml"
    options = {"lora": {"target_modules": ["nope"]}, "ia3.r": 4}  # lora crashes, ia3 refuses
    config.write_text(yaml.safe_dump({"methods": "head,lora,ia3", "method_options": options}))
    ended = run_cli(
        "compare", "--config", config, *_args(tiny_base, reviews_csv, out), timeout=TIMEOUT
    )
    assert ended.code == 1, ended.stderr[-3000:]
    assert "Traceback" not in ended.stderr  # the traceback is in the method's log only
    assert "2 of 3 methods failed (lora, ia3)" in ended.last_line
    rows, table, md = _tables(out)
    by_method = {r["method"]: r for r in rows}
    assert list(by_method) == [r["method"] for r in table] == ["head", "lora", "ia3"]
    head, lora, ia3 = by_method["head"], by_method["lora"], by_method["ia3"]
    assert head["status"] == "ok" and head["test_accuracy"] is not None and head["steps"] == 2
    assert head["trainable_parameters"] > 0 and head["peak_rss_bytes"] > 0
    assert lora["status"] == ia3["status"] == "failed"
    assert "\n" not in lora["error"] and "target" in lora["error"]  # peft's first line
    assert lora["test_accuracy"] is None and lora["peak_rss_bytes"] > 0  # the child ran
    assert "Traceback" in (out / "lora.log").read_text()
    assert "'ia3' does not take option(s) ['r']" in ia3["error"]  # refused before any child
    assert table[2]["error"] == ia3["error"] and md[2].split("|")[-2].strip().startswith("failed:")


def test_mistakes_every_method_shares_are_refused_before_training(tiny_base, reviews_csv, tmp_path):
    # issue 19, point 4: a user's CSV without the column flags ended in a traceback and an
    # empty table with exit code 0
    out = tmp_path / "cmp"
    ended = run_cli(
        "compare", "--model", tiny_base("bert"), "--dataset", reviews_csv, "-o", out, *BUDGET
    )
    assert_refused(ended, "column 'text' not found", "review")
    assert not (out / "compare.csv").exists()


def test_a_non_empty_output_is_refused_without_overwrite(tmp_path, capsys):
    (tmp_path / "old.txt").write_text("x")
    code = main(["compare", "--methods", "head", "-o", str(tmp_path)])
    assert code == 2 and "exists and is not empty" in capsys.readouterr().err
    code = main(["compare", "--methods", "sparta,nope", "-o", str(tmp_path / "new")])
    assert code == 2 and "unknown method 'nope'" in capsys.readouterr().err


def test_compare_help_imports_no_torch():
    code = (
        "import sys, contextlib, io\nfrom phalanx.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try:\n        main(['compare', '--help'])\n    except SystemExit:\n        pass\n"
        "assert '--method-options' in out.getvalue() and 'examples:' in out.getvalue()\n"
        "print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_the_benchmark_script_calls_compare_with_its_defaults(monkeypatch):
    path = Path(__file__).parents[3] / "benchmarks" / "compare_methods.py"
    spec = importlib.util.spec_from_file_location("compare_methods", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    seen = []
    monkeypatch.setattr(module, "main", lambda argv: seen.append(argv) or 0)
    assert module.run(["--methods", "sparta,lora", "-q", "--limit", "200"]) == 0
    argv = seen[0]
    assert argv[:2] == ["-q", "compare"] and argv[-4:] == [
        "--methods",
        "sparta,lora",
        "--limit",
        "200",
    ]
    assert argv[argv.index("--output") + 1] == "runs/compare" and "--overwrite" in argv
    from phalanx.cli.parser import build_parser

    args = build_parser().parse_args(argv)  # the flags it passes are compare's own
    assert args.methods == ["sparta,lora"] and args.limit == 200 and args.epochs == 3
