"""``phalanx evaluate`` and ``evaluate_dataset`` on multi-label and regression models (issue
20): labels as lists, delimited texts or 0/1 columns (flags, or the training run's), targets
as numbers; the printed figures and the JSON file; one-line errors naming the bad row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phalanx import load_classifier
from phalanx.cli.parser import main
from phalanx.errors import InputError
from phalanx.problems import Problem
from tests.helpers import rating_rows, topic_rows, write_ratings, write_topics
from tests.unit.export.problem_folders import (
    TOPICS,
    multi_label_adapter,
    regression_adapter,
    set_problem,
)

pytestmark = pytest.mark.usefixtures("one_thread")

N = 40


@pytest.fixture(scope="module")
def models(tiny_base, tmp_path_factory) -> dict[str, Path]:
    from phalanx.export import export_onnx

    root = tmp_path_factory.mktemp("evaluate-problems")
    base = tiny_base("bert")
    multi = multi_label_adapter(base, root / "multi")
    flags = multi_label_adapter(base, root / "flags")  # trained on 0/1 columns, ';' lists
    set_problem(flags, Problem("multi_label", (0.5,)), label_columns=TOPICS, label_separator=";")
    return {
        "multi_label": multi,
        "flags": flags,
        "regression": regression_adapter(base, root / "regression"),
        "export": export_onnx(multi, root / "onnx"),
    }


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("evaluate-data")
    rows = topic_rows(N)
    columns = root / "flags.csv"
    columns.write_text(
        "text,craft,praise,complaint\n"  # another order than the model's labels
        + "".join(
            f"{r['text']},{int('craft' in r['labels'])},{int('praise' in r['labels'])},"
            f"{int('complaint' in r['labels'])}\n"
            for r in rows
        )
    )
    spam = root / "spam.jsonl"
    bad_rows = [*rows[:3], {"text": "the movie", "labels": ["praise", "spam"]}]
    spam.write_text("".join(json.dumps(r) + "\n" for r in bad_rows))
    words = root / "words.csv"
    words.write_text("text,score\ngood,1.5\nbad,lots\n")
    semicolons = root / "semicolons.csv"
    semicolons.write_text(
        "text,labels\n" + "".join(f"{r['text']},{';'.join(r['labels'])}\n" for r in rows)
    )
    return {
        "lists": write_topics(root / "topics.jsonl", N),
        "delimited": write_topics(root / "topics.csv", N),
        "columns": columns,
        "semicolons": semicolons,
        "spam": spam,
        "ratings": write_ratings(root / "ratings.csv", N),
        "words": words,
    }


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *argv) -> str:
    code, _, err = run(capsys, *argv)
    assert code == 2 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"phalanx {argv[0]}: error: "), err
    return last


def evaluate(capsys, tmp_path, folder, dataset, *flags) -> tuple[str, dict]:
    out_file = tmp_path / f"eval-{len(list(tmp_path.iterdir()))}.json"
    code, out, err = run(capsys, "evaluate", folder, "--dataset", dataset, "--output", out_file,
                         *flags)  # fmt: skip
    assert code == 0, err
    return out, json.loads(out_file.read_text())


def _expected_multi_hot() -> list[list[int]]:
    return [[int(t in r["labels"]) for t in TOPICS] for r in topic_rows(N)]


def test_multi_label_lists_delimited_texts_and_label_columns_give_one_evaluation(
    models, data, tmp_path, capsys
):
    folder = models["multi_label"]
    out, lists = evaluate(capsys, tmp_path, folder, data["lists"], "--label-column", "labels")
    assert lists["problem_type"] == "multi_label" and lists["n"] == N
    assert lists["label_names"] == TOPICS and lists["thresholds"] == [0.5] * 3
    for shown in ("micro-F1", "samples-F1", "threshold", *TOPICS):
        assert shown in out, out
    assert "metrics written to" in out
    # the model predicts praise and complaint for every text: the figures follow
    y = _expected_multi_hot()
    support = [sum(row[j] for row in y) for j in range(3)]
    assert [lists["per_class"][t]["support"] for t in TOPICS] == support
    assert lists["per_class"]["praise"]["recall"] == 1.0
    assert lists["per_class"]["craft"]["recall"] == 0.0
    _, delimited = evaluate(capsys, tmp_path, folder, data["delimited"], "--label-column", "labels")
    _, columns = evaluate(capsys, tmp_path, folder, data["columns"], "--label-columns",
                          "craft, praise,complaint")  # fmt: skip
    _, semicolons = evaluate(capsys, tmp_path, folder, data["semicolons"], "--label-column",
                             "labels", "--label-separator", ";")  # fmt: skip
    for other in (delimited, columns, semicolons):
        for key in ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy"):
            assert other[key] == pytest.approx(lists[key]), key
        assert other["per_class"] == lists["per_class"]


def test_label_columns_and_separator_default_to_the_training_runs(models, data, tmp_path, capsys):
    _, got = evaluate(capsys, tmp_path, models["flags"], data["columns"])  # label_columns saved
    _, want = evaluate(capsys, tmp_path, models["multi_label"], data["lists"], "--label-column",
                       "labels")  # fmt: skip
    assert got["micro_f1"] == pytest.approx(want["micro_f1"]) and got["n"] == N
    clf = load_classifier(models["flags"])
    # a label column given sets the saved label columns aside; ";" is the training run's
    ev = clf.evaluate_dataset(str(data["semicolons"]), label_column="labels")
    assert ev["micro_f1"] == pytest.approx(want["micro_f1"])
    _, flags = evaluate(capsys, tmp_path, models["flags"], data["semicolons"], "--label-column",
                        "labels")  # fmt: skip
    assert flags["micro_f1"] == pytest.approx(want["micro_f1"])


def test_evaluate_dataset_and_an_export_score_multi_label_files(models, data):
    adapter = load_classifier(models["multi_label"]).evaluate_dataset(
        str(data["lists"]), label_column="labels"
    )
    export = load_classifier(models["export"]).evaluate_dataset(
        str(data["lists"]), label_column="labels"
    )
    assert adapter["problem_type"] == export["problem_type"] == "multi_label"
    for key in ("micro_f1", "subset_accuracy", "hamming_loss", "mean_average_precision"):
        assert export[key] == pytest.approx(adapter[key], abs=1e-6), key
    assert export["loss"] == pytest.approx(adapter["loss"], abs=1e-4)


def test_regression_prints_its_errors_in_the_datas_units(models, data, tmp_path, capsys):
    out, got = evaluate(capsys, tmp_path, models["regression"], data["ratings"])  # column: score
    assert got["problem_type"] == "regression" and got["n"] == N
    for shown in ("MSE", "MAE"):
        assert shown in out, out
    targets = [r["score"] for r in rating_rows(N)]
    values = load_classifier(models["regression"]).classify([r["text"] for r in rating_rows(N)])[
        :, 0
    ]
    mae = sum(abs(v - t) for v, t in zip(values.tolist(), targets, strict=True)) / N
    assert got["mae"] == pytest.approx(mae, rel=1e-5)  # around 50 off: the data's units
    _, renamed = evaluate(capsys, tmp_path, models["regression"], data["ratings"],
                          "--label-column", "score", "--problem-type", "regression")  # fmt: skip
    assert renamed["mse"] == pytest.approx(got["mse"])


def test_bad_labels_and_targets_are_one_line_errors_naming_the_row(models, data, capsys):
    last = refused(capsys, "evaluate", models["multi_label"], "--dataset", data["spam"],
                   "--label-column", "labels")  # fmt: skip
    assert "'spam'" in last and "row 4" in last, last
    last = refused(capsys, "evaluate", models["regression"], "--dataset", data["words"])
    assert "'lots'" in last and "row 2" in last and "not a number" in last, last
    last = refused(capsys, "evaluate", models["regression"], "--dataset", data["columns"],
                   "--label-columns", "praise")  # fmt: skip
    assert "is a regression model" in last and "drop --label-columns" in last
    last = refused(capsys, "evaluate", models["multi_label"], "--dataset", data["columns"],
                   "--label-columns", "praise,craft")  # fmt: skip
    assert "['complaint'] have no label column" in last
    last = refused(capsys, "evaluate", models["multi_label"], "--dataset", data["lists"],
                   "--problem-type", "single_label")  # fmt: skip
    assert "is a multi_label model, not single_label" in last
    with pytest.raises(InputError, match="'spam'"):
        load_classifier(models["export"]).evaluate_dataset(str(data["spam"]), label_column="labels")


def test_a_small_multi_label_evaluation_warns_about_subset_accuracy(models, data, tmp_path, capsys):
    code, _, err = run(capsys, "evaluate", models["multi_label"], "--dataset", data["lists"],
                       "--label-column", "labels", "--limit", "8",
                       "--output", tmp_path / "small.json")  # fmt: skip
    assert code == 0, err
    assert "warning: only 8 examples scored" in err and "subset accuracy" in err
