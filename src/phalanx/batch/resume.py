"""The resume sidecar: which chunks of a batch job are done, and what they were made from.

``.<output>.resume.json`` sits next to the output while the job runs. After each chunk
is durably written, it is replaced (atomically) with the chunks done, where the input
stood (row, byte offset, SHA-256 of the bytes read), where the output stands (byte
offset, or Parquet parts) and the running totals. Its ``fingerprint`` (input file, model,
options) must match for ``--resume`` to carry on; a difference is named. The input is
identified by the bytes already read for text formats (so a bad row further on can be
fixed, then resumed), by its size and modification time for Parquet and JSON.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InputError

__all__ = ["Sidecar", "fingerprint", "model_fingerprint", "sidecar_path"]

VERSION = 1


def sidecar_path(output: Path) -> Path:
    """Where the sidecar of ``output`` lives."""
    return output.with_name(f".{output.name}.resume.json")


def model_fingerprint(model: Any) -> dict[str, Any]:
    """The model folder and the size and modification time of each of its files."""
    folder = Path(str(model)).expanduser()
    if not folder.exists():
        return {"model": str(model)}  # a Hub id resolved elsewhere: its name
    folder = folder.resolve()
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else [folder]
    stamp = [[str(p.relative_to(folder) if folder.is_dir() else p.name), p.stat().st_size,
              p.stat().st_mtime_ns] for p in files[:200]]  # fmt: skip
    return {"model": str(folder), "files": stamp}


def fingerprint(input_path: Path, model: Mapping[str, Any], options: Mapping[str, Any]) -> dict:
    """What a resumed run must share with the interrupted one."""
    stat = input_path.stat()
    text = input_path.suffix.lower() in (".csv", ".tsv", ".jsonl")
    where = {"input": str(input_path.resolve())}
    if not text:
        where.update(size=stat.st_size, mtime_ns=stat.st_mtime_ns)
    return {**where, **model, "options": dict(options)}


_WHAT = {
    "input": "the input file",
    "size": "the input's size",
    "mtime_ns": "the input's modification time",
    "model": "the model",
    "files": "the model's files",
}


class Sidecar:
    """The sidecar file of one output."""

    def __init__(self, output: Path):
        self.path = sidecar_path(output)

    def exists(self) -> bool:
        return self.path.is_file()

    def load(self) -> dict[str, Any]:
        """The recorded state (an unreadable sidecar is refused, naming the way out)."""
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise InputError(
                f"the resume file {self.path} cannot be read ({err}); start over with --overwrite"
            ) from None
        if not isinstance(state, dict) or state.get("version") != VERSION:
            raise InputError(
                f"the resume file {self.path} is not one this phalanx wrote; start over "
                "with --overwrite"
            )
        return state

    def check(self, state: Mapping[str, Any], now: Mapping[str, Any]) -> None:
        """Refuse to resume a job made with another input, model or options."""
        then = state.get("fingerprint") or {}
        for key in ("input", "size", "mtime_ns", "model", "files"):
            if then.get(key) != now.get(key):
                raise _differs(_WHAT[key], then.get(key), now.get(key), key == "files")
        old, new = then.get("options") or {}, now.get("options") or {}
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                raise _differs(f"the option {key}", old.get(key), new.get(key))

    def save(self, state: Mapping[str, Any]) -> None:
        """Replace the sidecar with ``state`` in one rename, on disk."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            json.dump({"version": VERSION, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        self.path.with_name(self.path.name + ".tmp").unlink(missing_ok=True)


def _differs(what: str, then: Any, now: Any, quiet: bool = False) -> InputError:
    shown = "" if quiet else f" (the interrupted run: {then!r}, now: {now!r})"
    return InputError(
        f"cannot resume: {what} differs from the interrupted run's{shown}; rerun with the "
        "same input, model and options, or start over with --overwrite"
    )
