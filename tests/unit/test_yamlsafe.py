"""Bounded YAML: bombs, recursion, huge files and syntax errors end at once in one line."""

from __future__ import annotations

import time

import pytest

from phalanx.errors import InputError
from phalanx.yamlsafe import MAX_YAML_BYTES, load_yaml_text


def _laughs(levels: int, width: int = 9) -> str:
    lines = ["l0: &l0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_laughs(9), "expand to more than 100,000 values"),
        (_laughs(30, width=2), "expand to more than 100,000 values"),
        ("a: &a [*a]", "refers to itself"),
        ("a: &a {b: *a}", "refers to itself"),
        ("{", "is not valid YAML: expected the node content"),
        ("a: [1, 2", "is not valid YAML"),
        ("a: *undefined", "is not valid YAML: found undefined alias"),
        ("x" * (MAX_YAML_BYTES + 1), "more than the 1,048,576"),
    ],
)
def test_bad_yaml_is_one_line_naming_the_source_and_ends_fast(text, message):
    start = time.perf_counter()
    with pytest.raises(InputError, match=message) as err:
        load_yaml_text(text, "run.yaml")
    assert time.perf_counter() - start < 1
    assert str(err.value).startswith("run.yaml") and "\n" not in str(err.value)


def test_shared_anchors_below_the_bound_load_as_usual():
    text = "base: &b {lr: 0.001, epochs: 3}\nrun1: *b\nrun2: {<<: *b, lr: 0.01}\n"
    assert load_yaml_text(text, "x.yaml") == {
        "base": {"lr": 0.001, "epochs": 3},
        "run1": {"lr": 0.001, "epochs": 3},
        "run2": {"lr": 0.01, "epochs": 3},
    }
    assert load_yaml_text("", "x.yaml") is None
