"""Run the CLI as a user would, under a memory and time cap, and read how it ended."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

#: address-space cap for commands that must refuse a bomb (torch and transformers import in 1 GiB)
BOMB_MEMORY = 1536 << 20


@dataclass
class Ended:
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def last_line(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else ""


def run_cli(
    *args: object,
    cwd: Path | None = None,
    timeout: float = 120,
    memory: int | None = None,
    env: dict[str, str | None] | None = None,
) -> Ended:
    """``python -m phalanx ARGS`` in a fresh process (a cap of ``memory`` bytes if given;
    ``env`` entries override the environment, None removes a variable)."""

    def cap() -> None:
        if memory:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    environ = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    for key, value in (env or {}).items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "phalanx", *map(str, args)],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=cap,
        stdin=subprocess.DEVNULL,
    )
    return Ended(proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - start)


def assert_refused(ended: Ended, *fragments: str, within: float | None = None) -> None:
    """Exit code 2, no traceback, and the last line is the one-line error naming ``fragments``."""
    assert "Traceback" not in ended.stderr, ended.stderr[-3000:]
    assert ended.code == 2, (ended.code, ended.stderr[-3000:])
    line = ended.last_line
    assert line.startswith("phalanx ") and ": error: " in line, ended.stderr[-3000:]
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    if within is not None:
        assert ended.seconds < within, f"took {ended.seconds:.1f} s: {line}"
