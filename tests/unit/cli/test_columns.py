"""The training run's columns are the defaults of every later command that reads a file, and a
single file given to ``evaluate`` is scored whole (issue 19, points 2 and 3).

A tiny BERT is trained on a toy CSV with renamed columns (``review``, ``stars``: 1 / 3 / 5);
then ``classify --input``, ``evaluate --dataset`` and ``export --calibration`` (CLI and Python
API) read other files with no column flags; flags win; a missing column lists the file's.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from phalanx import load_classifier
from phalanx.cli.parser import main
from phalanx.errors import InputError
from phalanx.folder import read_meta
from tests.helpers import RECIPES, config, run_options, star_review, star_rows, write_stars

COLUMNS = {"text": "review", "text_pair": None, "label": "stars"}
needs_onnx = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime")),
    reason="the export extra is not installed: pip install 'phalanx[export]'",
)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def reviews(tiny_base, tmp_path_factory):
    """A run trained (one epoch) on 60 reviews, and other files: the same columns (9 rows),
    renamed ones (``body`` / ``rating``, 12 rows)."""
    from phalanx.training import train

    root = tmp_path_factory.mktemp("reviews")
    data = write_stars(root / "reviews.csv", star_rows(60))
    cfg = config(tiny_base("bert"), data, root / "run", text_column="review",
                 label_column="stars", epochs=1)  # fmt: skip
    train(cfg)
    return SimpleNamespace(
        base=tiny_base("bert"),
        run=root / "run",
        data=data,
        other=write_stars(root / "other.csv", star_rows(9, start=100)),
        renamed=write_stars(root / "renamed.csv", star_rows(12, start=200), ("body", "rating")),
    )


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def bad(capsys, *argv) -> str:
    """The one-line error of a refused command."""
    code, _, err = run(capsys, *argv)
    assert code == 2 and "Traceback" not in err, err
    return err.strip().splitlines()[-1]


def texts(rows: list[tuple[str, int]]) -> list[str]:
    return [text for text, _ in rows]


# ----------------------------------------------------------------------------- saved columns


def test_the_training_columns_are_saved_with_the_adapter(reviews, capsys):
    assert read_meta(reviews.run / "adapter")["dataset"]["columns"] == COLUMNS
    code, out, _ = run(capsys, "info", reviews.run, "--json")
    assert code == 0 and json.loads(out)["columns"] == COLUMNS
    assert "columns:" in run(capsys, "info", reviews.run)[1]


def test_compress_carries_the_columns_into_its_output(reviews, tmp_path):
    from phalanx.compress.run import compress

    out = tmp_path / "compressed"
    recipe = str(RECIPES / "minilm_fp32_baseline.yaml")
    opts = run_options(reviews.base, reviews.data, out, recipe=recipe, max_steps=2,
                       text_column="review", label_column="stars")  # fmt: skip
    compress(**opts)
    assert read_meta(out)["dataset"]["columns"] == COLUMNS
    assert load_classifier(out).classify_file(reviews.other).shape == (9, 3)


# ----------------------------------------------------------------------------- classify


def test_classify_input_reads_the_training_text_column(reviews, capsys, tmp_path):
    target = tmp_path / "predictions.csv"
    code, _, err = run(capsys, "classify", reviews.run, "--input", reviews.other,
                       "--output", target)  # fmt: skip
    assert code == 0, err
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert [r["text"] for r in rows] == texts(star_rows(9, start=100))
    clf = load_classifier(reviews.run)
    probs = clf.classify_file(reviews.other)  # the Python API: the same default
    assert probs.shape == (9, 3)
    torch.testing.assert_close(probs, clf.classify(texts(star_rows(9, start=100))))


def test_a_column_flag_wins_and_a_missing_column_lists_the_file_columns(reviews, capsys, tmp_path):
    last = bad(capsys, "classify", reviews.run, "--input", reviews.renamed)
    assert "column 'review' not found in" in last and "['body', 'rating']" in last
    assert "--text-column" in last
    code, out, err = run(capsys, "classify", reviews.run, "--input", reviews.renamed,
                         "--text-column", "body", "--json")  # fmt: skip
    assert code == 0, err
    assert [json.loads(line)["text"] for line in out.splitlines()] == texts(
        star_rows(12, start=200)
    )
    # the flag wins even where the saved column is there too
    both = tmp_path / "both.csv"
    both.write_text("review,summary,stars\nthe movie was good,bleak and desperate,5\n")
    code, out, _ = run(capsys, "classify", reviews.run, "--input", both, "--text-column",
                       "summary", "--json")  # fmt: skip
    assert code == 0 and json.loads(out)["text"] == "bleak and desperate"
    clf = load_classifier(reviews.run)
    with pytest.raises(InputError, match=r"'review' not found .*\['body', 'rating'\]"):
        clf.classify_file(reviews.renamed)
    assert clf.classify_file(reviews.renamed, text_column="body").shape == (12, 3)


# ----------------------------------------------------------------------------- evaluate


def test_a_single_file_is_scored_whole_with_a_warning_below_30(
    reviews, capsys, caplog, monkeypatch, tmp_path
):
    target = tmp_path / "eval.json"
    code, out, err = run(capsys, "evaluate", reviews.run, "--dataset", reviews.other,
                         "--output", target)  # fmt: skip
    assert code == 0, err
    saved = json.loads(target.read_text())
    assert saved["n"] == 9 and saved["split"] == "all"
    assert sum(map(sum, saved["confusion_matrix"])) == 9
    assert "warning: only 9 examples scored (every row of" in err and "warning" not in out
    assert "is empty" not in err  # nothing is carved, so no split is missing
    # the Python API: every row, the warning logged
    monkeypatch.setattr(logging.getLogger("phalanx"), "propagate", True)  # main() turned it off
    clf = load_classifier(reviews.run)
    with caplog.at_level(logging.WARNING, logger="phalanx"):
        result = clf.evaluate_dataset(str(reviews.other))
    assert result["n"] == 9 and "only 9 examples scored" in caplog.text
    capsys.readouterr()
    # 30 rows: no warning
    thirty = write_stars(tmp_path / "thirty.csv", star_rows(30, start=300))
    code, _, err = run(capsys, "evaluate", reviews.run, "--dataset", thirty,
                       "--output", tmp_path / "30.json")  # fmt: skip
    assert code == 0 and "warning" not in err
    assert json.loads((tmp_path / "30.json").read_text())["n"] == 30


def test_split_test_on_a_single_file_still_carves(reviews, capsys, tmp_path):
    target = tmp_path / "test.json"
    code, _, err = run(capsys, "evaluate", reviews.run, "--dataset", reviews.data,
                       "--split", "test", "--output", target)  # fmt: skip
    assert code == 0, err
    assert json.loads(target.read_text())["n"] == 6  # 10% of 60, carved as in training
    assert "only 6 examples scored (the test split of" in err
    # the training file whole: every row, with a note that it holds the training rows
    code, _, err = run(capsys, "evaluate", reviews.run, "--dataset", reviews.data,
                       "--output", tmp_path / "all.json")  # fmt: skip
    assert code == 0 and json.loads((tmp_path / "all.json").read_text())["n"] == 60
    assert "is the model's training data" in err
    assert load_classifier(reviews.run).evaluate_dataset(str(reviews.data), split="test")["n"] == 6


def test_a_folder_of_split_files_defaults_to_its_test_split(reviews, capsys, tmp_path):
    folder = tmp_path / "splits"
    folder.mkdir()
    write_stars(folder / "train.csv", star_rows(30, start=400))
    write_stars(folder / "test.csv", star_rows(6, start=500))
    target = tmp_path / "eval.json"
    code, _, err = run(capsys, "evaluate", reviews.run, "--dataset", folder, "--output", target)
    assert code == 0, err
    saved = json.loads(target.read_text())
    assert saved["split"] == "test" and saved["n"] == 6
    code, _, _ = run(capsys, "evaluate", reviews.run, "--dataset", folder, "--split", "all",
                     "--output", target)  # fmt: skip
    assert code == 0 and json.loads(target.read_text())["n"] == 36


def test_evaluate_flags_override_the_saved_columns(reviews, capsys, tmp_path):
    last = bad(capsys, "evaluate", reviews.run, "--dataset", reviews.renamed,
               "--output", tmp_path / "x.json")  # fmt: skip
    assert "column 'review' not found in" in last and "['body', 'rating']" in last
    target = tmp_path / "renamed.json"
    code, _, err = run(capsys, "evaluate", reviews.run, "--dataset", reviews.renamed,
                       "--text-column", "body", "--label-column", "rating",
                       "--output", target)  # fmt: skip
    assert code == 0, err
    assert json.loads(target.read_text())["n"] == 12
    clf = load_classifier(reviews.run)
    result = clf.evaluate_dataset(str(reviews.renamed), text_column="body", label_column="rating")
    assert result["n"] == 12


def test_label_errors_of_a_single_file_name_its_row(reviews, capsys, tmp_path):
    wrong = write_stars(tmp_path / "wrong.csv", [("the movie was good", 5), ("bleak", 7)])
    last = bad(capsys, "evaluate", reviews.run, "--dataset", wrong, "--output", tmp_path / "w.json")
    assert f"label '7' in row 2 of {wrong}, column 'stars'" in last
    assert "train row" not in last


# ----------------------------------------------------------------------------- export


@needs_onnx
def test_export_calibrates_on_the_training_column_with_no_flags(reviews, capsys, tmp_path):
    from phalanx.export import export_onnx
    from phalanx.export.calibration import calibration_texts

    assert calibration_texts(reviews.run, str(reviews.other)) == texts(star_rows(9, start=100))
    assert calibration_texts(reviews.run, str(reviews.renamed), text_column="body") == texts(
        star_rows(12, start=200)
    )
    assert len(calibration_texts(reviews.run, str(reviews.data), 8)) == 8
    with pytest.raises(InputError, match=r"'review' not found .*\['body', 'rating'\]"):
        calibration_texts(reviews.run, str(reviews.renamed))
    out = tmp_path / "static"
    code, _, err = run(capsys, "export", reviews.run, "-o", out, "--quantize", "int8-static",
                       "--calibration", reviews.other)  # fmt: skip
    assert code == 0, err
    meta = json.loads((out / "phalanx_export.json").read_text())
    assert meta["quantization"] == "int8-static" and meta["dataset"]["columns"] == COLUMNS
    renamed = ("--calibration", reviews.renamed, "--text-column", "body")
    code, _, err = run(capsys, "export", reviews.run, "-o", tmp_path / "renamed",
                       "--quantize", "int8-static", *renamed)  # fmt: skip
    assert code == 0, err
    # the export keeps the columns: classify and evaluate it with no flags
    code, stdout, err = run(capsys, "classify", out, "--input", reviews.other, "--json")
    assert code == 0 and len(stdout.splitlines()) == 9, err
    code, _, err = run(capsys, "evaluate", out, "--dataset", reviews.other,
                       "--output", tmp_path / "e.json")  # fmt: skip
    assert code == 0 and json.loads((tmp_path / "e.json").read_text())["n"] == 9, err
    # the Python API: a dataset to calibrate on, read by the adapter's columns
    api = export_onnx(reviews.run, tmp_path / "api", quantize="int8-static",
                      calibration=str(reviews.other))  # fmt: skip
    assert load_classifier(api).classify_file(reviews.other).shape == (9, 3)


def test_calibration_needs_no_label_column(reviews, tmp_path):
    from phalanx.export.calibration import calibration_texts

    unlabelled = tmp_path / "unlabelled.csv"
    unlabelled.write_text("review\na charming journey\n\nbleak and desperate\n")
    assert calibration_texts(reviews.run, str(unlabelled)) == [
        "a charming journey",
        "bleak and desperate",
    ]


@pytest.mark.parametrize("template", [None, "Question: {q} Answer: {a}"], ids=["pairs", "template"])
def test_a_pair_run_reads_both_saved_columns(template, tiny_base, capsys, tmp_path):
    from phalanx.training import train

    def write(path: Path, n: int, start: int) -> Path:
        rows = [(star_review(i, 1), star_review(i + 1, 5), i % 2) for i in range(start, start + n)]
        path.write_text("question,answer,ok\n" + "".join(f"{q},{a},{y}\n" for q, a, y in rows))
        return path

    data = write(tmp_path / "qa.csv", 40, 0)
    cfg = config(tiny_base("bert"), data, tmp_path / "run", text_column="question",
                 text_pair_column="answer", label_column="ok", input_template=template,
                 epochs=1)  # fmt: skip
    train(cfg)
    saved = read_meta(tmp_path / "run" / "adapter")["dataset"]["columns"]
    assert saved == {"text": "question", "text_pair": "answer", "label": "ok"}
    other = write(tmp_path / "other.csv", 6, 100)
    code, out, err = run(capsys, "classify", tmp_path / "run", "--input", other, "--json")
    assert code == 0, err
    assert (
        json.loads(out.splitlines()[0])["text"] == f"{star_review(100, 1)} | {star_review(101, 5)}"
    )
    code, _, err = run(capsys, "evaluate", tmp_path / "run", "--dataset", other,
                       "--output", tmp_path / "e.json")  # fmt: skip
    assert code == 0 and json.loads((tmp_path / "e.json").read_text())["n"] == 6, err
    clf = load_classifier(tmp_path / "run")
    assert clf.classify_file(other).shape == (6, 2)
