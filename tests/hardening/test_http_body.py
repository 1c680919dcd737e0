"""Request bodies are bounded however they are framed: Content-Length or chunked."""

from __future__ import annotations

import httpx
import pytest

pytest.importorskip("fastapi", reason="needs the serve extra: pip install 'phalanx[serve]'")

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from phalanx.serve import BackgroundServer
from phalanx.serve.metrics import ServeMetrics
from phalanx.serve.middleware import GuardAndMeasure

LIMIT = 10_000


@pytest.fixture(scope="module")
def server():
    """An app that reads the whole body, behind the guard; it records the largest body read."""
    seen: list[int] = []

    async def echo(request: Request) -> JSONResponse:
        body = await request.body()
        seen.append(len(body))
        return JSONResponse({"bytes": len(body)})

    app = GuardAndMeasure(
        Starlette(routes=[Route("/v1/classify", echo, methods=["POST"])]),
        ServeMetrics(),
        max_body_bytes=LIMIT,
    )
    with BackgroundServer(app) as srv:
        srv.seen = seen
        yield srv


def _chunks(total: int, size: int = 4096):
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        sent += n
        yield b"x" * n


@pytest.mark.parametrize("total", [LIMIT + 1, 5 * LIMIT, 50_000_000])
def test_a_chunked_body_over_the_limit_gets_413_without_being_read_whole(server, total):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        r = client.post("/v1/classify", content=_chunks(total))
    assert r.status_code == 413
    assert r.json()["limit"] == "max_body_bytes"
    assert all(n <= LIMIT for n in server.seen)  # the app never got the oversized body


@pytest.mark.parametrize("total", [0, 10, LIMIT])
def test_a_chunked_body_within_the_limit_is_passed_through(server, total):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        r = client.post("/v1/classify", content=_chunks(total))
    assert r.status_code == 200 and r.json() == {"bytes": total}


def test_a_declared_length_over_the_limit_is_refused_before_reading(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        r = client.post("/v1/classify", content=b"x" * (LIMIT + 1))
    assert r.status_code == 413
