"""Model workers: how many forwards of one group run at once, and on how many threads each.

A group's batcher runs up to ``workers`` forwards at a time, each on its own thread with
``threads`` intra-op threads (ONNX Runtime: one session per worker; PyTorch: the process's
intra-op pool, ``torch.set_num_threads``), so workers x threads = the cores this process
may use. The default is one worker on all the cores with ONNX Runtime's pool threads not
spinning: under a CPU-bound competitor it served 1.4-3x the requests of two single-thread
workers, and spinning pool threads (ONNX Runtime's default, what the server ran before)
burnt about half the server's CPU share waiting for work (issue 23; benchmarks/RESULTS.md).

Forwards that switch weights shared with other models of the group (SpaRTA deltas, peft
adapters) hold the group's ``SharedBaseLock`` exclusively; forwards that leave the shared
weights as they are (an export, a lone adapter, a mixed-adapter forward) hold it shared.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ..errors import InputError

__all__ = ["SharedBaseLock", "available_cores", "plan_workers", "set_torch_threads"]

DEFAULT_WORKERS = 1
"""Workers per group by default, each on all the cores with non-spinning ONNX Runtime pool
threads: measured best on 2 busy cores against 2 single-thread workers (benchmarks/RESULTS.md)."""


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a container's limit)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def plan_workers(
    workers: int | None, threads: int | None, cores: int | None = None
) -> tuple[int, int]:
    """(workers, intra-op threads per worker): what is given, the rest chosen so that
    workers x threads = cores (one worker on every core by default: the fastest measured).

    >>> plan_workers(None, None, 4), plan_workers(2, None, 4), plan_workers(None, 1, 4)
    ((1, 4), (2, 2), (4, 1))
    """
    for name, value in (("workers", workers), ("threads", threads)):
        bad = not isinstance(value, int) or isinstance(value, bool) or value < 1
        if value is not None and bad:
            raise InputError(f"{name} must be an integer >= 1 (or unset), got {value!r}")
    n = cores or available_cores()
    if workers is None and threads is None:
        workers = DEFAULT_WORKERS
    if workers is None:
        workers = max(1, n // threads)
    if threads is None:
        threads = max(1, n // workers)
    return workers, threads


def set_torch_threads(threads: int) -> None:
    """PyTorch's intra-op threads (process-wide: PyTorch has no per-model setting)."""
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


class SharedBaseLock:
    """A readers-writer lock on a group's shared base, for coroutines of one event loop.

    ``shared()``: forwards that leave the shared weights alone (many at once);
    ``exclusive()``: forwards that switch them (alone; waiting writers go before new readers,
    so a stream of shared forwards cannot starve a switching one).
    """

    def __init__(self) -> None:
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0
        self._changed = asyncio.Condition()

    @property
    def busy(self) -> int:
        """Forwards holding the lock now."""
        return self._readers + int(self._writer)

    @asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: not self._writer and not self._waiting_writers)
            self._readers += 1
        try:
            yield
        finally:
            async with self._changed:
                self._readers -= 1
                self._changed.notify_all()

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        async with self._changed:
            self._waiting_writers += 1
            try:
                await self._changed.wait_for(lambda: not self._writer and not self._readers)
            finally:
                self._waiting_writers -= 1
            self._writer = True
        try:
            yield
        finally:
            async with self._changed:
                self._writer = False
                self._changed.notify_all()
