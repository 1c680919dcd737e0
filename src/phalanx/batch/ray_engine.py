"""The Ray Data engine: the batch job on a Ray cluster (``phalanx classify --engine ray``).

``classify_dataset`` adds the classification to a ``ray.data.Dataset``: ``map_batches``
with a callable class, so every actor of a fixed pool loads the model once
(``BatchPredictor``) and classifies chunks of rows; Ray streams the blocks through the
pool and keeps their order. ``run_file`` is the whole job on a file: it joins a cluster
by address or starts a local one, reads the input with ``read_parquet`` / ``read_csv`` /
``read_json``, and writes the output with ``write_parquet`` / ``write_csv`` /
``write_json``: Ray writes a *folder* of files (one per write task, named so that sorted
names are in row order), each a complete file with its own header.

Row numbers: a Ray batch does not know its offset in the input, so a row that cannot be
classified is named by the input columns kept in the output (``--keep-columns id``)
rather than by number; with ``on_error="skip"`` its ``error`` field holds the reason and
its place in the output is its place in the input. Rows the reader cannot parse (a bad
JSON line, a wrong field count) stop the job with pyarrow's message, which numbers them.

Needs the ``ray`` extra (``pip install 'phalanx[ray]'``).

Example:
    >>> import ray  # doctest: +SKIP
    >>> ds = ray.data.read_parquet("reviews.parquet")  # doctest: +SKIP
    >>> out = classify_dataset(ds, "runs/demo/adapter", keep_columns=["id"])  # doctest: +SKIP
    >>> out.write_parquet("scored/")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import InputError, shown
from .engine import DEFAULT_CHUNK_SIZE
from .predict import RowError
from .report import BatchReport

__all__ = ["FORMATS", "classify_dataset", "run_file"]

log = logging.getLogger(__name__)

FORMATS = {".parquet": "parquet", ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl"}
"""File suffix -> format the Ray engine reads and writes."""
_STRINGS = ("label", "labels", "text", "error")
"""Output fields that hold text; the other prediction fields are numbers."""


def _import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as err:
        raise ImportError(
            "the Ray engine needs Ray Data: pip install 'phalanx[ray]'"
        ) from err  # fmt: skip
    return ray


def _count(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be a whole number >= 1, got {shown(value)}")
    return value


def classify_dataset(
    ds: Any,
    model: str | Path,
    *,
    workers: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    where: str = "the dataset",
    **predictor_options: Any,
) -> Any:
    """``ds`` (a ``ray.data.Dataset``) with the prediction columns: a lazy Dataset.

    ``workers`` actors (default: the cluster's CPUs less one, which Ray's read and write
    tasks need to make progress) each load ``model`` once and classify ``chunk_size``
    rows at a time; every actor reserves ``threads`` CPUs (default 1) and runs that many
    intra-op threads. The rows come out in input order (this sets the current
    ``DataContext``'s ``execution_options.preserve_order``). ``predictor_options`` are
    ``BatchPredictor``'s (``keep_columns``, ``text_column``, ``on_error``, ``flat``, ...);
    ``where`` names the data in a missing-column message. A local ``model`` folder must
    be at the same path on every node (or give a Hub repo id).
    """
    ray = _import_ray()
    chunk_size = _count(chunk_size, "chunk_size (--chunk-size)") or DEFAULT_CHUNK_SIZE
    threads = _count(predictor_options.pop("threads", None), "threads") or 1
    size = _count(workers, "workers (--workers)")
    if size is None:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        size = max(1, (cpus - 1) // threads)
    local = Path(model)
    if local.exists():  # actors run in other folders: give them the absolute path
        model = str(local.resolve())
    # a Dataset keeps a copy of the DataContext it was created with: the current one alone
    # would not reach ``ds`` (read before this call), so set both
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    ds.context.execution_options.preserve_order = True
    out = ds.map_batches(
        _Classify,
        fn_constructor_kwargs={
            "model": str(model), "threads": threads, "where": where,
            "options": predictor_options,
        },
        batch_size=chunk_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=size),
        num_cpus=threads,
    )  # fmt: skip
    out.context.execution_options.preserve_order = True
    return out


class _Classify:
    """One actor's model: pyarrow batches in, output batches (``BatchPredictor`` rows) out."""

    def __init__(self, model: str, threads: int, where: str, options: Mapping[str, Any]):
        from .predict import BatchPredictor

        self.predictor = BatchPredictor(model, threads=threads, **options)
        self.where = where
        self.schema: Any = None
        self.checked = False

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        p = self.predictor
        if not self.checked:  # the first batch: the columns every later batch has too
            p.check_columns(batch.column_names, self.where)
            self.schema = _output_schema(p, batch.schema) if p.flat else None
            self.checked = True
        rows = batch.to_pylist()
        try:
            out = p(rows, first_row=1)
        except RowError as err:  # its number is its place in this batch only
            raise InputError(_unnumbered(self, rows[err.row - 1], str(err), err.row)) from None
        for i, row in enumerate(out):
            if row.get("error"):  # skip: the row's place in the output is its number
                row["error"] = row["error"].removeprefix(f"row {i + 1}: ")
        return pa.Table.from_pylist(out, schema=self.schema)


def _unnumbered(job: _Classify, row: Mapping[str, Any], message: str, number: int) -> str:
    """A failed row's message, naming the row by its kept columns instead of a number."""
    reason = message.removeprefix(f"row {number}: ")
    kept = job.predictor.kept()
    named = ", ".join(f"{c}={shown(row.get(c), 40)}" for c in kept)
    if not named:
        cells = [row.get(c) for c in job.predictor.text_columns]
        named = "text " + " | ".join(shown(c, 60) for c in cells)
    return (
        f"a row of {job.where} ({named}) cannot be classified: {reason}; Ray batches do not "
        "know their row numbers: keep an id column (--keep-columns) to find it, write it "
        "with an error field (--on-error skip), or run --engine local for its number"
    )


def _output_schema(predictor: Any, input_schema: Any) -> Any:
    """The flat output's pyarrow schema: kept columns keep their input type, so that
    every block (and every file) has the same columns and types, even all-null ones."""
    import pyarrow as pa

    names = predictor.output_columns()
    kept = predictor.kept()
    types = {out: input_schema.field(col).type for col, out in zip(kept, names, strict=False)}
    fields = []
    for name in names:
        default = pa.string() if name in _STRINGS else pa.float64()
        fields.append(pa.field(name, types.get(name, default)))
    return pa.schema(fields)


# -- the job on a file -------------------------------------------------------------------
def _check_room(ray: Any, workers: int | None, threads: int) -> None:
    """Refuse an actor pool that takes every CPU of the cluster: Ray's read tasks would
    wait for a free CPU forever (the job hangs rather than fails)."""
    cpus = int(ray.cluster_resources().get("CPU", 0))
    if workers is not None and workers * threads > cpus - 1:
        raise InputError(
            f"--workers {workers} x {threads} threads takes all {cpus} CPUs of the Ray "
            "cluster, leaving none for its read and write tasks (the job would wait forever); "
            f"give --workers {max(1, (cpus - 1) // threads)} or fewer"
        )


def _format(path: Path, option: str) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            f"{option} {path}: the Ray engine reads and writes "
            f"{', '.join(FORMATS)} files; give one of those suffixes (or use --engine local)"
        )
    return fmt


