"""The local engine: a data file streamed through N model copies into an output file.

``classify_file`` reads the input by chunks (``readers``), classifies up to
``2 x workers`` chunks at a time (``workers``), writes each finished chunk in input order
(``writers``), records it in the resume sidecar (``resume``) and reports progress
(``progress``). Memory holds the chunks in flight, whatever the input's size.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import InputError, shown
from .predict import BatchPredictor, RowError
from .progress import Progress
from .readers import Chunk, Reader, open_reader, prefix_digest
from .report import BatchReport
from .resume import Sidecar, fingerprint, model_fingerprint
from .workers import DEFAULT_EXECUTOR, Workers, available_cores, start_workers, threads_per_worker
from .writers import FLAT_SUFFIXES, OUTPUT_SUFFIXES, open_writer, partial_paths

__all__ = ["DEFAULT_CHUNK_SIZE", "classify_file", "stream_predictions"]

log = logging.getLogger("phalanx.batch")

DEFAULT_CHUNK_SIZE = 1024
"""Rows per chunk: large enough that per-chunk costs (a sidecar write, an fsync, handing
rows to a worker) vanish, small enough that an interrupted run loses seconds of work."""


def classify_file(
    model: Any,
    input: str | Path,
    output: str | Path,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    workers: int | None = None,
    executor: str = DEFAULT_EXECUTOR,
    keep_columns: list[str] | None = None,
    keep_all_columns: bool = False,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    on_error: str = "fail",
    resume: bool = False,
    overwrite: bool = False,
    progress: bool | str | None = None,
    batch_size: int | None = None,
    max_length: int | None = None,
    threads: int | None = None,
    revision: str | None = None,
    problem_type: str | None = None,
) -> BatchReport:
    """Classify every row of ``input`` (csv, tsv, jsonl, parquet; json read whole) into
    ``output`` (csv, tsv, jsonl, json, parquet), streamed by chunks of ``chunk_size`` rows.

    ``model``: an adapter, run or export folder, a Hub repo id (``revision``), or a loaded
    classifier. ``workers`` copies of it (default: one per core) run with ``threads``
    intra-op threads each (default: cores / workers), as ``executor`` (``processes`` or
    ``threads``). Output rows hold the kept input columns (``keep_columns`` or
    ``keep_all_columns``), ``text`` and the prediction record. ``on_error="fail"`` stops
    at the first bad row (``RowError``, naming its row and line; the chunks before it stay
    for ``resume``); ``"skip"`` gives it an ``error`` field. ``output`` appears only when
    complete; an existing one is replaced only with ``overwrite``; ``resume`` carries on
    an interrupted run. ``progress``: None (a bar on a terminal, else log lines), True,
    False or ``"log"``. ``problem_type``: refuse a model of another type before any work.
    """
    started = time.perf_counter()
    chunk_size = _positive("chunk_size", chunk_size)
    workers = available_cores() if workers is None else _positive("workers", workers)
    threads = threads_per_worker(workers) if threads is None else _positive("threads", threads)
    source, out = Path(input).expanduser(), Path(output).expanduser()
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise InputError(f"--output {str(out)!r}: use a {', '.join(OUTPUT_SUFFIXES)} file name")
    if source.exists() and out.exists() and source.resolve() == out.resolve():
        raise InputError(f"--output {out} is the input file; give another file name")
    sidecar = Sidecar(out)
    _check_output(out, sidecar, resume=resume, overwrite=overwrite)
    reader = open_reader(source, chunk_size)
    options = dict(
        text_column=text_column, text_pair_column=text_pair_column, keep_columns=keep_columns,
        keep_all_columns=keep_all_columns, on_error=on_error,
        flat=out.suffix.lower() in FLAT_SUFFIXES, batch_size=batch_size, max_length=max_length,
        revision=revision,
    )  # fmt: skip
    loaded = model is not None and not isinstance(model, (str, Path))
    predictor = _predictor(model, loaded, threads, problem_type, options)
    predictor.check_columns(reader.columns, str(source))
    columns = predictor.output_columns()
    model_id = getattr(model, "adapter", None) if loaded else model
    now = fingerprint(source, model_fingerprint(model_id), _job_options(predictor, reader, out))
    state = _resume_state(sidecar, now, reader, out) if resume and sidecar.exists() else None
    if not resume or state is None:
        _clear(out, sidecar)
    writer = open_writer(
        out, columns, kept_types=_kept_types(predictor, reader), state=state and state["output"]
    )
    report = BatchReport(out, engine="local")
    if state:
        report.rows = report.resumed_rows = int(state["rows"])
        report.errors = int(state.get("errors", 0))
        report.label_counts.update(state.get("label_counts", {}))
        log.info("resuming %s after %d rows (%d chunks)", out, report.rows, state["chunks"])
    chunks, several = _peek(
        reader.chunks(
            _read_columns(predictor), start_row=report.rows,
            offset=state and state["input"]["offset"],
        )
    )  # fmt: skip
    pool = start_workers(
        predictor, workers=workers if several else 1, executor=executor,
        model=None if loaded else model, options=options, columns=reader.columns,
        threads=threads,
    )  # fmt: skip
    bar = Progress(
        progress, total_rows=reader.total_rows,
        total_bytes=reader.size if reader.seekable else None, done=report.rows,
    )  # fmt: skip
    try:
        for chunk, rows in _in_order(chunks, pool):
            writer.write(rows)
            _count(report, rows, predictor)
            sidecar.save(_state(now, chunk, writer, report))
            bar.update(len(rows), chunk.bytes_done)
    except RowError as err:
        pool.close(cancel=True)
        writer.close()
        raise RowError(err.row, _stopped(str(err), report.rows, out, reader)) from None
    except KeyboardInterrupt:
        pool.close(cancel=True)
        writer.close()
        raise KeyboardInterrupt(
            f"interrupted; the {report.rows} rows done are kept: carry on with --resume "
            "(resume=True)"
        ) from None
    except BaseException:
        pool.close(cancel=True)
        writer.close()
        raise
    finally:
        bar.close()
    pool.close()
    writer.commit()
    sidecar.remove()
    report.seconds = time.perf_counter() - started
    return report


def stream_predictions(
    model: Any,
    input: str | Path,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    workers: int | None = None,
    executor: str = DEFAULT_EXECUTOR,
    threads: int | None = None,
    problem_type: str | None = None,
    **options: Any,
) -> tuple[BatchPredictor, Iterator[list[dict[str, Any]]]]:
    """The predictor (its labels, problem, columns) and the output rows of each chunk of
    ``input``, in order, without an output file (``phalanx classify --input F`` prints
    them); ``options`` are ``BatchPredictor``'s (nested records unless ``flat=True``)."""
    chunk_size = _positive("chunk_size", chunk_size)
    workers = available_cores() if workers is None else _positive("workers", workers)
    threads = threads_per_worker(workers) if threads is None else _positive("threads", threads)
    source = Path(input).expanduser()
    reader = open_reader(source, chunk_size)
    options.setdefault("flat", False)
    loaded = model is not None and not isinstance(model, (str, Path))
    predictor = _predictor(model, loaded, threads, problem_type, options)
    predictor.check_columns(reader.columns, str(source))
    chunks, several = _peek(reader.chunks(_read_columns(predictor)))
    pool = start_workers(
        predictor, workers=workers if several else 1, executor=executor,
        model=None if loaded else model, options=options, columns=reader.columns,
        threads=threads,
    )  # fmt: skip

    def rows() -> Iterator[list[dict[str, Any]]]:
        try:
            for _, out in _in_order(chunks, pool):
                yield out
        finally:
            pool.close(cancel=True)

    return predictor, rows()


