"""``phalanx --help`` and ``--version`` import no heavy library (checked in a fresh process).

Deterministic, not a timing test: the start-up time is measured by benchmarks/cli_startup.py.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "torch", "transformers", "peft", "numpy", "pandas", "datasets", "safetensors", "sklearn",
)  # fmt: skip

_PROBE = """\
import contextlib, io, json, sys
from phalanx.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        code = main(sys.argv[1:])
    except SystemExit as stop:
        code = stop.code
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print(json.dumps({{"code": code, "heavy": heavy, "out": out.getvalue()}}))
"""


def _probe(*argv: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY), *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


# every subcommand's --help but train's and compress's, whose --method choices come from the
# registry, which imports the method packages (and torch with them)
LIGHT_HELP = ("classify", "evaluate", "info", "export", "serve", "validate", "assets", "models")


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["--version"], ["-v", "--version"]] + [[c, "--help"] for c in LIGHT_HELP],
    ids=" ".join,
)
def test_help_and_version_import_no_heavy_library(argv):
    result = _probe(*argv)
    assert result["code"] == 0
    assert result["heavy"] == [], f"phalanx {' '.join(argv)} imported {result['heavy']}"


def test_top_level_help_lists_every_subcommand():
    out = _probe("--help")["out"]
    for command in ("train", "classify", "evaluate", "info", "export", "compress", "serve"):
        assert f"    {command}" in out
    assert _probe("--version")["out"].strip().startswith("phalanx ")


def test_import_phalanx_is_light():
    code = f"import sys, phalanx; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_every_public_name_of_phalanx_resolves():
    import phalanx

    missing = [name for name in phalanx.__all__ if getattr(phalanx, name, None) is None]
    assert not missing and sorted(phalanx.__all__) == phalanx.__all__
    assert set(phalanx.__all__) <= set(dir(phalanx))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        phalanx.nope  # noqa: B018