@contextmanager
def _cluster(ray: Any, address: str | None, cpus: int) -> Iterator[bool]:
    """Ray joined at ``address`` or started here (``cpus``); left as found afterwards.
    Yields whether this call started a local instance."""
    started = not ray.is_initialized()
    if started:
        quiet = {"include_dashboard": False, "log_to_driver": False}
        if address:
            ray.init(address=address, logging_level=logging.WARNING, **quiet)
        else:
            ray.init(num_cpus=cpus, logging_level=logging.WARNING, **quiet)
    data_log = logging.getLogger("ray.data")
    level = data_log.level
    data_log.setLevel(logging.WARNING)  # the per-job INFO lines: our report replaces them
    ctx = ray.data.DataContext.get_current()
    original = ctx.raise_original_map_exception
    ctx.raise_original_map_exception = True  # our InputError, not "UDF failed" around it
    try:
        yield started and not address
    finally:
        ctx.raise_original_map_exception = original
        data_log.setLevel(level)
        if started:  # a local instance stops; a cluster is only disconnected from
            ray.shutdown()


def _read(ray: Any, path: Path, fmt: str) -> Any:

    source = str(path.resolve())
    if fmt == "parquet":
        return ray.data.read_parquet(source)
    if fmt == "jsonl":
        return ray.data.read_json(source, lines=True, file_extensions=None)
    return ray.data.read_csv(source, parse_options=_csv_options(fmt), file_extensions=None)


