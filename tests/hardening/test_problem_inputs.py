"""Bad multi-label and regression inputs end in one line naming the row or value: through the
CLI (a fresh process), the Python API and the server.

Several inputs of each kind: a label outside the set, an empty label list where none is
allowed, a bad 0/1 cell, a non-numeric or non-finite target, and a folder loaded as another
problem type than it is.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phalanx import load_classifier
from phalanx.data import load_data
from phalanx.errors import InputError
from phalanx.training import train
from tests.hardening.harness import assert_refused, run_cli
from tests.helpers import config, topic_rows, write_ratings, write_topics


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _topics_with(tmp_path: Path, row: int, labels) -> Path:
    """The toy topics with row ``row`` (from 1) given ``labels``."""
    rows = topic_rows(40)
    rows[row - 1]["labels"] = labels
    return _jsonl(tmp_path / "topics.jsonl", rows)


BAD_MULTI_LABEL = [
    (7, ["praise", "spam"], "'spam'", ["--label-names", "complaint", "craft", "praise"]),
    (12, [], "row 12", []),
    (3, "", "row 3", []),
]


@pytest.mark.parametrize(("row", "labels", "named", "extra"), BAD_MULTI_LABEL)
def test_bad_multi_label_rows_are_named_by_the_cli_and_the_api(
    tiny_base, tmp_path, row, labels, named, extra
):
    data = _topics_with(tmp_path, row, labels)
    ended = run_cli(
        "train", "--model", tiny_base("bert"), "--dataset", data, "--label-column", "labels",
        "--problem-type", "multi_label", "--output", tmp_path / "out", "--max-steps", "1", *extra,
    )  # fmt: skip
    assert_refused(ended, named)
    names = extra[1:] or None
    with pytest.raises(InputError, match=f"row {row}") as err:
        load_data(str(data), label_column="labels", label_names=names, problem_type="multi_label")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("cell", "named"), [("yes", "'yes'"), ("2", "'2'"), ("-1", "'-1'")])
def test_a_bad_label_column_cell_is_named(tmp_path, cell, named):
    rows = ["text,praise,complaint"] + [f"text {i},{i % 2},{(i + 1) % 2}" for i in range(30)]
    rows[9] = f"text 8,{cell},0"
    data = tmp_path / "wide.csv"
    data.write_text("\n".join(rows) + "\n")
    with pytest.raises(InputError, match="row 9") as err:
        load_data(str(data), label_columns=["praise", "complaint"])
    assert named in str(err.value) and "praise" in str(err.value)


@pytest.mark.parametrize("target", ["high", "nan", "inf", "3,5"])
def test_a_non_numeric_target_is_named_by_the_cli_and_the_api(tiny_base, tmp_path, target):
    data = write_ratings(tmp_path / "ratings.csv", 40)
    lines = data.read_text().splitlines()
    text = lines[5].rsplit(",", 1)[0]
    lines[5] = f'{text},"{target}"'
    data.write_text("\n".join(lines) + "\n")
    ended = run_cli(
        "train", "--model", tiny_base("bert"), "--dataset", data, "--label-column", "score",
        "--problem-type", "regression", "--output", tmp_path / "out", "--max-steps", "1",
    )  # fmt: skip
    assert_refused(ended, "row 5", target)
    with pytest.raises(InputError, match="row 5"):
        load_data(str(data), label_column="score", problem_type="regression")


@pytest.fixture(scope="module")
def regression_adapter(tiny_base, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("reg")
    data = write_ratings(tmp / "ratings.csv", 48)
    cfg = config(tiny_base("bert"), data, tmp / "run", method="head", label_column="score",
                 max_steps=2)  # fmt: skip
    return train(cfg).adapter_path


@pytest.fixture(scope="module")
def multi_label_adapter(tiny_base, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("ml")
    data = write_topics(tmp / "topics.jsonl", 48)
    cfg = config(tiny_base("bert"), data, tmp / "run", method="head", label_column="labels",
                 max_steps=2)  # fmt: skip
    return train(cfg).adapter_path


@pytest.mark.parametrize("wanted", ["multi_label", "single_label_classification"])
def test_a_folder_of_another_problem_type_is_refused_everywhere(regression_adapter, wanted):
    shown = wanted.removesuffix("_classification")
    with pytest.raises(InputError, match=f"is a regression model, not {shown}"):
        load_classifier(regression_adapter, problem_type=wanted)
    ended = run_cli("classify", regression_adapter, "a text", "--problem-type", wanted)
    assert_refused(ended, f"is a regression model, not {shown}")


def test_evaluate_names_bad_labels_for_a_trained_model(multi_label_adapter, regression_adapter):
    clf = load_classifier(multi_label_adapter)
    with pytest.raises(InputError, match="'spam' at position 1"):
        clf.evaluate(["a", "b"], [["praise"], ["praise", "spam"]])
    with pytest.raises(InputError, match="position 0"):
        clf.evaluate(["a"], [7])  # a number is no list of labels
    reg = load_classifier(regression_adapter)
    with pytest.raises(InputError, match="target 'lots' at position 1"):
        reg.evaluate(["a", "b"], [1.5, "lots"])
    ev = reg.evaluate(["the movie was good", "the movie was bad"], [2.0, "-1.5"])
    assert {"mse", "spearman"} <= set(ev)


def test_the_server_answers_each_problem_type_in_its_shape(multi_label_adapter, regression_adapter):
    from fastapi.testclient import TestClient

    from phalanx.serve import ModelRegistry, create_app

    registry = ModelRegistry.load([f"tags={multi_label_adapter}", f"stars={regression_adapter}"])
    with TestClient(create_app(registry)) as client:
        tags = client.post("/v1/classify", json={"model": "tags", "texts": ["good and bad"]})
        stars = client.post("/v1/classify", json={"model": "stars", "texts": ["good"]})
        bad = client.post("/v1/classify", json={"model": "stars", "texts": [None]})
    assert tags.status_code == stars.status_code == 200, (tags.text, stars.text)
    assert set(tags.json()["results"][0]) == {"labels", "probabilities"}
    assert set(stars.json()["results"][0]) == {"value"}
    assert bad.status_code == 422 and "\n" not in bad.json()["error"]
