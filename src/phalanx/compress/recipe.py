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
import operator
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

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
            raise ValueError(
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
                raise ValueError(
                    f"{self.source}: {len(self.of_type(cls))} {cls.__name__}s; give at most one"
                )
        total = self.num_epochs
        for m in self.modifiers:
            if m.last_epoch() > total + 1e-9:
                raise ValueError(
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
    body = _front_matter(text)
    try:
        data = yaml.load(body, Loader=_RecipeLoader)
    except yaml.YAMLError as err:
        raise ValueError(f"recipe {source} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ValueError(
            f"recipe {source} must be a mapping of variables and *_modifiers lists, "
            f"got {type(data).__name__}"
        )
    variables = {k: v for k, v in data.items() if not _is_group(k, v)}
    raw: list[Any] = []
    for key, value in data.items():
        if _is_group(key, value):
            if not isinstance(value, list):
                raise ValueError(f"recipe {source}: {key} must be a list of !Modifier entries")
            raw.extend(value)
    if not raw:
        raise ValueError(
            f"recipe {source} has no modifiers; list them under 'modifiers:' or a "
            "'*_modifiers:' key as '- !EpochRangeModifier {...}'"
        )
    resolver = _Resolver(variables, source)
    modifiers = []
    for item in raw:
        if not isinstance(item, _Tagged):
            raise ValueError(
                f"recipe {source}: modifier entry {item!r} has no !Tag; write it as "
                f"'- !GMPruningModifier {{...}}' (supported: {', '.join(sorted(MODIFIERS))})"
            )
        fields = item.value if isinstance(item.value, dict) else {}
        if not isinstance(item.value, dict) and item.value not in ({}, None, ""):
            raise ValueError(f"recipe {source}: !{item.tag} must hold a mapping of fields")
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
        data = yaml.load(_front_matter(p.read_text()), Loader=_RecipeLoader)
    except yaml.YAMLError:
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
                raise ValueError(f"recipe {self.source}: cannot parse {v!r}") from None
            return self._eval(tree.body, v)
        return v

    def _eval(self, node: ast.AST, text: str) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        if isinstance(node, ast.Name):
            return self._variable(node.id, text)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = self._eval(node.left, text), self._eval(node.right, text)
            return _BINOPS[type(node.op)](_number(left, text), _number(right, text))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](_number(self._eval(node.operand, text), text))
        raise ValueError(
            f"recipe {self.source}: {text!r} may only use variable names, numbers, "
            "+ - * / // % ** and parentheses"
        )

    def _variable(self, name: str, text: str) -> Any:
        if name not in self.variables:
            known = ", ".join(sorted(map(str, self.variables))) or "none"
            raise ValueError(
                f"recipe {self.source}: {text!r} names variable {name!r}, which the recipe "
                f"does not define (top-level variables: {known})"
            )
        if name in self._active:
            raise ValueError(f"recipe {self.source}: variable {name!r} refers to itself")
        self._active.append(name)
        try:
            return self.value(self.variables[name])
        finally:
            self._active.pop()


def _number(v: Any, text: str) -> float | int:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"{text!r}: arithmetic needs numbers, got {v!r}")
    return v
