"""Micro-batching: concurrent requests are gathered into forwards run by several workers.

One ``MicroBatcher`` serves one group of models that share a base. Each request is
tokenized when it arrives, on the batcher's tokenizer thread (never on the event loop).
The loop waits for a free worker, then gathers requests until ``max_batch_size`` texts or
``max_batch_tokens`` padded tokens (longest text x texts, as TEI counts them) are pending,
or the oldest request has waited ``max_wait_ms``; the batch runs on a worker thread while
the loop forms the next one for the next free worker (``workers``, see ``workers.py``).

Requests for different adapters in one batch run as one mixed forward when
``adapter_batching`` is ``mixed`` and ``phalanx.serve.mixed.can_mix`` says they can
(each model's own head and results); otherwise one forward per adapter, in arrival order,
switching the shared base between them. Forwards that switch the shared weights never run
concurrently with another forward of the group (``SharedBaseLock``).
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
from .workers import SharedBaseLock

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
    ids: list[list[int]] | None = None
    arrived: float = field(default_factory=time.monotonic)

    @property
    def longest(self) -> int:
        """Tokens of its longest text (a backend that tokenizes itself: ~4 chars a token)."""
        if self.ids is not None:
            return max((len(r) for r in self.ids), default=1)
        return max((len(str(x)) // 4 + 2 for x in self.items), default=1)


def _mixed() -> Any:
    """``phalanx.serve.mixed`` (mixed-adapter forwards), or None where it is absent."""
    try:
        from . import mixed
    except ImportError:
        return None
    return mixed


class MicroBatcher:
    """Gather requests into batches and run them on ``workers`` worker threads.

    Args:
        max_batch_size: texts per batch; a batch takes whole requests, so one request larger
            than this (or than ``max_batch_tokens``) runs alone.
        max_wait_ms: how long the oldest pending request may wait for others to join.
        enabled: False runs each request alone, one at a time (the unbatched baseline).
        max_queue: pending requests beyond this are refused with ``QueueFullError``.
        on_batch: called after each forward, e.g. to record metrics.
        max_batch_tokens: padded tokens (longest text x texts) per batch.
        workers: forwards of this group that may run at once.
        adapter_batching: ``switch`` (one forward per adapter, the default: faster on
            CPU) or ``mixed`` (one forward for several adapters where they can).

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
        max_batch_tokens: int = 16384,
        workers: int = 1,
        adapter_batching: str = "switch",
    ):
        checks = (("max_batch_size", max_batch_size), ("max_queue", max_queue))
        for label, value in (*checks, ("max_batch_tokens", max_batch_tokens), ("workers", workers)):
            if value < 1:
                raise ValueError(f"{label} must be >= 1, got {value}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        if adapter_batching not in ("mixed", "switch"):
            raise ValueError(f"adapter_batching must be mixed or switch, got {adapter_batching!r}")
        self.max_batch_size = max_batch_size
        self.max_batch_tokens = max_batch_tokens
        self.max_wait = max_wait_ms / 1000
        self.enabled = enabled
        self.max_queue = max_queue
        self.on_batch = on_batch
        self.name = name
        self.workers = workers if enabled else 1  # the unbatched baseline: one at a time
        self.adapter_batching = adapter_batching
        self._pending: deque[_Request] = deque()
        self._arriving = 0  # requests being tokenized: they count against max_queue
        self._wakeup: asyncio.Event | None = None
        self._slots: asyncio.Semaphore | None = None
        self._base: SharedBaseLock | None = None
        self._task: asyncio.Task | None = None
        self._running: set[asyncio.Task] = set()
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix=f"phalanx-{name}")
        self._tokenizer = ThreadPoolExecutor(1, thread_name_prefix=f"phalanx-tok-{name}")

    @classmethod
    def from_config(
        cls, config: Any, *, on_batch: BatchHook | None = None, name: str = "batcher"
    ) -> MicroBatcher:
        """The batcher a ``ServeConfig`` asks for (one per group of models sharing a base)."""
        from .workers import plan_workers

        workers, _ = plan_workers(config.workers, config.threads)
        return cls(
            config.max_batch_size,
            config.max_wait_ms,
            enabled=config.batching,
            max_queue=config.max_queue,
            on_batch=on_batch,
            name=name,
            max_batch_tokens=config.max_batch_tokens,
            workers=workers,
            adapter_batching=config.adapter_batching,
        )

    @property
    def pending(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        """Start the batching loop on the running event loop."""
        if self._task is not None:
            return
        self._wakeup = asyncio.Event()
        self._slots = asyncio.Semaphore(self.workers)
        self._base = SharedBaseLock()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        """Stop the loop; forwards running finish, requests still pending fail clearly."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        while self._pending:
            req = self._pending.popleft()
            if not req.future.done():
                req.future.set_exception(RuntimeError("the server is shutting down"))
        self._executor.shutdown(wait=True)
        self._tokenizer.shutdown(wait=True)

    async def submit(self, model: ServedModel, items: Sequence[Any]) -> np.ndarray:
        """Scores [len(items), C] for ``items`` (``model.classify``'s), computed in some
        batch with other requests' texts for the same group."""
        if self._task is None or self._wakeup is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        if len(self._pending) + self._arriving >= self.max_queue:
            raise QueueFullError(
                f"{len(self._pending) + self._arriving} requests are already waiting "
                f"(max_queue={self.max_queue})"
            )
        loop = asyncio.get_running_loop()
        ids = None
        if model.runner is not None:  # tokenized here, off the event loop, once
            self._arriving += 1
            try:
                ids = await loop.run_in_executor(self._tokenizer, model.encode, items)
            finally:
                self._arriving -= 1
        req = _Request(model, items, loop.create_future(), ids)
        self._pending.append(req)
        self._wakeup.set()
        # if the caller goes away (client disconnect, timeout) its future is cancelled and
        # the loop skips the request instead of computing it
        return await req.future

    # -- the loop -----------------------------------------------------------------------
    def _full(self) -> bool:
        texts, longest = 0, 0
        for r in self._pending:
            texts, longest = texts + len(r.items), max(longest, r.longest)
        return texts >= self.max_batch_size or texts * longest >= self.max_batch_tokens

    async def _loop(self) -> None:
        assert self._wakeup is not None and self._slots is not None  # set by start()
        while True:
            while not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            await self._slots.acquire()  # a free worker: meanwhile the next batch grows
            if self.enabled:
                await self._gather()
            batch = self._take()
            if not batch:
                self._slots.release()
                continue
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[_Request]) -> None:
        assert self._slots is not None
        try:
            await self._execute(batch)
        except Exception:  # never let one batch end the service
            log.exception("batch failed")
            for req in batch:
                if not req.future.done():
                    req.future.set_exception(RuntimeError("internal error"))
        finally:
            self._slots.release()

    async def _gather(self) -> None:
        """Wait until the batch is full or the oldest pending request waited max_wait."""
        assert self._wakeup is not None
        while self._pending and not self._full():
            remaining = self._pending[0].arrived + self.max_wait - time.monotonic()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                return

    def _take(self) -> list[_Request]:
        """Whole requests up to max_batch_size texts and max_batch_tokens padded tokens (at
        least one request); cancelled ones dropped."""
        batch: list[_Request] = []
        texts, longest = 0, 0
        while self._pending:
            req = self._pending[0]
            if req.future.done():  # cancelled while waiting
                self._pending.popleft()
                continue
            n, width = texts + len(req.items), max(longest, req.longest)
            over = n > self.max_batch_size or n * width > self.max_batch_tokens
            if batch and (not self.enabled or over):
                break
            batch.append(self._pending.popleft())
            texts, longest = n, width
        return batch

    async def _execute(self, batch: list[_Request]) -> None:
        by_model: dict[str, list[_Request]] = {}
        for req in batch:
            if not req.future.done():
                by_model.setdefault(req.model.name, []).append(req)
        if not by_model:
            return
        if len(by_model) > 1 and self._mixable([reqs[0].model for reqs in by_model.values()]):
            try:
                await self._mixed_forward(list(by_model.values()))
                return
            except Exception as err:  # fall back to one forward per adapter, which isolates
                log.warning("mixed batch failed (%s); running one forward per adapter", err)
        for reqs in by_model.values():
            await self._model_forward(reqs)

    def _mixable(self, models: list[ServedModel]) -> bool:
        if self.adapter_batching != "mixed":
            return False
        mixed = _mixed()
        try:
            return mixed is not None and bool(mixed.can_mix(models))
        except Exception as err:  # a check that fails must not fail the requests
            log.warning("cannot tell whether %s can mix (%s); switching", self.name, err)
            return False

    async def _mixed_forward(self, groups: list[list[_Request]]) -> None:
        """One forward for the requests of several adapters. A LoRA one leaves the shared
        weights alone, so it runs beside other shared forwards of the group; a SpaRTA one
        writes each adapter's deltas into them while it runs, so it runs alone."""
        assert self._base is not None
        mixed = _mixed()
        models = [reqs[0].model for reqs in groups]
        items = [[x for r in reqs for x in r.items] for reqs in groups]
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        lock = self._base.exclusive() if mixed.writes_weights(models) else self._base.shared()
        async with lock:
            results = await loop.run_in_executor(
                self._executor, mixed.mixed_classify, models, items
            )
        seconds = time.perf_counter() - t0
        checked = [
            self._checked(m, rows, probs)
            for m, rows, probs in zip(models, items, results, strict=True)
        ]
        for model, rows, reqs, probs in zip(models, items, groups, checked, strict=True):
            if self.on_batch is not None:
                self.on_batch(model.name, len(rows), seconds)
            self._answer(reqs, probs)

    async def _model_forward(self, reqs: list[_Request]) -> None:
        reqs = [r for r in reqs if not r.future.done()]
        if not reqs:
            return
        try:
            probs = await self._forward(reqs)
        except Exception as err:
            if len(reqs) == 1:
                if not reqs[0].future.done():
                    reqs[0].future.set_exception(err)
                return
            # one request broke the batch: run each alone so only that one fails
            log.warning("batch of %d requests failed (%s); retrying one by one", len(reqs), err)
            for r in reqs:
                await self._model_forward([r])
            return
        self._answer(reqs, probs)

    @staticmethod
    def _answer(reqs: list[_Request], probs: np.ndarray) -> None:
        start = 0
        for r in reqs:
            if not r.future.done():
                r.future.set_result(probs[start : start + len(r.items)])
            start += len(r.items)

    async def _forward(self, reqs: list[_Request]) -> np.ndarray:
        assert self._base is not None
        model = reqs[0].model
        items = [x for r in reqs for x in r.items]
        ids = None if any(r.ids is None for r in reqs) else [i for r in reqs for i in r.ids]
        call = (lambda: model.classify_ids(ids)) if ids is not None else (
            lambda: model.classify(items)
        )  # fmt: skip
        loop = asyncio.get_running_loop()
        # a forward that switches the shared base's weights runs alone in its group
        lock = self._base.exclusive() if model.exclusive else self._base.shared()
        t0 = time.perf_counter()
        async with lock:
            probs = await loop.run_in_executor(self._executor, call)
        if self.on_batch is not None:
            self.on_batch(model.name, len(items), time.perf_counter() - t0)
        return self._checked(model, items, probs)

    @staticmethod
    def _checked(model: ServedModel, items: Sequence[Any], probs: Any) -> np.ndarray:
        """``probs`` as float32 when it has the model's shape; a result of another shape is
        refused (ModelOutputError), never sliced up."""
        if hasattr(probs, "numpy") and not isinstance(probs, np.ndarray):
            probs = probs.numpy()
        probs = np.asarray(probs, dtype=np.float32)
        want = (len(items), model.problem.num_outputs(model.labels))
        if probs.ndim != 2 or probs.shape != want:
            raise ModelOutputError(
                f"model {model.name} returned scores of shape {tuple(probs.shape)} for "
                f"{len(items)} texts; expected {want}"
            )
        return probs
