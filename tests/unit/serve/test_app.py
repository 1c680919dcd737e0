"""The real server on a free local port: every route, the limits, batching, switching."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx
import numpy as np
import pytest
import torch
from prometheus_client.parser import text_string_to_metric_families

from phalanx.serve import BackgroundServer, ModelRegistry, ServeConfig, ServedModel, create_app
from tests.helpers import SENTENCES


@pytest.fixture(scope="module")
def server(registry):
    config = ServeConfig(
        max_texts_per_request=8, max_chars_per_text=200, max_batch_size=16, max_wait_ms=50
    )
    with BackgroundServer(create_app(registry, config)) as srv:
        yield srv


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def _metric(text: str, name: str, **labels) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def _probs(body: dict) -> np.ndarray:
    return np.array([[r["probabilities"][lab] for lab in body["labels"]] for r in body["results"]])


def test_classify_returns_labels_and_probabilities_in_input_order(client, registry):
    texts = SENTENCES[:5]
    body = client.post("/v1/classify", json={"texts": texts}).json()
    expected = registry.get("pos").classify(texts)
    assert body["model"] == "pos" and body["labels"] == ["LABEL_0", "LABEL_1"]
    np.testing.assert_allclose(_probs(body), expected, rtol=1e-5, atol=1e-6)
    assert [r["label"] for r in body["results"]] == [body["labels"][i] for i in expected.argmax(1)]


def test_dict_inputs_fill_the_models_template(client, registry):
    items = [{"sentence": s} for s in SENTENCES[:3]]
    body = client.post("/v1/classify", json={"texts": items, "model": "topic"}).json()
    assert body["labels"] == ["x", "y", "z"]
    np.testing.assert_allclose(
        _probs(body), registry.get("topic").classify(SENTENCES[:3]), rtol=1e-5, atol=1e-6
    )
    r = client.post("/v1/classify", json={"texts": [{"other": "x"}], "model": "topic"})
    assert r.status_code == 422 and "template field 'sentence'" in r.json()["error"]


def test_models_health_docs_and_page(client):
    models = client.get("/v1/models").json()
    assert models["default"] == "pos"
    by_name = {m["name"]: m for m in models["models"]}
    assert set(by_name) == {"pos", "topic", "lora1", "lora2"}
    assert by_name["topic"]["labels"] == ["x", "y", "z"]
    assert by_name["pos"]["base_group"] == by_name["topic"]["base_group"]
    assert by_name["lora1"]["kind"] == "lora"
    health = client.get("/healthz").json()
    assert health == {"status": "ok", "state": "ready", "ready": True, "models": 4}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "models": ["pos", "topic", "lora1", "lora2"]}
    assert "swagger" in client.get("/docs").text.lower()
    assert "/v1/classify" in client.get("/openapi.json").json()["paths"]
    page = client.get("/")
    assert page.status_code == 200 and 'id="texts"' in page.text


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b'{"texts": ["a"', 422, "malformed JSON"),
        (b'{"texts": []}', 422, "texts: List should have at least 1 item"),
        (b'{"texts": "a charming journey"}', 422, "texts: Input should be a valid list"),
        (b'{"texts": [1, 2]}', 422, "texts.0: give a string or an object of strings"),
        (b'{"texts": ["a"], "extra": 1}', 422, "extra"),
        (b'{"texts": ["a"], "model": "nope"}', 404, "known models: pos, topic, lora1, lora2"),
        (b'{"texts": ["a", "b", "c", "d", "e", "f", "g", "h", "i"]}', 413, "max_texts_per_request"),
        (b'{"texts": ["ok", "' + b"x" * 201 + b'"]}', 413, "max_chars_per_text is 200"),
    ],
)
def test_bad_requests_get_json_errors_naming_the_problem(client, body, status, needle):
    r = client.post("/v1/classify", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert needle in r.json()["error"]
    if status == 404:
        assert r.json()["known_models"] == ["pos", "topic", "lora1", "lora2"]
    if status == 413:
        assert r.json()["limit"] in ("max_texts_per_request", "max_chars_per_text")


def test_concurrent_requests_are_batched_and_match_the_classification_api(server, registry):
    names = ["pos", "topic", "lora1", "lora2"]
    jobs = [(names[i % 4], SENTENCES[i % 7 : i % 7 + 1 + i % 3]) for i in range(48)]
    expected = [registry.get(n).classify(t) for n, t in jobs]
    before = httpx.get(server.url + "/metrics").text

    async def fire():
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
            calls = [c.post("/v1/classify", json={"texts": t, "model": n}) for n, t in jobs]
            return await asyncio.gather(*calls)

    responses = asyncio.run(fire())
    for (name, _), r, want in zip(jobs, responses, expected, strict=True):
        assert r.status_code == 200 and r.json()["model"] == name
        np.testing.assert_allclose(_probs(r.json()), want, rtol=1e-4, atol=1e-5)
    after = httpx.get(server.url + "/metrics").text
    forwards = _metric(after, "phalanx_batch_size_count") - _metric(
        before, "phalanx_batch_size_count"
    )
    texts = _metric(after, "phalanx_texts_total") - _metric(before, "phalanx_texts_total")
    assert texts == sum(len(t) for _, t in jobs)
    # unbatched would be 48 forwards; gathered ones are far fewer (a busy CI box spreads
    # arrivals, hence the margin)
    assert forwards <= 0.75 * len(jobs), f"{forwards} forwards for {len(jobs)} requests"


def test_a_body_larger_than_the_limits_allow_is_refused_unread(client):
    body = b'{"texts": ["' + b"x" * 20_000 + b'"]}'  # > 8 texts x 200 chars, escaped
    r = client.post("/v1/classify", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["limit"] == "max_body_bytes"


def test_metrics_count_requests_latency_and_batches(client):
    client.post("/v1/classify", json={"texts": ["a charming journey"]})
    client.post("/v1/classify", json={"texts": []})
    text = client.get("/metrics").text
    ok = _metric(text, "phalanx_requests_total", route="/v1/classify", status="200")
    bad = _metric(text, "phalanx_requests_total", route="/v1/classify", status="422")
    assert ok >= 1 and bad >= 1
    assert _metric(text, "phalanx_request_latency_seconds_count", route="/v1/classify") >= 2
    assert _metric(text, "phalanx_batch_size_count", model="pos") >= 1
    assert "phalanx_queue_requests" in text


def test_client_disconnects_do_not_disturb_the_others(server, client, registry):
    host, port = server.host, server.port
    payload = b'{"texts": ["a charming journey", "bleak and desperate"]}'
    for body in (payload, payload[:10]):  # gone after sending / mid-body
        for _ in range(5):
            s = socket.create_connection((host, port))
            s.sendall(
                b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(payload)}\r\n\r\n".encode()
                + body
            )
            s.close()
    r = client.post("/v1/classify", json={"texts": SENTENCES})
    assert r.status_code == 200
    np.testing.assert_allclose(
        _probs(r.json()), registry.get("pos").classify(SENTENCES), rtol=1e-5, atol=1e-6
    )


class _Slow:
    def classify(self, items):
        time.sleep(2.0)
        return torch.full((len(items), 2), 0.5)


def test_a_slow_model_blocks_no_one_else_and_times_out(registry):
    slow = ServedModel("slow", "/x", "fake", ["a", "b"], None, "slow-group", _Slow())
    reg = ModelRegistry([registry.get("pos"), slow])
    with BackgroundServer(create_app(reg, ServeConfig(timeout_s=1.0))) as srv:
        out: dict = {}

        def call_slow():
            out["slow"] = httpx.post(
                srv.url + "/v1/classify", json={"texts": ["x"], "model": "slow"}, timeout=30
            )

        t = threading.Thread(target=call_slow)
        t.start()
        time.sleep(0.2)
        start = time.perf_counter()
        fast = httpx.post(srv.url + "/v1/classify", json={"texts": ["a charming journey"]})
        fast_s = time.perf_counter() - start
        t.join()
    assert fast.status_code == 200 and fast_s < 1.5, fast_s
    assert out["slow"].status_code == 504 and "timeout_s=1" in out["slow"].json()["error"]


def test_api_key_guards_every_route_but_healthz(registry):
    app = create_app(registry, ServeConfig(api_key="s3cret"))
    with BackgroundServer(app) as srv, httpx.Client(base_url=srv.url) as c:
        assert c.get("/healthz").status_code == 200
        for path in ("/v1/models", "/metrics", "/docs", "/"):
            r = c.get(path)
            assert r.status_code == 401 and "API key" in r.json()["error"], path
        assert c.get("/v1/models", headers={"X-API-Key": "wrong"}).status_code == 401
        assert c.get("/v1/models", headers={"X-API-Key": "s3cret"}).status_code == 200
        auth = {"Authorization": "Bearer s3cret"}
        r = c.post("/v1/classify", json={"texts": ["a"]}, headers=auth)
        assert r.status_code == 200
        assert c.get("/?api_key=s3cret").status_code == 200  # the page, opened from a link
        assert c.get("/v1/models?api_key=s3cret").status_code == 401  # only the page


def test_server_binds_loopback_by_default():
    assert ServeConfig().host == "127.0.0.1"
    with pytest.raises(ValueError, match="max_texts_per_request must be >= 1, got 0"):
        ServeConfig(max_texts_per_request=0)
    with pytest.raises(ValueError, match="unknown serve option 'prot'"):
        ServeConfig.from_dict({"prot": 1})
