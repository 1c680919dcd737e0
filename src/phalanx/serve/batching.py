"""Micro-batching: concurrent requests are gathered into one forward per model.

One ``MicroBatcher`` serves one group of models that share a base. Its loop waits for the
first request, then gathers more until ``max_batch_size`` texts are pending or the oldest
request has waited ``max_wait_ms``; the batch runs on the group's own worker thread, so the
event loop keeps accepting requests (which queue up for the next batch) meanwhile. Requests
for different adapters in one batch run as one forward per adapter, in arrival order, so
adapters of different problem types (and label counts) never share a result array.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ModelOutputError
from .models import ServedModel

__all__ = ["MicroBatcher", "QueueFullError"]

log = logging.getLogger(__name__)

BatchHook = Callable[[str, int, float], None]
"""(model name, texts in the forward, seconds) -> None: called after every forward."""


class QueueFullError(RuntimeError):
    """More requests are pending than ``max_queue`` allows (the server answers 503)."""


@dataclass
class _Request:
    model: ServedModel
    items: Sequence[Any]
    future: asyncio.Future
    arrived: float = field(default_factory=time.monotonic)


class MicroBatcher:
    """Gather requests into batches and run them on one worker thread.

    Args:
        max_batch_size: texts per batch; a batch takes whole requests, so one request larger
            than this runs alone.
        max_wait_ms: how long the oldest pending request may wait for others to join.
        enabled: False runs each request alone, one at a time (the unbatched baseline).
        max_queue: pending requests beyond this are refused with ``QueueFullError``.
        on_batch: called after each forward, e.g. to record metrics.

    Example:
        >>> batcher = MicroBatcher(max_batch_size=32, max_wait_ms=5)  # doctest: +SKIP
        >>> batcher.start()  # inside the running event loop  # doctest: +SKIP
        >>> probs = await batcher.submit(model, ["a charming journey"])  # doctest: +SKIP
    """

    def __init__(
        self,
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        *,
        enabled: bool = True,
        max_queue: int = 1024,
        on_batch: BatchHook | None = None,
        name: str = "batcher",
    ):
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        if max_queue < 1:
            raise ValueError(f"max_queue must be >= 1, got {max_queue}")
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.enabled = enabled
        self.max_queue = max_queue
        self.on_batch = on_batch
        self.name = name
        self._pending: deque[_Request] = deque()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        # one thread: adapters of a group switch the shared base's weights, never concurrently
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"phalanx-{name}")

    @classmethod
    def from_config(
        cls, config: Any, *, on_batch: BatchHook | None = None, name: str = "batcher"
    ) -> MicroBatcher:
        """The batcher a ``ServeConfig`` asks for (one per group of models sharing a base)."""
        return cls(
            config.max_batch_size,
            config.max_wait_ms,
            enabled=config.batching,
            max_queue=config.max_queue,
            on_batch=on_batch,
            name=name,
        )

    @property
    def pending(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        """Start the batching loop on the running event loop."""
        if self._task is not None:
            return
        self._wakeup = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        """Stop the loop; requests still pending fail with a clear error."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while self._pending:
            req = self._pending.popleft()
            if not req.future.done():
                req.future.set_exception(RuntimeError("the server is shutting down"))
        self._executor.shutdown(wait=True)

    async def submit(self, model: ServedModel, items: Sequence[Any]) -> np.ndarray:
        """Scores [len(items), C] for ``items`` (``model.classify``'s), computed in some
        batch with other requests' texts for the same model."""
        if self._task is None or self._wakeup is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        if len(self._pending) >= self.max_queue:
            raise QueueFullError(
                f"{len(self._pending)} requests are already waiting (max_queue={self.max_queue})"
            )
        req = _Request(model, items, asyncio.get_running_loop().create_future())
        self._pending.append(req)
        self._wakeup.set()
        # if the caller goes away (client disconnect, timeout) its future is cancelled and
        # the loop skips the request instead of computing it
        return await req.future

    # -- the loop -----------------------------------------------------------------------
    def _pending_texts(self) -> int:
        return sum(len(r.items) for r in self._pending)

    async def _loop(self) -> None:
        assert self._wakeup is not None  # set by start()
        while True:
            while not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            if self.enabled:
                await self._gather()
            batch = self._take()
            if batch:
                try:
                    await self._execute(batch)
                except Exception:  # never let one batch end the loop
                    log.exception("batch failed")
                    for req in batch:
                        if not req.future.done():
                            req.future.set_exception(RuntimeError("internal error"))

    async def _gather(self) -> None:
        """Wait until the batch is full or the oldest pending request waited max_wait."""
        assert self._wakeup is not None
        deadline = self._pending[0].arrived + self.max_wait
        while self._pending_texts() < self.max_batch_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                return

    def _take(self) -> list[_Request]:
        """Whole requests up to max_batch_size texts (at least one); cancelled ones dropped."""
        batch: list[_Request] = []
        texts = 0
        while self._pending:
            req = self._pending[0]
            if req.future.done():  # cancelled while waiting
                self._pending.popleft()
                continue
            if batch and (not self.enabled or texts + len(req.items) > self.max_batch_size):
                break
            batch.append(self._pending.popleft())
            texts += len(req.items)
        return batch

    async def _execute(self, batch: list[_Request]) -> None:
        by_model: dict[str, list[_Request]] = {}
        for req in batch:
            by_model.setdefault(req.model.name, []).append(req)
        for reqs in by_model.values():
            reqs = [r for r in reqs if not r.future.done()]
            if not reqs:
                continue
            try:
                probs = await self._forward(reqs[0].model, [x for r in reqs for x in r.items])
            except Exception as err:
                if len(reqs) == 1:
                    if not reqs[0].future.done():
                        reqs[0].future.set_exception(err)
                    continue
                # one request broke the batch: run each alone so only that one fails
                log.warning("batch of %d requests failed (%s); retrying one by one", len(reqs), err)
                for r in reqs:
                    await self._execute([r])
                continue
            start = 0
            for r in reqs:
                if not r.future.done():
                    r.future.set_result(probs[start : start + len(r.items)])
                start += len(r.items)

    async def _forward(self, model: ServedModel, items: list[Any]) -> np.ndarray:
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        probs = await loop.run_in_executor(self._executor, model.classify, items)
        if self.on_batch is not None:
            self.on_batch(model.name, len(items), time.perf_counter() - t0)
        # each model answers in its own shape ([N, labels]; regression [N, 1]): a forward
        # never mixes models, and a result of another shape is refused, never sliced up
        want = (len(items), model.problem.num_outputs(model.labels))
        if probs.ndim != 2 or probs.shape != want:
            raise ModelOutputError(
                f"model {model.name} returned scores of shape {tuple(probs.shape)} for "
                f"{len(items)} texts; expected {want}"
            )
        return probs
