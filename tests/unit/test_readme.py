"""The README's Python snippets run, top to bottom, as a reader would run them.

Rules, so the README stays the documentation and not a test script:

- every ```python block runs, each in a fresh namespace, all in one scratch working
  directory (so ``runs/my-adapter`` saved by one block is there for the next ones);
- a block whose fence line follows ``<!-- readme-test: skip (reason) -->`` is skipped: only
  blocks that train (minutes on the real model and data) carry it, and at most
  ``MAX_SKIPPED`` may;
- the built-in model names in ``TINY_MODELS``, written as string literals, are replaced by
  the tiny random models of tests/conftest.py with the same architecture, so the snippets
  run offline in seconds (what they print differs, what they call does not).
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
SKIP_MARK = re.compile(r"<!--\s*readme-test:\s*skip\b.*-->")
MAX_SKIPPED = 2

# built-in name -> (fixture, architecture) of the tiny model that stands in for it
TINY_MODELS = {"minilm-l6": ("tiny_base", "bert"), "smollm2-135m": ("tiny_lm", "llama")}


@dataclass
class Snippet:
    line: int
    code: str
    skipped: bool


def snippets(text: str) -> list[Snippet]:
    """The ```python blocks of a Markdown text, with the line number of each fence."""
    found, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```python":
            start = i
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
            before = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
            code = "\n".join(lines[start + 1 : end]) + "\n"
            found.append(Snippet(start + 1, code, bool(SKIP_MARK.search(before))))
            i = end
        i += 1
    return found


def test_snippet_extraction_and_skip_marker():
    text = "x\n```python\na = 1\n```\n<!-- readme-test: skip (trains) -->\n```python\nb\n```\n"
    assert [(s.line, s.code, s.skipped) for s in snippets(text)] == [
        (2, "a = 1\n", False),
        (6, "b\n", True),
    ]


def test_readme_python_snippets_run(request, tmp_path, monkeypatch):
    blocks = snippets(README.read_text(encoding="utf-8"))
    skipped = [b.line for b in blocks if b.skipped]
    assert blocks and len(skipped) <= MAX_SKIPPED, f"README blocks skipped at lines {skipped}"
    names = {}
    for name, (fixture, arch) in TINY_MODELS.items():
        names[name] = str(request.getfixturevalue(fixture)(arch))
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        if block.skipped:
            continue
        code = block.code
        for name, path in names.items():
            code = code.replace(f'"{name}"', repr(path))
        try:
            padded = "\n" * block.line + code  # tracebacks give README.md's own line numbers
            exec(compile(padded, str(README), "exec"), {"__name__": "__readme__"})
        except Exception:
            pytest.fail(
                f"the README's python block at line {block.line} fails:\n{traceback.format_exc()}"
            )
