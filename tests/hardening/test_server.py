"""The HTTP request model: malformed JSON of any shape, invalid Unicode, odd types.

Every response is JSON with an ``error`` message and a 4xx status (422 for what the request
says, 413 for its size); the server never answers 500 to anything a client sends.
"""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("fastapi", reason="needs the serve extra: pip install 'phalanx[serve]'")

from phalanx.serve import BackgroundServer, ModelRegistry, ServeConfig, create_app

HEADERS = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def client(plain_adapter):
    registry = ModelRegistry.load([f"pos={plain_adapter}"])
    config = ServeConfig(max_texts_per_request=8, max_chars_per_text=200, max_wait_ms=1)
    with (
        BackgroundServer(create_app(registry, config)) as server,
        httpx.Client(base_url=server.url, timeout=60) as c,
    ):
        yield c


def _post(client, body: bytes) -> httpx.Response:
    return client.post("/v1/classify", content=body, headers=HEADERS)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"texts": ["ok", "\\ud800"]}', "input 1 is not valid Unicode"),
        (b'{"texts": ["\\udfff tail"]}', "input 0 is not valid Unicode"),
        (b'{"texts": ["a", "b", "x\\ud83d"]}', "input 2 is not valid Unicode"),
        (b"[" * 6000 + b"]" * 6000, "malformed JSON: nested too deeply"),
        (b'{"texts": ["a"], "model": ' + b"9" * 5000 + b"}", "too many digits"),
        (b'{"texts": ["caf\xe9"]}', "not UTF-8"),
        (b'{"texts": "a charming journey"}', "invalid request: texts"),
        (b'{"texts": [1, 2]}', "invalid request: texts.0"),
        (b'{"texts": []}', "invalid request: texts"),
        (b"[]", "invalid request"),
        (b"null", "invalid request"),
        (b'{"texts": ["a"], "extra": 1}', "invalid request: extra"),
        (b"{not json", "malformed JSON"),
        (b"", "invalid request"),
    ],
)
def test_malformed_requests_get_422_with_an_error_message(client, body, message):
    r = _post(client, body)
    assert r.status_code == 422, r.text[:300]
    assert message in r.json()["error"]


def test_the_server_keeps_answering_after_the_bad_requests(client):
    r = client.post("/v1/classify", json={"texts": ["a charming journey"]})
    assert r.status_code == 200 and r.json()["results"][0]["label"]
    assert client.get("/nope").json() == {"error": "Not Found"}


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
_bodies = st.one_of(
    _json.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {"texts": st.lists(st.one_of(st.text(max_size=50), _json), max_size=10)},
        optional={"model": st.one_of(st.text(max_size=10), _json)},
    ).map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=_bodies)
def test_any_body_gets_a_result_or_a_4xx_json_error(client, body):
    r = _post(client, body)
    assert r.status_code in (200, 404, 413, 422), (r.status_code, r.text[:300])
    data = r.json()
    if r.status_code == 200:
        assert len(data["results"]) == len(json.loads(body)["texts"])
    else:
        assert isinstance(data["error"], str) and data["error"]
