"""API-key guard, body limit, ``Connection: close`` while stopping and Prometheus request
metrics as one plain ASGI middleware.

A plain ASGI class rather than ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware
adds a task and a memory stream per request, a cost the batched path feels under load.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import Any

from starlette.datastructures import Headers, QueryParams
from starlette.responses import JSONResponse

from .metrics import ServeMetrics

__all__ = ["GuardAndMeasure"]

ROUTES = (
    "/", "/v1/classify", "/v1/models", "/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"
)  # fmt: skip
OPEN_ROUTES = ("/healthz", "/readyz")  # probes of orchestrators and load balancers carry no key


class GuardAndMeasure:
    """Refuse requests without the API key (but /healthz and /readyz) and bodies over
    ``max_body_bytes`` (a declared Content-Length before reading; a chunked body as soon as
    it passes the limit); count and time every request. While ``closing()`` is true (the
    server is shutting down) every response says ``Connection: close``, so clients open
    their next request elsewhere instead of reusing a connection about to close."""

    def __init__(
        self,
        app: Any,
        metrics: ServeMetrics,
        api_key: str | None = None,
        max_body_bytes: int | None = None,
        closing: Callable[[], bool] | None = None,
    ):
        self.app, self.metrics, self.closing = app, metrics, closing
        self.key = api_key.encode() if api_key else None
        self.max_body = max_body_bytes

    def _too_large(self, scope: dict) -> bool:
        length = Headers(scope=scope).get("content-length", "")
        return bool(self.max_body and length.isdigit() and int(length) > self.max_body)

    def _too_large_response(self) -> JSONResponse:
        return JSONResponse(
            {"error": f"request body over {self.max_body} bytes (max_texts_per_request "
             "x max_chars_per_text allows no more): split the request",
             "limit": "max_body_bytes", "value": self.max_body},
            status_code=413,
        )  # fmt: skip

    async def _bounded(self, scope: dict, receive: Any, send: Any) -> None:
        """Run the app with a ``receive`` that counts body bytes however they are framed.

        Past the limit the client gets 413 at once and the app sees a disconnect, so a
        chunked body (no Content-Length) is never read whole; whatever the app answers
        after that is dropped.
        """
        received, answered = 0, False

        async def counted_receive() -> dict:
            nonlocal received, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    answered = True
                    await self._too_large_response()(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: dict) -> None:
            if not answered:
                await send(message)

        await self.app(scope, counted_receive, guarded_send)

    def _key_ok(self, scope: dict) -> bool:
        headers = Headers(scope=scope)
        auth = headers.get("authorization", "")
        given = headers.get("x-api-key") or (
            auth[7:] if auth.lower().startswith("bearer ") else None
        )
        if given is None and scope["path"] == "/":  # a browser cannot set headers on a link
            given = QueryParams(scope.get("query_string", b"")).get("api_key")
        return given is not None and hmac.compare_digest(given.encode(), self.key or b"")

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what a request that dies before answering counts as

        async def send_and_record(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if self.closing is not None and self.closing():
                    headers = [(k, v) for k, v in message.get("headers", []) if k != b"connection"]
                    message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        try:
            if self.key and scope["path"] not in OPEN_ROUTES and not self._key_ok(scope):
                response = JSONResponse(
                    {"error": "missing or wrong API key: send the header X-API-Key "
                     "(or open the page as /?api_key=...)"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )  # fmt: skip
                await response(scope, receive, send_and_record)
            elif self._too_large(scope):
                await self._too_large_response()(scope, receive, send_and_record)
            elif self.max_body:
                await self._bounded(scope, receive, send_and_record)
            else:
                await self.app(scope, receive, send_and_record)
        finally:
            route = scope["path"] if scope["path"] in ROUTES else "other"  # bounded labels
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)
