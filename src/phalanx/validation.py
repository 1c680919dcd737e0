"""Check a config dataclass's values against their declared types before anything uses them.

YAML, ``--method-options`` and Python callers can all hand a config any value: the string
``"false"`` for a bool is truthy, ``"0.1"`` for a float breaks a comparison much later. One
check at construction names the field, the value and the expected type instead.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from typing import Any, Literal, Union

from .errors import InputError, shown

__all__ = ["check_field_types", "check_int_range", "type_name"]


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def check_field_types(obj: Any, what: str | None = None) -> None:
    """Raise ``InputError`` for the first field of dataclass ``obj`` whose value has the
    wrong type. Ints are accepted for floats; bools are never numbers; NaN and infinity are
    no numbers (every float option here is a size, a rate or a fraction).

    >>> @dataclasses.dataclass
    ... class C:
    ...     epochs: float = 3
    >>> check_field_types(C(epochs="three"), "train config")
    Traceback (most recent call last):
    ...
    phalanx.errors.InputError: train config: epochs must be a number, got 'three' (str)
    """
    hints = _hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        expected = hints.get(f.name, Any)
        if not _matches(value, expected):
            where = f"{what}: " if what else ""
            raise InputError(
                f"{where}{f.name} must be {type_name(expected)}, got {shown(value)} "
                f"({type(value).__name__})"
            )


def check_int_range(name: str, value: Any, low: int = 1, high: int | None = None) -> int:
    """``value`` when it is a whole number in ``[low, high]``, else InputError naming
    ``name`` and the valid range. 0 is a value like any other, never "unset".

    >>> check_int_range("--batch-size", 0)
    Traceback (most recent call last):
    ...
    phalanx.errors.InputError: --batch-size must be a whole number >= 1, got 0
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        bound = f">= {low}" if high is None else f"between {low} and {high}"
        raise InputError(f"{name} must be a whole number {bound}, got {shown(value)}")
    return value


def _matches(value: Any, expected: Any) -> bool:
    if expected is Any:
        return True
    origin, args = typing.get_origin(expected), typing.get_args(expected)
    if origin in (Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin is Literal:
        return value in args
    if expected is type(None):
        return value is None
    if expected is bool:
        return isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is float:
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    if expected is str:
        return isinstance(value, str)
    if origin in (list, tuple) or expected in (list, tuple):
        if not isinstance(value, list | tuple):
            return False
        item = args[0] if args else Any
        return all(_matches(v, item) for v in value)
    if origin is dict or expected is dict:
        if not isinstance(value, dict):
            return False
        key, val = args if args else (Any, Any)
        return all(_matches(k, key) and _matches(v, val) for k, v in value.items())
    if isinstance(expected, type):
        return isinstance(value, expected)
    return True  # an annotation this checker does not model: the field's own checks decide


def type_name(expected: Any) -> str:
    """How an error message names a type: ``a number``, ``true or false``, ``a list of text``."""
    origin, args = typing.get_origin(expected), typing.get_args(expected)
    if origin in (Union, types.UnionType):
        named = [type_name(a) for a in args if a is not type(None)]
        optional = " (or null)" if type(None) in args else ""
        return " or ".join(named) + optional
    if origin is Literal:
        return "one of " + ", ".join(map(repr, args))
    if origin in (list, tuple):
        return f"a list of {_plural(args[0]) if args else 'values'}"
    if origin is dict:
        return "a mapping of option: value"
    return {
        bool: "true or false",
        int: "a whole number",
        float: "a number",
        str: "text",
        list: "a list",
        dict: "a mapping of option: value",
    }.get(expected, getattr(expected, "__name__", str(expected)))


def _plural(item: Any) -> str:
    return {str: "text", int: "whole numbers", float: "numbers", bool: "true/false"}.get(
        item, type_name(item)
    )
