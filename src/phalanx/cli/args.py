"""argparse from dataclasses and YAML ``--config`` files: the plumbing of ``phalanx.cli``.

Every optional flag defaults to ``argparse.SUPPRESS``, so the namespace holds only what the
user typed; values from ``--config FILE`` fill the rest, and the command's own defaults
come last. That gives the precedence: command-line flag > config file > default.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
from typing import Any

from ..errors import InputError
from ..yamlsafe import YAMLSyntaxError, load_yaml_text

__all__ = [
    "CliError",
    "add_dataclass_arguments",
    "given",
    "key_value",
    "merge_config_file",
    "options_dict",
]


class CliError(ValueError):
    """A user error the CLI reports in one line (exit code 2)."""


def key_value(text: str) -> tuple[str, Any]:
    """``"density=0.01"`` -> ``("density", 0.01)`` (the value is read as YAML).

    >>> key_value("target_modules=[query, value]")
    ('target_modules', ['query', 'value'])
    """
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed = load_yaml_text(value, f"option {key.strip()}") if value.strip() else None
    except YAMLSyntaxError:  # not YAML: the text itself (a bomb or a huge value is refused)
        parsed = value
    except InputError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return key.strip().replace("-", "_"), parsed


def _kind(annotation: Any) -> str:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    text = str(text)
    for kind in ("bool", "dict", "list", "float", "int"):
        if text.startswith(kind) or f" {kind}" in text or f"|{kind}" in text:
            return kind
    return "str"


def add_dataclass_arguments(
    parser: argparse.ArgumentParser,
    cls: type,
    docs: dict[str, str],
    *,
    choices: dict[str, Any] | None = None,
    short: dict[str, str] | None = None,
) -> None:
    """One ``--flag`` per dataclass field, typed from its annotation, helped by its docstring."""
    choices, short = choices or {}, short or {}
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        names = [short[f.name], flag] if f.name in short else [flag]
        default = (
            f.default
            if f.default is not dataclasses.MISSING
            else f.default_factory()  # type: ignore[misc]
            if f.default_factory is not dataclasses.MISSING
            else None
        )
        help_text = docs.get(f.name, "")
        shown = default if not isinstance(default, list) else " ".join(map(str, default))
        if default not in (None, {}, []):
            help_text += f" (default: {shown})"
        kwargs: dict[str, Any] = {"help": help_text, "dest": f.name, "default": argparse.SUPPRESS}
        kind = _kind(f.type)
        if kind == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif kind == "dict":
            kwargs.update(type=key_value, nargs="+", metavar="KEY=VALUE", action="extend")
        elif kind == "list":
            kwargs.update(nargs="+", metavar="VALUE")
        else:
            kwargs["type"] = {"int": int, "float": float}.get(kind, str)
            kwargs["metavar"] = {"int": "N", "float": "X"}.get(kind, f.name.split("_")[-1].upper())
        if f.name in choices:
            kwargs["choices"] = choices[f.name]
            kwargs.pop("metavar", None)
        parser.add_argument(*names, **kwargs)


def merge_config_file(
    args: argparse.Namespace,
    parser: argparse.ArgumentParser,
    data: dict[str, Any],
    source: str,
) -> argparse.Namespace:
    """Fill options the user did not type from a config mapping (CLI flags win)."""
    valid = {
        a.dest
        for a in parser._actions
        if a.dest not in ("help", "config", argparse.SUPPRESS) and not a.dest.startswith("_")
    }
    for key, value in data.items():
        dest = str(key).replace("-", "_")
        if dest not in valid:
            close = difflib.get_close_matches(dest, sorted(valid), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise CliError(
                f"{source}: unknown option {key!r}{hint}; valid options: {', '.join(sorted(valid))}"
            )
        if not hasattr(args, dest):
            setattr(args, dest, value)
    return args


def given(args: argparse.Namespace, *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The options present in ``args`` (typed or from the config file), without internals."""
    return {
        k: v
        for k, v in vars(args).items()
        if not k.startswith("_") and k not in ("config", "command", "verbose", "quiet", *skip)
    }


def options_dict(pairs: Any) -> dict[str, Any]:
    """KEY=VALUE pairs (a list of tuples from the CLI) or a mapping (from YAML) -> dict."""
    return {} if pairs is None else dict(pairs)
