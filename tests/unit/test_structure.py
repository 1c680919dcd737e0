"""The package's shape, read from its source with ``ast`` (nothing is imported).

- no import cycle between modules of ``src/phalanx``, imports inside functions included;
- nothing outside ``phalanx.cli`` imports ``phalanx.cli``;
- the adapter-folder file names are spelled only in ``phalanx/folder/names.py`` (a string that is
  the file name; messages that mention one are prose).

Import edges: ``import a.b.c`` and ``from a.b import c`` import module ``a.b.c`` when it
exists, else the package ``a.b`` (its ``__init__``), and the packages on the way (``a``,
``a.b``: Python runs their ``__init__`` first); packages the importer itself sits in are
left out (they are running already, so they are no dependency).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
ROOT = SRC / "phalanx"

# file names of the adapter-folder contract: literals only in phalanx/folder/names.py
FOLDER_NAMES = (
    "phalanx.json",
    "sparse_deltas.safetensors",
    "head_init.safetensors",
    "adapter_config.json",
    "pruning.json",
)


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every .py under src/phalanx."""
    mods = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = path
    return mods


def _imported_names(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """(absolute dotted target, line) for every import statement in the file, at any depth."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                stem = ".".join([*base, node.module] if node.module else base)
            else:
                stem = node.module or ""
            for alias in node.names:  # `from pkg import name`: the module pkg.name if it is one
                yield f"{stem}.{alias.name}", node.lineno


def _resolve(target: str, mods: dict[str, Path]) -> str | None:
    """The longest prefix of ``target`` that is a module of the package (None: outside it)."""
    while target and target not in mods:
        target = target.rpartition(".")[0]
    return target or None


def _graph(mods: dict[str, Path]) -> dict[str, dict[str, int]]:
    """module -> {module it imports: line of the first such import}."""
    graph: dict[str, dict[str, int]] = {m: {} for m in mods}
    for module, path in mods.items():
        for name, line in _imported_names(module, path):
            target = _resolve(name, mods)
            while target:  # the module, and the packages Python runs on the way to it
                if target != module and not module.startswith(target + "."):
                    graph[module].setdefault(target, line)
                target = target.rpartition(".")[0]
    return graph


def _strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative): the components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def _describe(component: list[str], graph: dict[str, dict[str, int]], mods) -> str:
    members = set(component)
    edges = [
        f"    {m} ({mods[m].relative_to(SRC)}:{line}) -> {t}"
        for m in component
        for t, line in sorted(graph[m].items())
        if t in members
    ]
    return " <-> ".join(component) + "\n" + "\n".join(edges)


def test_the_graph_sees_lazy_relative_and_from_imports(tmp_path):
    (tmp_path / "q").mkdir()
    files = {"p": "__init__.py", "p.a": "a.py", "p.b": "b.py", "p.q": "q/__init__.py"}
    mods = {name: tmp_path / file for name, file in {**files, "p.q.c": "q/c.py"}.items()}
    mods["p"].write_text("")
    mods["p.a"].write_text("import os\n\n\ndef f():\n    from . import b\n")
    mods["p.b"].write_text("from .a import f\nfrom .q.c import g\n")
    mods["p.q"].write_text("from .c import g\n")
    mods["p.q.c"].write_text("from .. import a\n\n\ndef g():\n    pass\n")
    graph = _graph(mods)
    assert graph["p.a"] == {"p.b": 5}
    assert graph["p.b"] == {"p.a": 1, "p.q": 2, "p.q.c": 2}
    assert graph["p.q"] == {"p.q.c": 1} and graph["p.q.c"] == {"p.a": 1}
    assert _strongly_connected(graph) == [["p.a", "p.b", "p.q", "p.q.c"]]


def test_no_import_cycles():
    mods = _modules()
    graph = _graph(mods)
    cycles = [_describe(c, graph, mods) for c in _strongly_connected(graph)]
    assert not cycles, "import cycles in src/phalanx:\n" + "\n".join(cycles)


def _in_cli(module: str) -> bool:
    """The CLI package, and ``python -m phalanx``'s entry that only calls it."""
    return module in ("phalanx.cli", "phalanx.__main__") or module.startswith("phalanx.cli.")


def test_only_the_cli_imports_the_cli():
    mods = _modules()
    offenders = [
        f"{mods[m].relative_to(SRC)}:{line}"
        for m, targets in _graph(mods).items()
        if not _in_cli(m)
        for t, line in targets.items()
        if t == "phalanx.cli" or t.startswith("phalanx.cli.")
    ]
    assert not offenders, f"library code imports phalanx.cli: {offenders}"


def _string_literals(tree: ast.AST) -> Iterator[ast.Constant]:
    """String constants that are not docstrings."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    for node in ast.walk(tree):
        is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
        if is_text and id(node) not in docstrings:
            yield node


def test_adapter_file_names_are_spelled_only_in_folder_py():
    folder = ROOT / "folder" / "names.py"
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        if path == folder:
            continue
        for node in _string_literals(ast.parse(path.read_text(encoding="utf-8"))):
            names = [n for n in FOLDER_NAMES if node.value in (n, f"/{n}")]
            if names:
                found.append(f"{path.relative_to(SRC)}:{node.lineno} {names[0]}")
    assert not found, "use the names from phalanx.folder instead of:\n" + "\n".join(found)
