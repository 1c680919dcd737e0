"""Recipes can hold no bomb and no arithmetic trap: every bad one ends at once with InputError."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phalanx.compress.recipe import Recipe, parse_recipe
from phalanx.errors import InputError
from tests.hardening.harness import BOMB_MEMORY, assert_refused, run_cli

LAUGHS = "l0: &l0 [1,1,1,1,1,1,1,1,1,1]\n" + "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 8)
)
GOOD = "num_epochs: 2\nmodifiers:\n  - !EpochRangeModifier {start_epoch: 0, end_epoch: %s}\n"


def _chain(n: int, op: str) -> str:
    """v0 = 2, v_i = v_{i-1} OP v_{i-1}: 2^(2^n) for *, a tower for **; 2^n evaluations
    when variables are not memoised."""
    lines = ["v0: 2"] + [f"v{i}: eval(v{i - 1} {op} v{i - 1})" for i in range(1, n + 1)]
    return "\n".join(lines) + "\n" + GOOD % f"eval(v{n} / v{n})"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD % "eval(9**9**9)", "computes a number beyond"),
        (GOOD % "eval(num_epochs / 0)", "divides by zero"),
        (GOOD % "eval(num_epochs // 0)", "divides by zero"),
        (GOOD % "eval(num_epochs % 0)", "divides by zero"),
        (GOOD % "eval(10.0 ** 400)", "computes a number beyond"),
        (GOOD % "eval((-8) ** 0.5)", "computes a number beyond"),
        (_chain(40, "*"), "computes a number beyond"),
        (_chain(8, "**"), "computes a number beyond"),
        (_chain(40, "+"), None),  # memoised: 40 variables, not 2^40 evaluations
        ("a: &a [*a]\n" + GOOD % 2, "refers to itself"),
        (
            "l0: &l0 [1,1,1,1,1,1,1,1,1,1]\n"
            + "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 8))
            + GOOD % 2,
            "expand to more than",
        ),
        (GOOD % "eval(__import__('os'))", "may only use variable names"),
        (GOOD % "eval(num_epochs.real)", "may only use variable names"),
    ],
)
def test_bad_recipes_end_at_once(text, message):
    start = time.perf_counter()
    if message is None:
        assert parse_recipe(text).num_epochs == 1  # v_n / v_n
    else:
        with pytest.raises(InputError, match=message):
            parse_recipe(text, source="r.yaml")
    assert time.perf_counter() - start < 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD % "eval(9**9**9)", "computes a number beyond"),
        (_chain(40, "*"), "computes a number beyond"),
        (GOOD % "eval(num_epochs / 0)", "divides by zero"),
    ],
)
def test_validate_refuses_a_bomb_recipe_in_one_line_under_a_memory_cap(tmp_path, text, message):
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    ended = run_cli("validate", path, memory=BOMB_MEMORY, timeout=60)
    assert_refused(ended, message, within=5)


scalars = st.one_of(
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["eval(a)", "eval(a/0)", "eval(a**a)", "eval(b)", "eval(", "1e-4", "-"]),
)
fields = st.dictionaries(st.sampled_from(["start_epoch", "end_epoch", "init_lr", "x"]), scalars)
tags = st.sampled_from(["EpochRangeModifier", "GMPruningModifier", "LearningRateFunctionModifier",
                        "DistillationModifier", "QuantizationModifier", "Nope"])  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    variables=st.dictionaries(st.sampled_from(["a", "b", "num_epochs"]), scalars, max_size=3),
    mods=st.lists(st.tuples(tags, fields), max_size=4),
)
def test_any_recipe_parses_or_raises_input_error(variables, mods):
    import yaml

    body = {**variables, "modifiers": ["@@" + str(i) for i in range(len(mods))]}
    text = yaml.safe_dump(body)
    for i, (tag, f) in enumerate(mods):
        text = text.replace(
            f"'@@{i}'", f"!{tag} " + yaml.safe_dump(f, default_flow_style=True).strip()
        )
    try:
        assert isinstance(parse_recipe(text), Recipe)
    except InputError as err:
        assert str(err)
