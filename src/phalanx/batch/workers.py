"""Workers: N model copies classifying chunks side by side, results taken in input order.

``threads`` runs N ``BatchPredictor`` copies in one process (ONNX Runtime and PyTorch
release the GIL while they compute); ``processes`` runs one copy per spawned process
(the model loaded once in each), which also spreads the Python work around the model
(tokenizer calls, building records) over the cores. Each copy gets ``threads_per_worker``
intra-op threads so that workers x threads = cores. ``inline`` (one worker) runs in the
calling thread.
"""

from __future__ import annotations

import os
import queue
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from ..errors import InputError
from .predict import BatchPredictor

__all__ = [
    "DEFAULT_EXECUTOR",
    "EXECUTORS",
    "Workers",
    "available_cores",
    "start_workers",
    "threads_per_worker",
]

EXECUTORS = ("threads", "processes")
DEFAULT_EXECUTOR = "threads"
"""Chosen by measurement on the real MiniLM (int8 export and PyTorch adapter, 2 cores, 2
workers x 1 thread against 1 worker x 2 threads): threads scaled as well as processes or
better (no rows pickled between processes, no extra model load per process), and need no
``if __name__ == "__main__"`` guard in the calling script."""


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, else ``os.cpu_count``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """Intra-op threads per worker so that workers x threads fills the cores (at least 1)."""
    return max(1, (cores or available_cores()) // workers)


class Workers:
    """Submits chunks to the workers; ``submit`` returns a future of the output rows."""

    def __init__(self, pool: Executor | None, run: Any, workers: int, kind: str):
        self.pool, self._run, self.workers, self.kind = pool, run, workers, kind

    def submit(
        self, rows: Sequence[Any], first_row: int, errors: Mapping[int, str]
    ) -> Future[list[dict[str, Any]]]:
        if self.pool is None:
            done: Future[list[dict[str, Any]]] = Future()
            try:
                done.set_result(self._run(rows, first_row, errors))
            except BaseException as err:  # handed to whoever takes the result
                done.set_exception(err)
            return done
        return self.pool.submit(self._run, rows, first_row, errors)

    def close(self, cancel: bool = False) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=cancel)


class _Copies:
    """A thread takes a free model copy, classifies its chunk, and gives the copy back."""

    def __init__(self, copies: list[BatchPredictor]):
        self.free: queue.SimpleQueue[BatchPredictor] = queue.SimpleQueue()
        for copy in copies:
            self.free.put(copy)

    def __call__(self, rows: Any, first_row: int, errors: Any) -> list[dict[str, Any]]:
        predictor = self.free.get()
        try:
            return predictor(rows, first_row, errors)
        finally:
            self.free.put(predictor)


_PROCESS_PREDICTOR: BatchPredictor | None = None


def _process_init(model: str, options: dict[str, Any], columns: list[str]) -> None:
    """Load the model once in a worker process."""
    global _PROCESS_PREDICTOR
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _PROCESS_PREDICTOR = BatchPredictor(model, **options)
    _PROCESS_PREDICTOR.check_columns(columns)


def _process_run(rows: Any, first_row: int, errors: Any) -> list[dict[str, Any]]:
    if _PROCESS_PREDICTOR is None:  # pragma: no cover - the initializer always ran
        raise RuntimeError("the worker process has no model")
    return _PROCESS_PREDICTOR(rows, first_row, errors)


def start_workers(
    predictor: BatchPredictor,
    *,
    workers: int,
    executor: str,
    model: Any,
    options: Mapping[str, Any],
    columns: Sequence[str],
    threads: int,
) -> Workers:
    """``workers`` model copies: ``predictor`` (already loaded) and, for threads, more
    loaded like it; for processes, one per process (``model`` must then be a path or id)."""
    if executor not in EXECUTORS:
        raise InputError(f"executor {executor!r} is unknown; choose one of {', '.join(EXECUTORS)}")
    if workers == 1:
        return Workers(None, predictor, 1, "inline")
    opts = {**options, "threads": threads}
    if executor == "processes":
        if model is None or not isinstance(model, (str, os.PathLike)):
            raise InputError(
                "worker processes load the model themselves: give its folder or Hub id, not a "
                "loaded classifier, or use executor='threads'"
            )
        import multiprocessing

        pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),  # no fork of a threaded process
            initializer=_process_init,
            initargs=(str(model), opts, list(columns)),
        )
        return Workers(pool, _process_run, workers, "processes")
    copies = [predictor]
    for _ in range(workers - 1):
        if model is None or not isinstance(model, (str, os.PathLike)):
            copies.append(predictor)  # a loaded classifier: shared (its inference is re-entrant)
            continue
        copy = BatchPredictor(model, **opts)
        copy.check_columns(columns)
        copies.append(copy)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="phalanx-batch")
    return Workers(pool, _Copies(copies), workers, "threads")