def _csv_options(fmt: str) -> Any:
    """pyarrow's CSV parsing of ``fmt`` (csv or tsv): quoted cells may span lines."""
    import pyarrow.csv as pacsv

    delimiter = "\t" if fmt == "tsv" else ","
    return pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True)


def _write(ray: Any, ds: Any, folder: Path, fmt: str) -> None:
    import pyarrow.csv as pacsv
    from ray.data.datasource import FilenameProvider

    names = FilenameProvider(file_format=fmt)  # <write uuid>_<task index>.<fmt>: row order
    if fmt == "parquet":
        ds.write_parquet(str(folder), filename_provider=names)
    elif fmt == "jsonl":
        ds.write_json(str(folder), filename_provider=names)
    else:
        delimiter = "\t" if fmt == "tsv" else ","
        ds.write_csv(
            str(folder), filename_provider=names,
            arrow_csv_args_fn=lambda: {"write_options": pacsv.WriteOptions(delimiter=delimiter)},
        )  # fmt: skip


def _tally(ray: Any, folder: Path, fmt: str, field: str | None, errors: bool) -> Counter[str]:
    """Rows (``"\\0rows"``), errors (``"\\0errors"``) and labels of the written output,
    counted per block by Ray tasks reading only those columns."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    columns = [c for c in (field or "value", "error" if errors else "") if c]
    source = str(folder)
    if fmt == "parquet":
        ds = ray.data.read_parquet(source, columns=columns)
    elif fmt == "jsonl":
        ds = ray.data.read_json(source, lines=True)
    else:
        ds = ray.data.read_csv(
            source,
            parse_options=_csv_options(fmt),
            convert_options=pacsv.ConvertOptions(
                include_columns=columns, column_types=dict.fromkeys(columns, pa.string())
            ),
        )

    def count(batch: Any) -> dict[str, list[str]]:
        counts: Counter[str] = Counter({"\0rows": batch.num_rows})
        if errors:
            counts["\0errors"] = batch.num_rows - batch.column("error").null_count
        if field:
            for cell in batch.column(field).to_pylist():
                if isinstance(cell, str) and field == "labels":  # flat: joined by "|"
                    counts.update(cell.split("|") if cell else [])
                elif isinstance(cell, list):
                    counts.update(map(str, cell))
                elif cell is not None:
                    counts[str(cell)] += 1
        return {"counts": [json.dumps(counts)]}

    total: Counter[str] = Counter()
    for row in ds.map_batches(count, batch_format="pyarrow", batch_size=None).iter_rows():
        total.update(json.loads(row["counts"]))
    return total


def _replace(partial: Path, output: Path, fmt: str) -> None:
    """Move the finished folder to ``output`` (--overwrite: a file, or an earlier output
    folder of files of this format, goes first)."""
    if output.is_dir():
        others = [p.name for p in output.iterdir() if p.suffix != f".{fmt}"]
        if others:
            raise InputError(
                f"--overwrite would delete {output}, which holds more than {fmt} files "
                f"({', '.join(others[:3])}); remove it yourself or choose another --output"
            )
        shutil.rmtree(output)
    elif output.exists():
        output.unlink()
    partial.rename(output)


def _user_error(err: BaseException, ray: Any) -> BaseException | None:
    """The InputError (or pyarrow's parse error) inside the exceptions Ray wraps it in."""
    import pyarrow as pa

    seen: set[int] = set()
    todo = [err]
    while todo:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, (InputError, pa.ArrowInvalid)) and not isinstance(
            e, ray.exceptions.RayError
        ):  # Ray appends lines of its own (retries) to the message: keep ours, one line
            return InputError((str(e).strip().splitlines() or [type(e).__name__])[0])
        todo += [c for c in (getattr(e, "cause", None), e.__cause__, e.__context__) if c]
    return None


