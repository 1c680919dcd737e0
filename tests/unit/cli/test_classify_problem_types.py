"""``phalanx classify`` on multi-label and regression models (issue 20): the printed table,
``--json`` and every ``--output`` format, read back as the records ``predict_records`` gives,
for adapter and export folders; ``--problem-type`` and the one-line refusals."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from phalanx import load_classifier
from phalanx.cli.parser import main
from phalanx.inference.records import flat_columns, record_from_flat
from phalanx.problems import Problem
from tests.helpers import SENTENCES
from tests.unit.export.problem_folders import (
    TARGET,
    TOPICS,
    multi_label_adapter,
    problem_adapter,
    regression_adapter,
)

pytestmark = pytest.mark.usefixtures("one_thread")

TEXTS = SENTENCES[:4]
OUTPUTS = ("csv", "tsv", "json", "jsonl", "parquet")


@pytest.fixture(scope="module")
def models(tiny_base, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("classify-problems")
    base = tiny_base("bert")
    pipes = Problem("multi_label")  # labels that cannot be one flat cell
    return {
        "multi_label": multi_label_adapter(base, root / "multi"),
        "regression": regression_adapter(base, root / "regression"),
        "pipes": problem_adapter(
            base, root / "pipes", labels=["a|b", "c"], problem=pipes, bias=[3.0, -3.0]
        ),
    }


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("classify-in") / "in.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    return path


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *argv) -> str:
    """The one-line error of a refused command."""
    code, _, err = run(capsys, *argv)
    assert code == 2 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"phalanx {argv[0]}: error: "), err
    return last


def read_back(path: Path) -> list[dict]:
    """The records a classify output file holds (flat tables read by ``record_from_flat``)."""
    suffix = path.suffix
    if suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
    elif suffix == ".json":
        rows = json.loads(path.read_text())
    elif suffix == ".parquet":
        import pandas as pd

        rows = [
            record_from_flat(r) | {"text": r["text"]}
            for r in pd.read_parquet(path).to_dict("records")
        ]
    else:
        delimiter = "\t" if suffix == ".tsv" else ","
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f, delimiter=delimiter)
            rows = [record_from_flat(r) | {"text": r["text"]} for r in reader]
    assert [r.pop("text") for r in rows] == TEXTS, path
    return rows


def assert_records(got: list[dict], want: list[dict], where: str) -> None:
    assert len(got) == len(want), where
    for g, w in zip(got, want, strict=True):
        assert g.keys() == w.keys(), (where, g, w)
        if "value" in w:
            assert g["value"] == pytest.approx(w["value"], rel=1e-6), where
            continue
        assert g["labels"] == w["labels"], where
        assert list(g["probabilities"]) == list(w["probabilities"]), where
        for label, p in w["probabilities"].items():
            assert g["probabilities"][label] == pytest.approx(p, abs=1e-6), where


@pytest.mark.parametrize("kind", ["multi_label", "regression"])
def test_every_output_format_reads_back_as_the_records(models, source, kind, tmp_path, capsys):
    folder = models[kind]
    clf = load_classifier(folder)
    want = clf.predict_records(TEXTS)
    code, out, err = run(capsys, "classify", folder, *TEXTS, "--json")
    assert code == 0, err
    printed = [json.loads(line) for line in out.splitlines()]
    assert [r.pop("text") for r in printed] == TEXTS
    assert_records(printed, want, "--json")
    for suffix in OUTPUTS:
        target = tmp_path / f"out.{suffix}"
        code, out, err = run(capsys, "classify", folder, "--input", source, "--output", target)
        assert code == 0 and f"wrote {len(TEXTS)} predictions" in out, err
        if suffix in ("csv", "tsv"):
            delimiter = "\t" if suffix == "tsv" else ","
            header = target.read_text().splitlines()[0].split(delimiter)
            assert header == ["text", *flat_columns(clf.labels, clf.problem)]
        assert_records(read_back(target), want, suffix)
    if kind == "multi_label":
        row = target.with_suffix(".csv").read_text().splitlines()[1]
        assert ",praise|complaint," in row  # the labels: one cell joined by |


def test_the_printed_tables(models, capsys):
    code, out, _ = run(capsys, "classify", models["multi_label"], *TEXTS[:2])
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["labels", *TOPICS, "text"]
    assert lines[1].startswith("praise|complaint ") and lines[1].endswith(TEXTS[0])
    probs = [float(v) for v in lines[1].split()[1:4]]
    assert probs[0] > 0.9 and probs[1] > 0.9 and probs[2] < 0.1  # sigmoids, not a softmax
    code, out, _ = run(capsys, "classify", models["regression"], *TEXTS[:2])
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == [TARGET, "text"]
    value = load_classifier(models["regression"]).predict_records(TEXTS[:1])[0]["value"]
    assert float(lines[1].split()[0]) == pytest.approx(value, abs=1e-4)


def test_an_export_folder_classifies_as_its_adapter(models, source, tmp_path, capsys):
    from phalanx.export import export_onnx

    for kind in ("multi_label", "regression"):
        folder = models[kind]
        export = export_onnx(folder, tmp_path / f"onnx-{kind}")
        want = load_classifier(folder).predict_records(TEXTS)
        code, out, err = run(capsys, "classify", export, *TEXTS, "--json")
        assert code == 0, err
        got = [json.loads(line) for line in out.splitlines()]
        assert [set(r) - {"text"} for r in got] == [set(w) for w in want]
        target = tmp_path / f"{kind}.csv"
        assert run(capsys, "classify", export, "--input", source, "--output", target)[0] == 0
        back = read_back(target)
        if kind == "multi_label":
            assert [r["labels"] for r in back] == [w["labels"] for w in want]
        else:
            assert [r["value"] for r in back] == pytest.approx([w["value"] for w in want], rel=1e-4)


def test_problem_type_flag_refuses_a_model_of_another_type(models, capsys):
    last = refused(capsys, "classify", models["multi_label"], "hi", "--problem-type", "regression")
    assert "is a multi_label model, not regression" in last
    last = refused(capsys, "classify", models["regression"], "hi", "--problem-type", "ranking")
    assert "unknown problem type 'ranking'" in last
    code, out, _ = run(
        capsys, "classify", models["regression"], "hi", "--problem-type", "regression", "--json"
    )
    assert code == 0 and set(json.loads(out)) == {"text", "value"}


def test_bad_output_names_and_labels_that_cannot_be_flat_cells(models, tmp_path, capsys):
    folder = models["pipes"]
    last = refused(capsys, "classify", folder, "hi", "--output", tmp_path / "p.csv")
    assert "label 'a|b' holds '|'" in last and "JSON or JSONL" in last
    assert not (tmp_path / "p.csv").exists()
    code, _, err = run(capsys, "classify", folder, "hi", "--output", tmp_path / "p.jsonl")
    assert code == 0, err
    assert json.loads((tmp_path / "p.jsonl").read_text())["labels"] == ["a|b"]
    last = refused(capsys, "classify", folder, "hi", "--output", tmp_path / "p.xlsx")
    assert "use a .csv, .tsv, .json, .jsonl, .parquet file name" in last
