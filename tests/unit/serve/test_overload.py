"""Overload and lifecycle: bounded queues per model, timeouts, readiness, graceful shutdown.

A model whose backend blocks until the test releases it makes "in flight" a state the test
controls, so nothing here depends on timing.
"""

from __future__ import annotations

import contextlib
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="needs the serve extra: pip install 'phalanx[serve]'")
import httpx

from phalanx.errors import InputError
from phalanx.serve import BackgroundServer, ModelRegistry, ServeConfig, ServedModel, create_app


class _Gate:
    """A backend that answers only once ``release`` is set (and counts its calls)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def classify(self, items):
        self.calls += 1
        assert self.release.wait(60), "the test never released the model"
        return np.full((len(items), 2), 0.5, dtype=np.float32)


def _model(name: str, group: str, backend) -> ServedModel:
    return ServedModel(name, f"/{name}", "fake", ["a", "b"], None, group, backend)


@contextlib.contextmanager
def _serving(app, gate: _Gate):
    """The app on a background server; the gate opens before it stops, even on a failure."""
    srv = BackgroundServer(app).start()
    try:
        yield srv
    finally:
        gate.release.set()
        srv.stop()


def _wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout:g} s"
        time.sleep(0.01)


def _post_in_thread(url: str, model: str, out: list) -> threading.Thread:
    def call() -> None:
        body = {"texts": ["x"], "model": model}
        out.append(httpx.post(url + "/v1/classify", json=body, timeout=60))

    t = threading.Thread(target=call)
    t.start()
    return t


def test_a_full_model_answers_503_with_retry_after_and_the_others_keep_serving(registry):
    gate = _Gate()
    # slow and sibling share a group (one batcher); the bound is per model, not per group
    reg = ModelRegistry(
        [_model("slow", "g", gate), _model("sibling", "g", gate), registry.get("pos")]
    )
    config = ServeConfig(max_queue=2, retry_after_s=1.5, max_wait_ms=0)
    app = create_app(reg, config)
    life = app.state.lifecycle
    with _serving(app, gate) as srv:
        answers: list = []
        threads = [_post_in_thread(srv.url, "slow", answers) for _ in range(2)]
        _wait_for(lambda: life.in_flight.get("slow") == 2, "two requests in flight")
        full = httpx.post(srv.url + "/v1/classify", json={"texts": ["x"], "model": "slow"})
        assert full.status_code == 503
        assert full.headers["retry-after"] == "2"  # 1.5 s, rounded up
        body = full.json()
        assert body["limit"] == "max_queue" and body["value"] == 2
        assert "model 'slow' has 2 requests in flight (max_queue=2)" in body["error"]
        # another model of the same group is not refused, one of another group answers now
        threads.append(_post_in_thread(srv.url, "sibling", answers))
        _wait_for(lambda: life.in_flight.get("sibling") == 1, "the sibling's request admitted")
        pos = httpx.post(
            srv.url + "/v1/classify", json={"texts": ["a charming journey"], "model": "pos"}
        )
        assert pos.status_code == 200, pos.text
        gate.release.set()
        for t in threads:
            t.join(60)
        assert [r.status_code for r in answers] == [200, 200, 200]
        # the places are free again
        again = httpx.post(srv.url + "/v1/classify", json={"texts": ["x"], "model": "slow"})
        assert again.status_code == 200 and life.total_in_flight == 0


def test_a_request_past_timeout_s_gets_504_and_frees_its_place():
    gate = _Gate()
    app = create_app(ModelRegistry([_model("slow", "g", gate)]), ServeConfig(timeout_s=0.3))
    with _serving(app, gate) as srv, httpx.Client(base_url=srv.url, timeout=60) as c:
        r = c.post("/v1/classify", json={"texts": ["x"]})
        assert r.status_code == 504 and "no result within timeout_s=0.3 s" in r.json()["error"]
        assert app.state.lifecycle.in_flight["slow"] == 0
        gate.release.set()
        assert c.post("/v1/classify", json={"texts": ["x"]}).status_code == 200


def test_readyz_is_503_until_the_loader_returns_and_healthz_answers_meanwhile(registry):
    loaded = threading.Event()

    def loader() -> ModelRegistry:
        assert loaded.wait(60), "the test never let the loader finish"
        return ModelRegistry([registry.get("pos")])

    app = create_app(loader, ServeConfig(retry_after_s=3))
    with BackgroundServer(app) as srv, httpx.Client(base_url=srv.url, timeout=60) as c:
        health = c.get("/healthz")
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "state": "loading", "ready": False, "models": 0}
        for r in (
            c.get("/readyz"),
            c.get("/v1/models"),
            c.post("/v1/classify", json={"texts": ["a charming journey"]}),
        ):
            assert r.status_code == 503 and r.headers["retry-after"] == "3", r.request.url
            assert "still loading" in r.json()["error"] and r.json()["status"] == "loading"
        loaded.set()
        _wait_for(lambda: c.get("/readyz").status_code == 200, "/readyz 200")
        assert c.get("/readyz").json() == {"status": "ready", "models": ["pos"]}
        assert c.get("/healthz").json()["ready"] is True
        r = c.post("/v1/classify", json={"texts": ["a charming journey"]})
        assert r.status_code == 200 and r.json()["model"] == "pos"


def test_a_failed_load_is_reported_by_readyz_without_retry_after():
    def loader() -> ModelRegistry:
        raise InputError("model folder '/nope' holds no adapter")

    app = create_app(loader, ServeConfig())
    with BackgroundServer(app) as srv, httpx.Client(base_url=srv.url, timeout=60) as c:
        _wait_for(lambda: c.get("/healthz").json()["state"] == "failed", "the failure noticed")
        ready = c.get("/readyz")
        assert ready.status_code == 503 and "retry-after" not in ready.headers
        assert (
            ready.json()["error"]
            == "loading the models failed: model folder '/nope' holds no adapter"
        )
        r = c.post("/v1/classify", json={"texts": ["x"]})
        assert r.status_code == 503 and "holds no adapter" in r.json()["error"]


def test_shutdown_answers_the_requests_in_flight_and_refuses_new_ones():
    gate = _Gate()
    app = create_app(ModelRegistry([_model("slow", "g", gate)]), ServeConfig(retry_after_s=2))
    life = app.state.lifecycle
    srv = BackgroundServer(app).start()
    answers: list = []
    in_flight = _post_in_thread(srv.url, "slow", answers)
    _wait_for(lambda: life.total_in_flight == 1, "a request in flight")
    stopper = threading.Thread(target=srv.stop)
    stopper.start()
    _wait_for(lambda: life.phase == "stopping", "the shutdown begun")
    # until uvicorn closes the listener, new requests reach the app and are refused by it;
    # after that they are refused by the operating system
    while True:
        try:
            r = httpx.post(srv.url + "/v1/classify", json={"texts": ["x"]}, timeout=60)
        except httpx.ConnectError:
            break
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "2" and r.headers["connection"] == "close"
        assert "shutting down" in r.json()["error"]
    assert srv.server.should_exit and stopper.is_alive()  # still waiting for the request
    assert life.batchers, "the batchers stopped before the request in flight was answered"
    gate.release.set()
    in_flight.join(60)
    stopper.join(60)
    assert [r.status_code for r in answers] == [200]
    assert answers[0].json()["results"][0]["probabilities"] == {"a": 0.5, "b": 0.5}
    assert not srv._thread.is_alive() and not life.batchers