def _predictor(
    model: Any, loaded: bool, threads: int, problem_type: str | None, options: dict[str, Any]
) -> BatchPredictor:
    """The main model copy, its problem type checked."""
    if loaded:
        predictor = BatchPredictor(classifier=model, **options)
    else:
        predictor = BatchPredictor(model, threads=threads, **options)
    where = str(getattr(predictor.clf, "adapter", None) or model)
    predictor.problem.check_matches(problem_type, where)
    return predictor


def _peek(chunks: Iterator[Chunk]) -> tuple[Iterator[Chunk], bool]:
    """``chunks`` as before, and whether there are two or more (else one worker does)."""
    import itertools

    head = list(itertools.islice(chunks, 2))
    return itertools.chain(head, chunks), len(head) > 1


def _in_order(chunks: Iterator[Chunk], pool: Workers) -> Iterator[tuple[Chunk, list[dict]]]:
    """Each chunk with its output rows, in input order, with up to ``2 x workers`` chunks
    in flight (the next ones are read while the current ones are classified)."""
    window: deque[tuple[Chunk, Any]] = deque()
    limit = 2 * pool.workers if pool.pool is not None else 1
    for chunk in chunks:
        window.append((chunk, pool.submit(chunk.rows, chunk.first_row, chunk.errors)))
        if len(window) >= limit:
            done, future = window.popleft()
            yield done, future.result()
    while window:
        done, future = window.popleft()
        yield done, future.result()


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        flag = "--" + name.replace("_", "-")
        raise InputError(f"{name} ({flag}) must be a whole number >= 1, got {shown(value)}")
    return value


