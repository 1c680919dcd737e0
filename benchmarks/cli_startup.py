"""Start-up time of the ``phalanx`` command: median wall time of fresh processes.

Each command runs ``--runs`` times (default 5) in a new process, side by side with
``python -c pass`` (the interpreter's own start-up); the median is printed per command.

    python benchmarks/cli_startup.py
    python benchmarks/cli_startup.py --runs 11
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = (["--help"], ["--version"], ["train", "--help"])


def phalanx_command() -> list[str]:
    """The console script of this interpreter's environment (else ``python -m phalanx``)."""
    script = Path(sys.executable).parent / "phalanx"
    if script.is_file():
        return [str(script)]
    found = shutil.which("phalanx")
    return [found] if found else [sys.executable, "-m", "phalanx"]


def wall_times(argv: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="processes per command (5)")
    runs = parser.parse_args().runs
    rows = [("python -c pass", [sys.executable, "-c", "pass"])]
    rows += [("phalanx " + " ".join(args), phalanx_command() + args) for args in COMMANDS]
    print(f"median of {runs} runs, wall time of a fresh process")
    print(f"{'command':<24} {'median s':>9} {'min s':>7} {'max s':>7}")
    for name, argv in rows:
        times = wall_times(argv, runs)
        median = statistics.median(times)
        print(f"{name:<24} {median:>9.3f} {min(times):>7.3f} {max(times):>7.3f}")


if __name__ == "__main__":
    main()
