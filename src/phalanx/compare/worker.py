"""One method's training run in a child process of ``compare``.

``python -m phalanx.compare.worker SPEC.json RESULT.json``: SPEC holds the ``TrainConfig``
mapping; the run logs its progress to stderr and writes RESULT, the figures of the run or
``{"error": one line}``. Run as its own process, the training's peak memory is its own and
a crash cannot end the other methods' runs.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from ..errors import first_line

__all__ = ["folder_bytes", "main", "reason"]

log = logging.getLogger("phalanx.compare")

#: errors of the user's input: their message alone is the reason (others keep their type)
_USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, KeyError, ImportError)


def reason(err: BaseException) -> str:
    """The one line a table row shows for an error."""
    if isinstance(err, KeyError) and err.args:
        return first_line(Exception(err.args[0]))
    if isinstance(err, _USER_ERRORS):
        return first_line(err)
    return f"{type(err).__name__}: {first_line(err)}"


def folder_bytes(path: str | os.PathLike) -> int:
    """Bytes of the files under ``path`` (0 when it does not exist)."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("phalanx")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "info" if verbose else "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def _run(options: dict[str, Any]) -> dict[str, Any]:
    from ..training import TrainConfig, train

    config = TrainConfig.from_dict(options)
    result = train(config)
    return {
        "trainable_parameters": result.trainable_parameters,
        "train_seconds": result.train_seconds,
        "steps": result.steps,
        "lr": config.resolved_lr(),
        "validation": dict(result.validation),
        "test": dict(result.test),
        "adapter_path": str(result.adapter_path),
        "adapter_bytes": folder_bytes(result.adapter_path),
        "problem_type": result.problem.type,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the spec's training; 0 when it finished, 1 when it failed (RESULT says why)."""
    spec_file, result_file = argv if argv is not None else sys.argv[1:]
    spec = json.loads(Path(spec_file).read_text(encoding="utf-8"))
    _setup_logging(bool(spec.get("verbose")))
    try:
        out: dict[str, Any] = _run(spec["config"])
    except (Exception, KeyboardInterrupt) as err:
        out = {"error": reason(err), "traceback": traceback.format_exc()}
        log.debug("%s", out["traceback"].rstrip())  # shown with -v; always in the method's log
        log.error("error: %s", out["error"])
    Path(result_file).write_text(json.dumps(out), encoding="utf-8")
    return 1 if "error" in out else 0


if __name__ == "__main__":
    raise SystemExit(main())