def _check_output(out: Path, sidecar: Sidecar, *, resume: bool, overwrite: bool) -> None:
    """Refuse, before any work, to replace an output or to drop an interrupted run."""
    if resume and overwrite:
        raise InputError("give --resume (carry on) or --overwrite (start over), not both")
    if out.is_dir():
        raise InputError(f"--output {out} is a folder; give a file name")
    if out.exists() and not overwrite:
        raise InputError(
            f"--output {out} exists; pass --overwrite (overwrite=True) to replace it"
            + (" (it is complete: there is nothing to resume)" if resume else "")
        )
    if sidecar.exists() and not (resume or overwrite):
        raise InputError(
            f"an interrupted run of {out} left {sidecar.path.name}; carry on with --resume, "
            "or start over with --overwrite"
        )


def _clear(out: Path, sidecar: Sidecar) -> None:
    """Drop what an earlier run left (a fresh start)."""
    import shutil

    sidecar.remove()
    partial, parts = partial_paths(out)
    partial.unlink(missing_ok=True)
    shutil.rmtree(parts, ignore_errors=True)


def _job_options(predictor: BatchPredictor, reader: Reader, out: Path) -> dict[str, Any]:
    """The options that shape the output: a resumed run must share them."""
    clf = predictor.clf
    return {
        "chunk_size": reader.chunk_size,
        "text_columns": predictor.text_columns,
        "output_columns": predictor.output_columns(),
        "output_format": out.suffix.lower(),
        "on_error": predictor.on_error,
        "batch_size": getattr(clf, "batch_size", None),
        "max_length": getattr(clf, "max_length", None),
    }


def _resume_state(
    sidecar: Sidecar, now: dict[str, Any], reader: Reader, out: Path
) -> dict[str, Any]:
    """The interrupted run's state, checked against this one (input bytes read included)."""
    state = sidecar.load()
    sidecar.check(state, now)
    partial, parts = partial_paths(out)
    if not (partial.exists() or parts.is_dir()):
        raise InputError(
            f"cannot resume: the partial output {partial.name} is gone; start over with --overwrite"
        )
    where = state["input"]
    if where.get("offset") is not None:
        digest = prefix_digest(reader.path, int(where["offset"]))
        if digest != where.get("digest"):
            raise InputError(
                f"cannot resume: the first {state['rows']} rows of {reader.path} (its first "
                f"{where['offset']} bytes) changed since the interrupted run; start over with "
                "--overwrite"
            )
    return state


def _state(now: dict[str, Any], chunk: Chunk, writer: Any, report: BatchReport) -> dict:
    return {
        "fingerprint": now,
        "chunks": chunk.index + 1,
        "rows": report.rows,
        "errors": report.errors,
        "label_counts": dict(report.label_counts),
        "input": {"offset": chunk.offset, "digest": chunk.digest},
        "output": writer.state(),
    }


def _count(report: BatchReport, rows: list[dict[str, Any]], predictor: BatchPredictor) -> None:
    report.rows += len(rows)
    kind = predictor.problem.type
    for row in rows:
        if row.get("error") is not None:
            report.errors += 1
        elif kind == "single_label":
            report.label_counts[str(row["label"])] += 1
        elif kind == "multi_label":
            names = row["labels"]
            names = names.split("|") if isinstance(names, str) else names
            report.label_counts.update(n for n in names if n)


def _kept_types(predictor: BatchPredictor, reader: Reader) -> dict[str, Any]:
    """Output name -> Parquet type of each kept column of a Parquet input."""
    if reader.arrow_schema is None:
        return {}
    schema = reader.arrow_schema
    return {name: schema.field(col).type for col, name in predictor._names().items()}


def _read_columns(predictor: BatchPredictor) -> list[str]:
    """The input columns a chunk needs (Parquet reads no others)."""
    return list(dict.fromkeys([*predictor.kept(), *predictor.text_columns]))


def _stopped(message: str, done: int, out: Path, reader: Reader) -> str:
    """A ``RowError`` message with what is kept and how to go on."""
    how = (
        "fix it and rerun with --resume (resume=True)"
        if reader.seekable
        else "fix it and rerun (--resume needs the input unchanged)"
    )
    return (
        f"{message}; stopped there, the {done} rows before its chunk are kept for "
        f"{out.name}: {how}, or pass --on-error skip to write bad rows with an error field"
    )
