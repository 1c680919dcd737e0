"""SparseML-style recipes: YAML with ``!Modifier`` tags, anchors and ``eval(var)`` references.

A recipe is YAML (optionally the ``---`` front matter of a Markdown file) holding top-level
variables and modifier lists: either SparseML's ``modifiers:`` list or any number of groups
whose key ends in ``modifiers`` (``training_modifiers``, ``pruning_modifiers``, ...). Each
modifier is a tagged mapping (``- !GMPruningModifier {final_sparsity: 0.8, ...}``). String
values ``eval(EXPR)`` are computed from the top-level variables with + - * / // % ** and
parentheses only; nothing is ever passed to Python's ``eval``.

Example:
    >>> r = parse_recipe('''
    ... num_epochs: 3
    ... modifiers:
    ...   - !EpochRangeModifier {start_epoch: 0, end_epoch: eval(num_epochs)}
    ... ''')
    >>> r.num_epochs
    3.0
"""

from __future__ import annotations

import ast
import math
import operator
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import InputError, shown
from ..yamlsafe import load_yaml_text
from .modifiers import (
    MODIFIERS,
    DistillationModifier,
    EpochRangeModifier,
    LearningRateFunctionModifier,
    Modifier,
    QuantizationModifier,
    SetWeightDecayModifier,
    StructuredPruningModifier,
    build_modifier,
)

__all__ = ["Recipe", "is_recipe", "load_recipe", "parse_recipe"]

_EVAL_RE = re.compile(r"^\s*eval\((.*)\)\s*$", re.DOTALL)
# YAML 1.1 reads "1e-4" (no dot) as a string; recipes mean a number
_EXP_RE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")
_BINOPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_LIMIT = 1e15  # no epoch count, step or rate comes near it


@dataclass
class _Tagged:
    """A ``!Name`` node before it becomes a modifier."""

    tag: str
    value: Any


class _RecipeLoader(yaml.SafeLoader):
    """SafeLoader that keeps ``!AnyTag`` nodes (SparseML writes modifiers as YAML tags)."""


def _construct_tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> _Tagged:
    if isinstance(node, yaml.MappingNode):
        value: Any = loader.construct_mapping(node, deep=True)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_scalar(node) or {}
    return _Tagged(suffix, value)


_RecipeLoader.add_multi_constructor("!", _construct_tagged)


@dataclass
class Recipe:
    """The parsed recipe: its modifiers (in file order), variables and source text."""

    modifiers: list[Modifier]
    variables: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    source: str = "<recipe>"

    def of_type(self, cls: type) -> list[Any]:
        return [m for m in self.modifiers if isinstance(m, cls)]

    def one(self, cls: type) -> Any:
        found = self.of_type(cls)
        return found[0] if found else None

    @property
    def num_epochs(self) -> float:
        """EpochRangeModifier's end, else the latest end/start epoch any modifier names."""
        rng = self.one(EpochRangeModifier)
        if rng is not None:
            return float(rng.end_epoch)
        ends = [m.last_epoch() for m in self.modifiers]
        ends = [e for e in ends if e > 0]
        if not ends:
            raise InputError(
                f"{self.source}: cannot tell how many epochs to train; add "
                "!EpochRangeModifier {start_epoch: 0, end_epoch: N}"
            )
        return float(max(ends))

    @property
    def init_lr(self) -> float | None:
        lr = self.one(LearningRateFunctionModifier)
        return None if lr is None else float(lr.init_lr)

    @property
    def weight_decay(self) -> float:
        wd = self.one(SetWeightDecayModifier)
        return 0.0 if wd is None else float(wd.weight_decay)

    @property
    def distillation(self) -> DistillationModifier | None:
        return self.one(DistillationModifier)

    def summary(self) -> list[str]:
        """One line per modifier (what ``phalanx validate`` prints)."""
        return [m.describe() for m in self.modifiers]

    def check(self) -> None:
        """Cross-modifier rules: one of each singleton, epochs inside the training range."""
        for cls in (
            EpochRangeModifier,
            LearningRateFunctionModifier,
            DistillationModifier,
            QuantizationModifier,
            SetWeightDecayModifier,
            StructuredPruningModifier,
        ):
            if len(self.of_type(cls)) > 1:
                raise InputError(
                    f"{self.source}: {len(self.of_type(cls))} {cls.__name__}s; give at most one"
                )
        total = self.num_epochs
        for m in self.modifiers:
            if m.last_epoch() > total + 1e-9:
                raise InputError(
                    f"{self.source}: {type(m).__name__} reaches epoch {m.last_epoch():g} but "
                    f"training ends at epoch {total:g}; lower it or raise EpochRangeModifier's "
                    "end_epoch"
                )


