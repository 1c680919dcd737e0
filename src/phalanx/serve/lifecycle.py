"""The server's life: loading its models, ready, stopping; and who may enter.

A server starts listening before its models are loaded (loading an export or a big base can
take a while), so ``/healthz`` answers at once and ``/readyz`` says when the models are in.
The phases and what a client sees in each:

- ``loading``: ``/healthz`` 200 (``ready: false``); ``/readyz``, ``/v1/classify`` and
  ``/v1/models`` 503 with ``Retry-After``.
- ``ready``: everything answers; a model with ``max_queue`` requests in flight refuses more
  with 503 and ``Retry-After``.
- ``failed`` (loading raised): ``/readyz`` and the model routes 503 naming the error (no
  ``Retry-After``: waiting will not help); ``run_server`` stops and raises the error.
- ``stopping`` (SIGTERM, Ctrl-C): requests in flight finish; new ones get 503 with
  ``Retry-After`` and ``Connection: close``; the batchers stop once the last one is answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal

from starlette.responses import JSONResponse

from .batching import MicroBatcher, QueueFullError
from .config import ServeConfig
from .metrics import ServeMetrics
from .models import ModelRegistry, ServedModel

__all__ = ["Lifecycle", "Loader", "ModelsFull"]

log = logging.getLogger("phalanx.serve")

Loader = Callable[[], ModelRegistry]
"""Loads the models to serve (run on a thread of its own, so the server listens meanwhile)."""
Phase = Literal["loading", "ready", "failed", "stopping"]


class ModelsFull(QueueFullError):
    """One model already has ``max_queue`` requests in flight (HTTP 503)."""


class Lifecycle:
    """The phase of one app, its registry and batchers once loaded, and the requests in flight.

    Args:
        source: an already loaded ``ModelRegistry`` (ready at start-up) or a ``Loader``.
        config: the limits (``max_queue``, ``retry_after_s``, ``shutdown_timeout_s``).
        metrics: where the batchers report their batches and queue depth.
    """

    def __init__(
        self, source: ModelRegistry | Loader, config: ServeConfig, metrics: ServeMetrics
    ) -> None:
        self.config, self.metrics = config, metrics
        loaded = isinstance(source, ModelRegistry)
        self.registry: ModelRegistry | None = source if loaded else None
        self._loader: Loader | None = None if loaded else source
        self.phase: Phase = "loading"
        self.error: BaseException | None = None
        self.batchers: dict[str, MicroBatcher] = {}
        self.in_flight: dict[str, int] = {}
        self.in_flight_at_stop: int | None = None
        self.answered_ok = 0
        self.on_failure: Callable[[], None] | None = None
        """Called (on the event loop) when loading fails; ``run_server`` stops the server."""
        self._task: asyncio.Task | None = None

    # -- what clients see -------------------------------------------------------------------
    @property
    def retry_after(self) -> str:
        """The ``Retry-After`` header: ``retry_after_s`` rounded up to whole seconds."""
        return str(math.ceil(float(self.config.retry_after_s)))

    @property
    def total_in_flight(self) -> int:
        return sum(self.in_flight.values())

    def busy(self, message: str, **extra: Any) -> JSONResponse:
        """503 with ``Retry-After`` (and ``Connection: close`` while stopping)."""
        headers = {"Retry-After": self.retry_after}
        if self.phase == "stopping":
            headers["Connection"] = "close"
        return JSONResponse(
            {"error": message, "retry_after_s": self.config.retry_after_s, **extra},
            status_code=503,
            headers=headers,
        )

    def refusal(self) -> JSONResponse | None:
        """None when the model routes may answer, else the 503 that says why not."""
        if self.phase == "ready":
            return None
        if self.phase == "failed":
            return JSONResponse(
                {"error": f"loading the models failed: {self.error}", "status": "failed"},
                status_code=503,
            )
        if self.phase == "loading":
            return self.busy(
                f"the models are still loading; retry in {self.retry_after} s (GET /readyz "
                "answers 200 once they are in)",
                status="loading",
            )
        return self.busy(
            "the server is shutting down and takes no new requests; retry on another "
            "instance or once it is back",
            status="stopping",
        )

    @contextlib.contextmanager
    def admit(self, model: ServedModel) -> Iterator[None]:
        """Count a request for ``model`` while it is in flight; refuse one past ``max_queue``."""
        n = self.in_flight.get(model.name, 0)
        if n >= self.config.max_queue:
            raise ModelsFull(
                f"model {model.name!r} has {n} requests in flight (max_queue="
                f"{self.config.max_queue})"
            )
        self.in_flight[model.name] = n + 1
        try:
            yield
        finally:
            self.in_flight[model.name] -= 1

    # -- the phases -------------------------------------------------------------------------
    async def start(self) -> None:
        """At start-up: start the batchers of a loaded registry, or the loading thread."""
        if self.registry is not None:
            self._activate(self.registry)
        else:
            self._task = asyncio.get_running_loop().create_task(self._load(), name="load")

    async def _load(self) -> None:
        """Run the loader on a daemon thread (Ctrl-C during a long load does not wait for
        it, as the event loop's default executor would) and activate what it returns."""
        assert self._loader is not None  # set when no registry was given
        loop = asyncio.get_running_loop()
        done: asyncio.Future = loop.create_future()
        loader = self._loader

        def settle(ok: bool, value: Any) -> None:
            if not done.done():
                done.set_result(value) if ok else done.set_exception(value)

        def work() -> None:
            try:
                registry = loader()
            except BaseException as err:  # reported on /readyz and raised by run_server
                if not isinstance(err, Exception):  # SystemExit...: must not end the loop
                    err = RuntimeError(f"loading the models stopped: {err!r}")
                outcome: tuple[bool, Any] = (False, err)
            else:
                outcome = (True, registry)
            with contextlib.suppress(RuntimeError):  # the loop closed: the server stopped
                loop.call_soon_threadsafe(settle, *outcome)

        started = time.monotonic()
        threading.Thread(target=work, name="phalanx-load", daemon=True).start()
        try:
            registry = await done
        except Exception as err:
            self.error, self.phase = err, "failed"
            log.error("loading the models failed: %s", err)
            if self.on_failure is not None:
                self.on_failure()
            return
        if self.phase == "stopping":  # shut down while loading: nothing to start
            return
        self._activate(registry)
        log.info("models loaded in %.1f s; ready", time.monotonic() - started)

    def _activate(self, registry: ModelRegistry) -> None:
        """Start one batcher per group of models sharing a base, then take requests."""
        for group, models in registry.groups().items():
            # the app bounds each model to max_queue; the group's batcher holds them all
            per_group = dataclasses.replace(
                self.config, max_queue=self.config.max_queue * len(models)
            )
            b = MicroBatcher.from_config(per_group, on_batch=self.metrics.on_batch, name=group)
            b.start()
            self.metrics.queue.labels(group).set_function(lambda b=b: b.pending)
            self.batchers[group] = b
        for m in registry.models.values():
            log.info(
                "serving %s: %s, runtime %s, %s, labels %s, group %s",
                m.name, m.kind, getattr(m, "runtime", m.kind), m.problem.type, m.labels, m.group,
            )  # fmt: skip
        self.registry = registry
        if self.phase == "loading":
            self.phase = "ready"

    def begin_shutdown(self) -> None:
        """Take no new requests from now on. Safe from a signal handler or another thread:
        it only sets attributes."""
        if self.phase != "stopping":
            self.in_flight_at_stop = self.total_in_flight
            self.phase = "stopping"

    async def stop(self) -> None:
        """At shutdown: wait (up to ``shutdown_timeout_s``) for the requests in flight to be
        answered, then stop the batchers."""
        self.begin_shutdown()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        deadline = time.monotonic() + float(self.config.shutdown_timeout_s)
        while self.total_in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        left = self.total_in_flight
        for b in self.batchers.values():
            await b.stop()  # what is still pending fails: the server is shutting down
        self.batchers.clear()
        log.info(
            "stopped: %d requests were in flight when the shutdown began, %d left unanswered; "
            "%d classify requests answered 200 in all",
            self.in_flight_at_stop or 0, left, self.answered_ok,
        )  # fmt: skip
