"""Input templates: ``"Review: {sentence}"`` applied to strings or dicts before tokenizing."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InputError, shown

__all__ = ["apply_template", "pair_items", "render_inputs", "template_fields"]


def template_fields(template: str) -> list[str]:
    """The ``{field}`` names of a template, in order.

    >>> template_fields("Sentence: {sentence} Topic: {topic}")
    ['sentence', 'topic']
    """
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as err:
        raise InputError(f"invalid input template {template!r}: {err}") from None
    return [name for _, name, _, _ in parsed if name is not None]


def pair_items(template: str, texts: Sequence[str], pairs: Sequence[str]) -> list[dict[str, str]]:
    """Texts and second texts as inputs of ``template``: its first field takes the text, its
    second the pair (as training renders them).

    >>> pair_items("Q: {q} A: {a}", ["why?"], ["because"])
    [{'q': 'why?', 'a': 'because'}]
    """
    fields = list(dict.fromkeys(template_fields(template)))
    if len(fields) < 2:
        raise InputError(
            f"the input template {template!r} has one field: it takes no second text; drop "
            "the text pair column (text_pair_column, --text-pair-column)"
        )
    return [{fields[0]: t, fields[1]: p} for t, p in zip(texts, pairs, strict=True)]


def apply_template(template: str | None, item: Any, position: int = 0) -> str:
    """Render one input. A plain string fills a template with exactly one field."""
    if isinstance(item, Mapping):
        if template is None:
            raise InputError(
                f"input {position} is a dict {shown(dict(item))} but no input_template is set; "
                "pass input_template='... {field} ...' or give strings"
            )
        missing = [f for f in template_fields(template) if f not in item]
        if missing:
            raise InputError(
                f"input {position} lacks the template field {missing[0]!r} "
                f"(it has {sorted(item)}); template: {template!r}"
            )
        return template.format(**item)
    if not isinstance(item, str):
        raise InputError(
            f"input {position} is {type(item).__name__} ({shown(item)}); give strings "
            "(or dicts with the template's fields)"
        )
    if template is None:
        return item
    fields = template_fields(template)
    if len(set(fields)) != 1:
        raise InputError(
            f"input {position} is a string but the template has fields {fields}; "
            "give dicts with those keys"
        )
    return template.format(**{fields[0]: item})


def render_inputs(template: str | None, items: Any) -> list[str]:
    """Render a list of inputs (a single string or dict counts as a list of one)."""
    if isinstance(items, (str, Mapping)):
        items = [items]
    if not isinstance(items, Sequence):
        raise InputError(f"inputs must be a list of strings or dicts, got {type(items).__name__}")
    rendered = [apply_template(template, item, i) for i, item in enumerate(items)]
    for i, text in enumerate(rendered):
        if not text.isascii():
            _check_unicode(text, i)
    return rendered


def _check_unicode(text: str, position: int) -> None:
    """A lone surrogate (``"\\ud800"``, from JSON or a bad decode) cannot be tokenized."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise InputError(
            f"input {position} is not valid Unicode: a lone surrogate {text[err.start]!r} at "
            f"character {err.start}; send UTF-8 text"
        ) from None