def run_file(
    model: str | Path,
    input: str | Path,
    output: str | Path,
    *,
    workers: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    address: str | None = None,
    overwrite: bool = False,
    predictor_options: dict[str, Any] | None = None,
) -> BatchReport:
    """Classify ``input`` (csv, tsv, jsonl, parquet) into the folder ``output`` on Ray.

    ``address``: an existing cluster (``ray://host:10001``, ``auto``); otherwise a local
    instance with ``workers`` (default: this machine's cores) CPUs for the actors plus
    one for reading and writing, shut down afterwards. Paths must be visible to every
    node of the cluster. The output is a folder of ``.<format>`` files, in row order when
    sorted by name, written under a temporary name and renamed when complete; an
    existing ``output`` needs ``overwrite``. The report counts rows, errors and labels.
    """
    ray = _import_ray()
    source, target = Path(input), Path(output)
    in_fmt, out_fmt = _format(source, "--input"), _format(target, "--output")
    if not source.is_file():
        raise InputError(f"--input {source} is not a file")
    if target.exists() and not overwrite:
        raise InputError(f"--output {target} exists; pass --overwrite to replace it")
    options = dict(predictor_options or {})
    options.setdefault("flat", out_fmt != "jsonl")
    threads = _count(options.get("threads"), "threads") or 1
    workers = _count(workers, "workers (--workers)")
    cpus = (workers or os.cpu_count() or 1) * threads + 1  # + the read/write tasks' CPU
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    with _cluster(ray, address, cpus) as local:
        if local and workers is None:
            workers = os.cpu_count() or 1
        _check_room(ray, workers, threads)
        start = time.perf_counter()
        try:
            ds = _read(ray, source, in_fmt)
            out = classify_dataset(
                ds, model, workers=workers, chunk_size=chunk_size, where=str(source), **options
            )
            _write(ray, out, partial, out_fmt)
            partial.mkdir(exist_ok=True)  # no rows: Ray writes no file, not even the folder
            field = _label_field(_written_columns(partial, out_fmt))
            counts = _tally(ray, partial, out_fmt, field, options.get("on_error") == "skip")
            _replace(partial, target, out_fmt)
        except Exception as err:
            found = _user_error(err, ray)
            if found is None or (isinstance(err, InputError) and str(found) == str(err)):
                raise
            raise found from None
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        seconds = time.perf_counter() - start
    rows, errors = counts.pop("\0rows", 0), counts.pop("\0errors", 0)
    files = len(list(target.glob(f"*.{out_fmt}")))
    report = RayReport(target, rows=rows, errors=errors, seconds=seconds, engine="ray")
    report.label_counts = Counter({k: v for k, v in counts.items() if v})
    report.files = files
    return report


class RayReport(BatchReport):
    """``BatchReport`` of a Ray job, whose output is a folder of ``files`` files."""

    files: int = 0

    def summary(self) -> str:
        """The final line, saying the output is a folder."""
        head, _, tail = super().summary().partition(" in ")
        files = f"{self.files} file{'' if self.files == 1 else 's'}"
        return f"{head} (a folder of {files}, in row order by name) in {tail}"


def _written_columns(folder: Path, fmt: str) -> list[str]:
    """The columns of the first file Ray wrote (all have the same); [] when none."""
    files = sorted(folder.glob(f"*.{fmt}"))
    if not files:
        return []
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(files[0]).names)
    with files[0].open(encoding="utf-8", newline="") as f:
        line = f.readline()
    if fmt == "jsonl":
        return list(json.loads(line)) if line.strip() else []
    import csv

    return next(csv.reader([line], delimiter="\t" if fmt == "tsv" else ","), [])


def _label_field(columns: Sequence[str]) -> str | None:
    """The output column that holds the predicted label(s); None for regression."""
    for name in ("label", "labels"):
        if name in columns:
            return name
    return None
