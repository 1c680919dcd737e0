"""Batch inference: streaming ``phalanx classify --input/--output`` against the in-memory path.

Rows: ``--rows`` (200,000) rotten_tomatoes sentences (all splits, repeated and shuffled
with ``--seed``), with an ``id`` column, as Parquet and CSV under ``--work``; the small
file holds the first ``--small-rows`` (20,000) of them. Models (``--models``): ``int8``,
the int8 ONNX export (phalanx's default ``int8`` mode, as ``phalanx serve`` uses) of
``--adapter`` (``--export DIR``, or made once under ``--work``), and ``torch``, the
adapter itself. Every measurement is a fresh process, so its peak RSS (``os.wait4``'s
``ru_maxrss``: the largest single process; thread workers share it) is that run's alone,
and its time the whole command:

- (a) streaming ``--workers 1`` rows/s against the in-memory path (the whole file read,
  ``Pipeline.classify`` on every text at once, in one process): ratio, bar >= 0.9x;
- (b) peak RSS of the streaming run (``--workers 2``) at ``--rows`` against
  ``--small-rows``: bar <= 1.2x, with the in-memory path's peak at ``--small-rows`` beside
  it (first model only: it is the long run);
- (c) ``--workers 2`` against ``--workers 1``: bar >= 1.6x on 2 cores;
- (d) ``--engine ray`` (a local Ray instance, ``--workers 2``): rows/s and the ratio
  to the local ``--workers 2`` (``--skip-ray`` leaves it out); CSV in and out beside
  Parquet (``--skip-csv``).

The rates (a, c, d) are measured on the small file: on 2 cores the 200,000-row file
takes ~12 minutes per run, so it streams once, for (b).

Prints the load (``uptime``) before and after, and a markdown table for
benchmarks/RESULTS.md with the command. Measures and prints; asserts nothing.

    python benchmarks/batch_inference.py --adapter runs/demo/adapter
    python benchmarks/batch_inference.py --rows 2000 --small-rows 200 --models int8 --skip-ray
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
_SCRIPT = Path(sys.executable).with_name("phalanx")  # the venv's console script
PHALANX = [str(_SCRIPT)] if _SCRIPT.exists() else ["phalanx"]

IN_MEMORY = """
import sys, pyarrow.parquet as pq
from phalanx.export import Pipeline
texts = pq.read_table(sys.argv[2], columns=["text"]).column("text").to_pylist()
scores = Pipeline.create(model_path=sys.argv[1]).classify(texts)
sys.exit(0 if len(scores) == len(texts) else "in-memory: wrong number of predictions")
"""


def build_rows(work: Path, rows: int, small: int, seed: int) -> dict[str, Path]:
    """Parquet and CSV files of ``rows`` and ``small`` rows (made once per size and seed)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from phalanx.data import load_data

    files = {
        "big": work / f"rows-{rows}-{seed}.parquet",
        "small": work / f"rows-{small}-{seed}.parquet",
        "small_csv": work / f"rows-{small}-{seed}.csv",
    }
    if all(p.exists() for p in files.values()):
        return files
    data = load_data("rotten_tomatoes")
    pool = [*data.train.texts, *data.validation.texts, *data.test.texts]
    texts = pool * (rows // len(pool) + 1)
    random.Random(seed).shuffle(texts)
    table = pa.table({"id": list(range(rows)), "text": texts[:rows]})
    pq.write_table(table, files["big"], row_group_size=10_000)
    pq.write_table(table.slice(0, small), files["small"], row_group_size=10_000)
    pacsv.write_csv(table.slice(0, small), files["small_csv"])
    return files


def int8_export(adapter: Path, work: Path) -> Path:
    """The int8 export of ``adapter`` (exported once under ``work``)."""
    from phalanx.export import export_onnx, is_export, quantize_export

    fp32, int8 = work / "onnx-fp32", work / "onnx-int8"
    if not is_export(int8):
        if not is_export(fp32):
            export_onnx(adapter, fp32, overwrite=True)
        quantize_export(fp32, int8, "int8", overwrite=True)
    return int8


def measure(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(seconds, peak RSS in GiB) of ``cmd`` run to its end in a fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        sys.exit(f"failed ({proc.returncode}): {shlex.join(cmd)}\n{err[-3000:]}")
    return seconds, usage.ru_maxrss / 2**20  # KiB -> GiB


def classify(model: Path, source: Path, out: Path, *extra: str) -> list[str]:
    return [*PHALANX, "classify", str(model), "--input", str(source), "--output", str(out),
            "--keep-columns", "id", "--overwrite", *extra]  # fmt: skip


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def run_model(
    name: str, model: Path, files: dict[str, Path], args, work: Path, flat_memory: bool
) -> list[tuple]:
    """The table rows of one model: (model, measurement, value, ratio, bar, met).

    Rates are measured on the small file (``--small-rows``); the flat-memory check streams
    the big one too (``flat_memory``: the first model only, it is the long run)."""
    big, small, n = files["big"], files["small"], args.small_rows
    out = work / f"out-{name}"
    step = lambda what: print(f"  {name}: {what} ...", flush=True)  # noqa: E731
    step(f"in-memory, {n} rows")
    mem_s, mem_rss = measure([sys.executable, "-c", IN_MEMORY, str(model), str(small)])
    step("streaming --workers 1")
    one_s, _ = measure(classify(model, small, out.with_suffix(".parquet"), "--workers", "1"))
    step("streaming --workers 2")
    two_s, small_rss = measure(
        classify(model, small, out.with_suffix(".parquet"), "--workers", "2")
    )
    rows = [
        (name, f"in-memory Pipeline.classify, {n} rows", f"{n / mem_s:.0f} rows/s", "", "", ""),
        (name, "streaming --workers 1 / in-memory (rows/s)", f"{n / one_s:.0f} rows/s",
         f"{mem_s / one_s:.2f}x", ">= 0.9x", mem_s / one_s >= 0.9),
        (name, "--workers 2 / --workers 1 (rows/s)", f"{n / two_s:.0f} rows/s",
         f"{one_s / two_s:.2f}x", ">= 1.6x", one_s / two_s >= 1.6),
    ]  # fmt: skip
    if not args.skip_csv:
        step("streaming --workers 2, CSV in and out")
        small_csv = files["small_csv"]
        csv_s, _ = measure(classify(model, small_csv, out.with_suffix(".csv"), "--workers", "2"))
        rows.append((name, "streaming CSV -> CSV --workers 2 / Parquet --workers 2",
                     f"{n / csv_s:.0f} rows/s", f"{two_s / csv_s:.2f}x", "", ""))  # fmt: skip
    if not args.skip_ray:
        step("--engine ray --workers 2")
        ray_s, _ = measure(classify(model, small, work / f"out-{name}-ray.parquet",
                                    "--engine", "ray", "--workers", "2"))  # fmt: skip
        rows.append((name, "--engine ray (local, 2 actors) / --workers 2 (rows/s)",
                     f"{n / ray_s:.0f} rows/s", f"{two_s / ray_s:.2f}x", "", ""))  # fmt: skip
    if flat_memory:
        step(f"streaming --workers 2, {args.rows} rows")
        big_s, big_rss = measure(
            classify(model, big, out.with_suffix(".parquet"), "--workers", "2")
        )
        rows += [
            (name, f"streaming --workers 2, {args.rows} rows", f"{args.rows / big_s:.0f} rows/s",
             "", "", ""),
            (name, f"peak RSS streaming {args.rows} / {n} rows", f"{big_rss:.2f} GiB",
             f"{big_rss / small_rss:.2f}x", "<= 1.2x", big_rss / small_rss <= 1.2),
            (name, f"peak RSS in-memory, {n} rows", f"{mem_rss:.2f} GiB",
             f"{mem_rss / small_rss:.2f}x streaming's at {n}", "", ""),
        ]  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--adapter", type=Path, default=Path("runs/demo/adapter"))
    ap.add_argument("--export", type=Path, help="the int8 export (default: made from --adapter)")
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--small-rows", type=int, help="the small file's rows (default: rows/10)")
    ap.add_argument("--models", default="int8,torch", help="comma-separated: int8, torch")
    ap.add_argument("--skip-ray", action="store_true", help="leave out the --engine ray run")
    ap.add_argument("--skip-csv", action="store_true", help="leave out the CSV -> CSV run")
    ap.add_argument(
        "--skip-flat-memory", action="store_true",
        help="leave out the --rows run (peak RSS at --rows vs --small-rows)",
    )  # fmt: skip
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=Path("/tmp/phalanx-batch-bench"))
    args = ap.parse_args()
    args.small_rows = args.small_rows or args.rows // 10
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = set(models) - {"int8", "torch"}
    if unknown or not models:
        ap.error(f"--models: choose among int8, torch (got {args.models!r})")
    if not args.adapter.is_dir() and (args.export is None or "torch" in models):
        ap.error(f"--adapter {args.adapter} is not an adapter folder (make demo writes one)")
    args.work.mkdir(parents=True, exist_ok=True)
    before = load()
    print(f"load before: {before}", flush=True)
    files = build_rows(args.work, args.rows, args.small_rows, args.seed)
    paths = {}
    if "int8" in models:
        paths["int8"] = args.export or int8_export(args.adapter, args.work)
    if "torch" in models:
        paths["torch"] = args.adapter
    table = []
    for i, name in enumerate(models):
        flat = i == 0 and not args.skip_flat_memory
        table += run_model(name, paths[name], files, args, args.work, flat_memory=flat)
    after = load()
    print(f"load after:  {after}\n")
    print(f"command: python benchmarks/{Path(__file__).name} {shlex.join(sys.argv[1:])}")
    print(f"{args.rows} rows from rotten_tomatoes (seed {args.seed}), {os.cpu_count()} cores; "
          f"load before: {before.split('load average:')[-1].strip()}, "
          f"after: {after.split('load average:')[-1].strip()}\n")  # fmt: skip
    print("| model | measurement | value | ratio | bar | met |")
    print("|---|---|---|---|---|---|")
    for name, what, value, ratio, bar, met in table:
        shown = {True: "yes", False: "**no**"}.get(met, "") if bar else ""
        print(f"| {name} | {what} | {value} | {ratio} | {bar} | {shown} |")


if __name__ == "__main__":
    main()
