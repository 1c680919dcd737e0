"""check_field_types: every config value is checked against its declared type."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from phalanx.errors import InputError, shown
from phalanx.validation import check_field_types


@dataclass
class Options:
    flag: bool = False
    count: int | None = None
    rate: float = 1.0
    name: str = "x"
    names: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    mode: Literal["a", "b"] = "a"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"flag": "false"}, "flag must be true or false, got 'false' (str)"),
        ({"flag": "yes please"}, "flag must be true or false"),
        ({"flag": 1}, "flag must be true or false, got 1 (int)"),
        ({"count": "three"}, "count must be a whole number (or null), got 'three'"),
        ({"count": 2.5}, "count must be a whole number"),
        ({"count": True}, "count must be a whole number"),
        ({"rate": "fast"}, "rate must be a number, got 'fast' (str)"),
        ({"rate": "0.1"}, "rate must be a number, got '0.1' (str)"),
        ({"rate": float("nan")}, "rate must be a number, got nan"),
        ({"rate": float("inf")}, "rate must be a number, got inf"),
        ({"name": 12}, "name must be text, got 12 (int)"),
        ({"name": ["a", "b"]}, "name must be text"),
        ({"names": "a,b"}, "names must be a list of text"),
        ({"names": [1, 2]}, "names must be a list of text"),
        ({"extra": ["k=v"]}, "extra must be a mapping"),
        ({"mode": "c"}, "mode must be one of 'a', 'b'"),
    ],
)
def test_a_wrong_type_is_named_with_the_field_value_and_expected_type(kwargs, message):
    with pytest.raises(InputError, match="^cfg: " + re.escape(message)):
        check_field_types(Options(**kwargs), "cfg")


def test_right_types_pass_and_ints_count_as_numbers():
    check_field_types(Options(True, 3, 2, "n", ["a"], {"k": [1]}, "b"))
    check_field_types(Options(count=None, names=("a", "b")))


def test_a_huge_value_is_cut_in_the_message():
    with pytest.raises(InputError) as err:
        check_field_types(Options(name=["x" * 10_000] * 10_000), "cfg")
    assert len(str(err.value)) < 200
    assert "..." in shown("y" * 1000) and len(shown("y" * 1000)) <= 80