def load_recipe(path: str | Path) -> Recipe:
    """Read and parse a recipe file (``.yaml`` or a Markdown file with YAML front matter)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"recipe file {str(path)!r} does not exist")
    return parse_recipe(path.read_text(), source=str(path))


def parse_recipe(text: str, source: str = "<recipe>") -> Recipe:
    """Parse recipe text; errors name the file, the modifier and the bad field."""
    data = load_yaml_text(_front_matter(text), f"recipe {source}", loader=_RecipeLoader)
    if not isinstance(data, dict):
        raise InputError(
            f"recipe {source} must be a mapping of variables and *_modifiers lists, "
            f"got {type(data).__name__}"
        )
    variables = {k: v for k, v in data.items() if not _is_group(k, v)}
    raw: list[Any] = []
    for key, value in data.items():
        if _is_group(key, value):
            if not isinstance(value, list):
                raise InputError(f"recipe {source}: {key} must be a list of !Modifier entries")
            raw.extend(value)
    if not raw:
        raise InputError(
            f"recipe {source} has no modifiers; list them under 'modifiers:' or a "
            "'*_modifiers:' key as '- !EpochRangeModifier {...}'"
        )
    resolver = _Resolver(variables, source)
    modifiers = []
    for item in raw:
        if not isinstance(item, _Tagged):
            raise InputError(
                f"recipe {source}: modifier entry {shown(item)} has no !Tag; write it as "
                f"'- !GMPruningModifier {{...}}' (supported: {', '.join(sorted(MODIFIERS))})"
            )
        fields = item.value if isinstance(item.value, dict) else {}
        if not isinstance(item.value, dict) and item.value not in ({}, None, ""):
            raise InputError(f"recipe {source}: !{item.tag} must hold a mapping of fields")
        resolved = {k: resolver.value(v) for k, v in fields.items()}
        modifiers.append(build_modifier(item.tag, resolved, source))
    recipe = Recipe(
        modifiers,
        {k: resolver.value(v) for k, v in variables.items()},
        text=text,
        source=source,
    )
    recipe.check()
    return recipe


def is_recipe(path: str | Path) -> bool:
    """Whether a YAML file is a recipe (it has a ``modifiers`` / ``*_modifiers`` list)."""
    p = Path(path).expanduser()
    if not p.is_file():
        return False
    try:
        data = load_yaml_text(_front_matter(p.read_text()), str(p), loader=_RecipeLoader)
    except InputError:
        return False
    return isinstance(data, dict) and any(_is_group(k, v) for k, v in data.items())


def _front_matter(text: str) -> str:
    """The YAML between the first two ``---`` lines of a Markdown recipe, else the text."""
    lines = text.lstrip("\ufeff").splitlines()
    if lines and lines[0].strip() == "---":
        for i, line in enumerate(lines[1:], start=1):
            if line.strip() == "---":
                return "\n".join(lines[1:i])
    return text


def _is_group(key: Any, value: Any) -> bool:
    return isinstance(key, str) and key.endswith("modifiers") and isinstance(value, list | None)


class _Resolver:
    """``eval(EXPR)`` over the recipe's variables: names, numbers and arithmetic only."""

    def __init__(self, variables: dict[str, Any], source: str):
        self.variables, self.source = variables, source
        self._active: list[str] = []
        self._done: dict[str, Any] = {}  # each variable is computed once, however often named

    def value(self, v: Any) -> Any:
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if isinstance(v, dict):
            return {k: self.value(x) for k, x in v.items()}
        if isinstance(v, str) and _EXP_RE.match(v.strip()):
            return float(v)
        if isinstance(v, str) and (m := _EVAL_RE.match(v)):
            try:
                tree = ast.parse(m.group(1).strip(), mode="eval")
            except SyntaxError:
                raise InputError(f"recipe {self.source}: cannot parse {shown(v)}") from None
            return self._eval(tree.body, v)
        return v

    def _eval(self, node: ast.AST, text: str) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        if isinstance(node, ast.Name):
            return self._variable(node.id, text)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = self._eval(node.left, text), self._eval(node.right, text)
            return self._arith(node.op, _number(left, text), _number(right, text), text)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](_number(self._eval(node.operand, text), text))
        raise InputError(
            f"recipe {self.source}: {shown(text)} may only use variable names, numbers, "
            "+ - * / // % ** and parentheses"
        )

    def _arith(self, op: ast.operator, left: float, right: float, text: str) -> float:
        """One operation, its operands and result kept below ``_LIMIT`` (a big ``**`` or a
        chain of squarings would otherwise build numbers of billions of digits)."""
        if isinstance(op, ast.Pow) and isinstance(left, int) and isinstance(right, int):
            left = float(left) if right > 64 or right < 0 else left  # ints stay small
        try:
            result = _BINOPS[type(op)](left, right)
        except ZeroDivisionError:
            raise InputError(f"recipe {self.source}: {shown(text)} divides by zero") from None
        except OverflowError:
            result = math.inf
        if isinstance(result, complex) or not math.isfinite(result) or abs(result) > _LIMIT:
            raise InputError(
                f"recipe {self.source}: {shown(text)} computes a number beyond +-{_LIMIT:g}; "
                "recipe values are epochs, rates and sparsities"
            )
        return result

    def _variable(self, name: str, text: str) -> Any:
        if name not in self.variables:
            known = ", ".join(sorted(map(str, self.variables))) or "none"
            raise InputError(
                f"recipe {self.source}: {shown(text)} names variable {name!r}, which the recipe "
                f"does not define (top-level variables: {known})"
            )
        if name in self._active:
            raise InputError(f"recipe {self.source}: variable {name!r} refers to itself")
        if name not in self._done:
            self._active.append(name)
            try:
                self._done[name] = self.value(self.variables[name])
            finally:
                self._active.pop()
        return self._done[name]


def _number(v: Any, text: str) -> float | int:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise InputError(f"{shown(text)}: arithmetic needs numbers, got {shown(v)}")
    return v
