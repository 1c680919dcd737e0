"""YAML for configs, recipes and option values, with every expansion bounded.

``yaml.safe_load`` never runs code, but aliases let a few hundred bytes stand for billions of
nodes ("billion laughs"): building the object shares them, yet anything that walks it later
(validation, an error message, a JSON dump) expands it and hangs. So the composed node graph
is measured, aliases expanded, before anything is constructed.
"""

from __future__ import annotations

from typing import Any

import yaml

from .errors import InputError

__all__ = ["MAX_NODES", "MAX_YAML_BYTES", "YAMLSyntaxError", "load_yaml_text"]

#: far above any config or recipe (a large SparseML recipe has a few hundred nodes)
MAX_NODES = 100_000
MAX_YAML_BYTES = 1 << 20


class YAMLSyntaxError(InputError):
    """The text is not YAML at all (as opposed to YAML that is too large or expands too far)."""


def load_yaml_text(text: str, source: str, loader: type[yaml.SafeLoader] = yaml.SafeLoader) -> Any:
    """Parse one YAML document; ``InputError`` naming ``source`` for a malformed, recursive,
    too large or too expanding document.

    >>> load_yaml_text("epochs: 3", "run.yaml")
    {'epochs': 3}
    """
    if len(text) > MAX_YAML_BYTES:
        raise InputError(
            f"{source}: {len(text):,} characters is more than the {MAX_YAML_BYTES:,} a config "
            "or recipe may have; is this the right file?"
        )
    parser = loader(text)
    try:
        node = parser.get_single_node()
        if node is None:
            return None
        _check_expanded_size(node, source)
        return parser.construct_document(node)
    except yaml.YAMLError as err:
        raise YAMLSyntaxError(f"{source} is not valid YAML: {_one_line(err)}") from None
    finally:
        parser.dispose()


def _one_line(err: yaml.YAMLError) -> str:
    """PyYAML's message spans lines and quotes the source; keep the problem and where it is."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{problem}{where}"


def _check_expanded_size(root: yaml.Node, source: str) -> None:
    """Count nodes as if every alias were copied out (memoised, so this itself is linear)."""
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        kids = _children(node)
        if children_done:
            active.discard(key)
            sizes[key] = 1 + sum(sizes[id(k)] for k in kids)
            if sizes[key] > MAX_NODES:
                raise InputError(
                    f"{source}: its anchors and aliases expand to more than {MAX_NODES:,} "
                    "values (a YAML bomb?); write the values out or use fewer aliases"
                )
            continue
        if key in active:
            raise InputError(f"{source}: an anchor refers to itself (a recursive alias)")
        active.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in kids if id(k) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []
