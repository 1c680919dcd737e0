"""``compare(config)``: train each method in its own child process, one table of the results.

Every method trains with the same data, split, seed and budget (``CompareConfig``), one at a
time, each in a fresh ``python -m phalanx.compare.worker`` process: its peak memory (the
child's maximum RSS) is its own, and a method that crashes fails its row while the others
still run. The comparison folder ends up holding::

    compare.csv  compare.json  compare.md    the table (rewritten after every method)
    <method>/                                each method's run folder (adapter/, metrics.json)
    <method>.log                             what its child printed (errors with traceback)
"""

from __future__ import annotations

import codecs
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast

from ..errors import InputError
from ..folder import check_apart
from ..registry import get_method
from .config import CompareConfig
from .result import HEADLINE_METRICS, CompareResult, CompareRow
from .table import TABLE_FILES, write_tables
from .worker import reason

__all__ = ["CompareResult", "CompareRow", "compare", "metric"]

log = logging.getLogger("phalanx.compare")

#: a child's in-place progress updates (lines ending in a carriage return) are passed on
#: at most this often; whole lines always are
PROGRESS_EVERY_S = 10.0
# terminal control sequences (a progress bar moving the cursor), dropped from the lines
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# how a metric may be spelled in the metrics of a run (compared without case or punctuation)
_METRIC_NAMES = {"accuracy": ("accuracy", "acc"), "macro_f1": ("macrof1", "f1macro")}


def compare(config: CompareConfig, *, verbose: bool = False) -> CompareResult:
    """Train every method of ``config`` in turn, each in a fresh child process; write and
    return the table. A method that fails has its row with the reason; the others still run.

    Progress (which method runs, n of N, the child's own lines) goes to the
    ``phalanx.compare`` logger. Mistakes common to every method (the data, the model, a
    non-empty output folder) raise ``InputError`` before any training.

    Example:
        >>> result = compare(CompareConfig(dataset="reviews.csv", text_column="review",
        ...     label_column="stars", methods=["sparta,lora"]))  # doctest: +SKIP
        >>> [(r.method, r.value("test", "accuracy")) for r in result.rows]  # doctest: +SKIP
        [('sparta', 0.81), ('lora', 0.8)]
    """
    output = Path(str(config.output)).expanduser()
    total = len(config.methods)
    log.info("comparing %d methods (%s); output %s", total, ", ".join(config.methods), output)
    _check_output(config, output)
    result = CompareResult(config, [], output, data=_check_shared(config))
    output.mkdir(parents=True, exist_ok=True)
    for i, method in enumerate(config.methods, 1):
        tag = f"[{i}/{total} {method}]"
        log.info("%s training (log: %s)", tag, output / f"{method}.log")
        try:
            row = _run_method(config, method, output, tag, verbose, result.metrics)
        except KeyboardInterrupt:
            result.rows.append(CompareRow(method, "failed", error="interrupted (Ctrl-C)"))
            result.files = write_tables(result, output)
            raise KeyboardInterrupt(
                f"interrupted while training {method}; the table of the finished methods is "
                f"in {result.files['md']}"
            ) from None
        result.rows.append(row)
        result.files = write_tables(result, output)
        if row.ok:
            figures = ", ".join(f"{m} {_num(row.value('test', m), m)}" for m in result.metrics)
            log.info("%s done in %.1f s: test %s", tag, row.train_seconds or 0.0, figures)
        else:
            log.error("%s failed: %s", tag, row.error)
    return result


# ----------------------------------------------------------------------------- checks


def _check_output(config: CompareConfig, output: Path) -> None:
    """Refuse a non-empty folder without overwrite; with it, remove the tables and logs
    (each method's run replaces its own folder's results)."""
    check_apart(output, {"model": config.model, "dataset": config.dataset})
    if output.exists() and not output.is_dir():
        raise FileExistsError(
            f"output {str(output)!r} exists and is not a folder; choose another --output"
        )
    if not (output.is_dir() and any(output.iterdir())):
        return
    if not config.overwrite:
        raise FileExistsError(
            f"output folder {str(output)!r} exists and is not empty; pass --overwrite to replace "
            "its results, or choose another --output"
        )
    for name in (*TABLE_FILES.values(), *(f"{m}.log" for m in config.methods)):
        if (output / name).is_file():
            (output / name).unlink()


def _check_shared(config: CompareConfig) -> dict[str, Any]:
    """Load the model name and the data once, so a mistake they share (a column, a file,
    one class) is one error now instead of one failed row per method."""
    from ..assets import resolve_model
    from ..training.setup import load_splits

    base = config.shared_config()
    resolve_model(base.model)
    splits = load_splits(base)
    sizes = {s: len(getattr(splits, s)) for s in ("train", "validation", "test")}
    if not sizes["validation"]:
        raise InputError(
            f"dataset {config.dataset!r} has no validation examples; give a validation split or "
            "a validation_fraction > 0 (best-epoch selection needs one)"
        )
    problem_type = getattr(splits, "problem_type", None) or "single_label"
    return {"sizes": sizes, "labels": list(splits.label_names), "problem_type": problem_type}


# ----------------------------------------------------------------------------- one method


def _run_method(
    config: CompareConfig,
    method: str,
    output: Path,
    tag: str,
    verbose: bool,
    metrics: tuple[str, ...] = HEADLINE_METRICS["single_label"],
) -> CompareRow:
    """Train ``method`` in a child process; its row (failed, with the reason, if it did)
    holding the headline ``metrics`` of its validation and test results."""
    lr = config.lr if config.lr is not None else get_method(method).default_lr
    try:
        train_config = config.train_config(method)
    except ValueError as err:  # the method refuses its options: no child needed
        return CompareRow(method, "failed", lr=lr, error=reason(err))
    run_folder = str(output / method)
    log_file = output / f"{method}.log"
    with tempfile.TemporaryDirectory(prefix="phalanx-compare-") as tmp:
        spec, result_file = Path(tmp) / "spec.json", Path(tmp) / "result.json"
        spec.write_text(json.dumps({"config": train_config.to_dict(), "verbose": verbose}))
        with log_file.open("w", encoding="utf-8") as log_stream:
            code, peak, last_line = _child(spec, result_file, log_stream, tag)
            out = _read_result(result_file)
            if out.get("traceback"):
                log_stream.write(out["traceback"])
    if code == 0 and out and "error" not in out:
        return _ok_row(method, out, peak, run_folder, metrics)
    why = out.get("error") or _exit_reason(code, last_line)
    return CompareRow(
        method, "failed", lr=lr, peak_rss_bytes=peak, run_folder=run_folder, error=why
    )


def _read_result(path: Path) -> dict[str, Any]:
    """What the child wrote ({} when it wrote nothing whole: it was killed)."""
    try:
        out = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return out if isinstance(out, dict) else {}


def _ok_row(
    method: str,
    out: dict[str, Any],
    peak: int | None,
    run_folder: str,
    metrics: tuple[str, ...] = HEADLINE_METRICS["single_label"],
) -> CompareRow:
    val, test = out.get("validation", {}), out.get("test", {})
    return CompareRow(
        method,
        lr=out["lr"],
        trainable_parameters=out["trainable_parameters"],
        adapter_bytes=out["adapter_bytes"],
        validation={m: metric(val, m) for m in metrics},
        test={m: metric(test, m) for m in metrics},
        train_seconds=out["train_seconds"],
        peak_rss_bytes=peak,
        steps=out.get("steps"),
        run_folder=run_folder,
    )


def _exit_reason(code: int, last_line: str) -> str:
    """Why a child that wrote no result ended: its signal, else its last line."""
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        hint = " (out of memory?)" if -code == getattr(signal, "SIGKILL", 9) else ""
        return f"the training process was killed by {name}{hint}"
    if code == 0:
        return "the training process ended without a result"
    return last_line or f"the training process exited with code {code}"


def metric(metrics: dict[str, Any], name: str) -> float | None:
    """``metrics[name]`` however the run spells it (``macro-F1``, ``eval_macro_f1``, ...);
    ``name`` is a metric key (``accuracy``, ``micro_f1``, ``spearman``, ...). None when the
    run has no such number."""
    wanted = _METRIC_NAMES.get(name, (_plain(name),))
    for key, value in metrics.items():
        key = _plain(str(key).removeprefix("eval_").removeprefix("test_"))
        if key in wanted and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def _plain(key: str) -> str:
    return "".join(c for c in key.lower() if c.isalnum())


# ----------------------------------------------------------------------------- the child


def _child(
    spec: Path, result_file: Path, log_stream: IO[str], tag: str
) -> tuple[int, int | None, str]:
    """Run the worker; pass its output on (log file, logger); (exit code, peak RSS bytes or
    None, its last line)."""
    cmd = [sys.executable, "-m", "phalanx.compare.worker", str(spec), str(result_file)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    last_line, last_progress = "", 0.0
    with subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
    ) as proc:
        try:
            for raw, in_place in _segments(cast(IO[bytes], proc.stdout)):
                text = _ANSI.sub("", raw).rstrip()
                if not text.strip():
                    continue
                if in_place:
                    if time.monotonic() - last_progress < PROGRESS_EVERY_S:
                        continue
                    last_progress = time.monotonic()
                else:
                    last_line = text.strip()
                log_stream.write(text + "\n")
                log_stream.flush()
                log.info("%s %s", tag, text)
        except KeyboardInterrupt:  # the child got the same Ctrl-C: it ends after a checkpoint
            log_stream.write(_stop(proc))
            raise
        code, peak = _wait(proc)
    return code, peak, last_line


def _segments(stream: IO[bytes]) -> Iterator[tuple[str, bool]]:
    """(text, in place) for each line of ``stream``; in place: it ended in a carriage
    return (a progress bar redrawing itself)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    read = getattr(stream, "read1", stream.read)
    while chunk := read(65536):
        pending += decoder.decode(chunk)
        end = 0
        for match in re.finditer(r"([^\r\n]*)(\r\n|\n|\r)", pending):
            yield match.group(1), match.group(2) == "\r"
            end = match.end()
        pending = pending[end:]
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending, False


def _wait(proc: subprocess.Popen) -> tuple[int, int | None]:
    """Reap ``proc``: its exit code and peak resident memory in bytes (None where the
    platform cannot tell)."""
    if not hasattr(os, "wait4"):
        return proc.wait(), None
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, else KiB
    return proc.returncode, usage.ru_maxrss * scale


def _stop(proc: subprocess.Popen, grace: float = 60.0) -> str:
    """Let an interrupted child finish (killed after ``grace`` seconds); what it printed."""
    try:
        rest, _ = proc.communicate(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        rest, _ = proc.communicate()
    return (rest or b"").decode("utf-8", errors="replace")


def _num(x: float | None, name: str = "") -> str:
    """A metric for the progress log: accuracy in percent, the rest as numbers."""
    if x is None:
        return "-"
    return f"{100 * x:.1f}%" if name == "accuracy" else f"{x:.4g}"
