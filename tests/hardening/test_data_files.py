"""Data files a user hands ``train``: bad labels, huge headers, odd JSON, through the CLI."""

from __future__ import annotations

import json

import pytest

from tests.hardening.harness import BOMB_MEMORY, assert_refused, run_cli
from tests.helpers import NEGATIVE, POSITIVE


def _csv(path, labels):
    rows = ["text,label"] + [
        f"the film was {(POSITIVE if i % 2 else NEGATIVE)[i % 9]},{lab}"
        for i, lab in enumerate(labels)
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize(
    ("labels", "row"),
    [([0, 1, "NaN", 1] * 6, 3), ([1, 0] * 5 + ["nan"] + [1, 0] * 5, 11), (["null", 1, 0] * 8, 1)],
)
def test_train_refuses_missing_value_labels_with_the_row(tmp_path, labels, row):
    data = _csv(tmp_path / "d.csv", labels)
    ended = run_cli("train", "--dataset", data, "-o", tmp_path / "run")
    assert_refused(ended, f"no value in train row {row}")
    assert not (tmp_path / "run").exists()


def test_train_refuses_a_header_of_two_million_columns_at_once(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(2_000_000)) + "\nx\n")
    ended = run_cli("train", "--dataset", path, "-o", tmp_path / "run", memory=BOMB_MEMORY)
    assert_refused(ended, "2,000,000 columns", within=15)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"text": "a", "label": 1}', "holds a JSON dict"),
        ("[1, 2, 3]", "record 1 is a JSON int"),
        ('{"text": ["a", "b"], "label": [1]}', "columns have different lengths"),
        ("[" * 5000 + "]" * 5000, "not JSON phalanx can read"),
    ],
)
def test_train_refuses_json_of_the_wrong_shape(tmp_path, content, message):
    path = tmp_path / "d.json"
    path.write_text(content)
    assert_refused(run_cli("train", "--dataset", path, "-o", tmp_path / "run"), message)


def test_train_refuses_a_jsonl_line_that_is_not_json_naming_the_line(tmp_path):
    path = tmp_path / "d.jsonl"
    lines = [json.dumps({"text": f"t {i}", "label": i % 2}) for i in range(10)]
    lines[6] = '{"text": "broken'
    path.write_text("\n".join(lines))
    assert_refused(run_cli("train", "--dataset", path, "-o", tmp_path / "run"), "line 7")
