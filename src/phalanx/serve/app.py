"""The FastAPI application: classify, models, health, metrics, docs and a small page.

Errors are JSON objects with an ``error`` message (and the ``limit`` or ``known_models``
that explain it): 401 without the API key, 404 for an unknown model, 413 past a size limit,
422 for malformed JSON / wrong types / empty lists / inputs that do not fit the template,
503 with ``Retry-After`` while the models load, when a model has ``max_queue`` requests in
flight, and once the server is shutting down (``phalanx.serve.lifecycle``), 504 when a
result takes longer than ``timeout_s``, and 500 with
the ``model`` named when a model gives scores that are not finite (NaN / inf) or not of
its shape: that is a broken model (its weights or dtype), not a bad request, so it is never
turned into a label.

Each model answers in the shape of its problem type (``phalanx.serve.schemas``); ``/v1/models``
lists every model's ``problem_type`` (and multi_label thresholds), so several models of
different types can be served, and batched, side by side.
"""

from __future__ import annotations

import asyncio
import logging
import os
from contextlib import asynccontextmanager
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import ModelOutputError
from ..inference.records import prediction_records
from .batching import QueueFullError
from .config import ServeConfig
from .lifecycle import Lifecycle, Loader
from .metrics import ServeMetrics
from .middleware import GuardAndMeasure
from .models import ModelRegistry, problem_info
from .page import PAGE_HTML
from .schemas import ClassifyRequest, ClassifyResponse

__all__ = ["ClassifyRequest", "create_app"]

log = logging.getLogger(__name__)


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def create_app(registry: ModelRegistry | Loader, config: ServeConfig | None = None) -> FastAPI:
    """The service over ``registry``: loaded models, or a callable that loads them (run on
    a thread once the server starts, so it listens meanwhile: ``/readyz`` says when the
    models are in). Run it with uvicorn (see ``phalanx.serve.server``).

    Example:
        >>> app = create_app(ModelRegistry.load(["runs/demo/adapter"]))  # doctest: +SKIP
        >>> app = create_app(lambda: ModelRegistry.load(["runs/demo/adapter"]))  # doctest: +SKIP
        >>> uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
    """
    config = config or ServeConfig()
    metrics = ServeMetrics()
    api_key = config.api_key or os.environ.get("PHALANX_API_KEY") or None
    life = Lifecycle(registry, config, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await life.start()
        yield
        await life.stop()

    app = FastAPI(
        title="phalanx",
        description="Text classification with parameter-efficient adapters.",
        version=_version(),
        lifespan=lifespan,
    )
    app.state.config, app.state.metrics, app.state.lifecycle = config, metrics, life

    # the largest valid body: every text at the limit, escaped (6 bytes/char at worst)
    max_body = config.max_texts_per_request * (6 * config.max_chars_per_text + 64) + 4096
    app.add_middleware(
        GuardAndMeasure,
        metrics=metrics,
        api_key=api_key,
        max_body_bytes=max_body,
        closing=lambda: life.phase == "stopping",
    )
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    _add_classify(app, life)
    _add_info_routes(app, life)
    return app


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with one readable message (plus pydantic's details) for a malformed request."""
    errors = jsonable_encoder(exc.errors(), exclude={"input", "url"})
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        why = (first.get("ctx") or {}).get("error", "")
        return _error(422, f"malformed JSON: {why}".rstrip(": "), detail=errors)
    # drop the body prefix and pydantic's union-member tags (texts.0.str -> texts.0)
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    union = bool(loc) and (loc[-1] == "str" or loc[-1].startswith("dict["))
    where = ".".join(loc[:-1] if union else loc) or "body"
    msg = "give a string or an object of strings" if union else first.get("msg", "malformed")
    return _error(422, f"invalid request: {where}: {msg}", detail=errors)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Every HTTP error as ``{"error": ...}``; a body FastAPI could not parse (400) is 422."""
    if exc.status_code == 400:
        return _error(422, f"malformed JSON: {_unparsable(exc.__cause__)}")
    return JSONResponse(
        {"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
    )


def _unparsable(cause: BaseException | None) -> str:
    """Why a body that is not plain invalid JSON could not be read."""
    if isinstance(cause, RecursionError):
        return "nested too deeply"
    if isinstance(cause, UnicodeDecodeError):
        return f"the body is not UTF-8 (bad byte at offset {cause.start})"
    if isinstance(cause, ValueError) and "digits" in str(cause):
        return "a number has too many digits"
    return "the body could not be read as JSON"


def _add_classify(app: FastAPI, life: Lifecycle) -> None:
    config = life.config

    @app.post("/v1/classify", response_model=ClassifyResponse)
    async def classify(body: ClassifyRequest):
        """One result per text, in input order, in the model's shape (``problem_type``):
        its label, score and every label's probability (single_label); the labels at or
        above their thresholds and each label's own probability (multi_label); the value
        (regression)."""
        refusal = life.refusal()
        if refusal is not None:
            return refusal
        registry = cast(ModelRegistry, life.registry)  # set once ready
        model, refusal = _accept(body, registry, config)
        if refusal is not None:
            return refusal
        try:
            with life.admit(model):
                scores = await asyncio.wait_for(
                    life.batchers[model.group].submit(model, body.texts), config.timeout_s
                )
        except QueueFullError as err:
            return life.busy(
                f"server busy: {err}; retry in {life.retry_after} s",
                limit="max_queue",
                value=config.max_queue,
            )
        except TimeoutError:
            return _error(504, f"no result within timeout_s={config.timeout_s:g} s")
        except ModelOutputError as err:  # the model is broken, not the request
            log.error("model %s: %s", model.name, err)
            return _error(500, f"model {model.name!r} is broken: {err}", model=model.name)
        except RuntimeError:
            if life.phase != "stopping":  # a failed batch: a 500, as any server error
                raise
            # past shutdown_timeout_s the batcher stopped under this request
            return life.busy("the server shut down before this request was answered")
        results = prediction_records(scores, model.labels, problem=model.problem)
        life.answered_ok += 1
        # a Response skips FastAPI re-validating the dict against ClassifyResponse (docs only)
        return JSONResponse(
            {
                "model": model.name,
                **problem_info(model.problem, model.labels),
                "labels": model.labels,
                "results": results,
            }
        )


def _accept(
    body: ClassifyRequest, registry: ModelRegistry, config: ServeConfig
) -> tuple[Any, JSONResponse | None]:
    """(the model, None) for a request within the limits, else (None, the error response)."""
    try:
        model = registry.get(body.model)
    except KeyError:
        return None, _error(
            404,
            f"unknown model {body.model!r}; known models: {', '.join(registry.models)}",
            known_models=list(registry.models),
        )
    if len(body.texts) > config.max_texts_per_request:
        return None, _error(
            413,
            f"{len(body.texts)} texts in one request; the limit max_texts_per_request is "
            f"{config.max_texts_per_request}: split the request",
            limit="max_texts_per_request",
            value=config.max_texts_per_request,
        )
    try:
        rendered = model.render(body.texts)
    except (ValueError, KeyError, TypeError) as err:
        return None, _error(422, f"invalid input: {err.args[0] if err.args else err}")
    for i, text in enumerate(rendered):
        if len(text) > config.max_chars_per_text:
            return None, _error(
                413,
                f"text {i} has {len(text)} characters; the limit max_chars_per_text is "
                f"{config.max_chars_per_text}",
                limit="max_chars_per_text",
                value=config.max_chars_per_text,
            )
    return model, None


def _add_info_routes(app: FastAPI, life: Lifecycle) -> None:
    @app.get("/v1/models")
    async def models() -> Any:
        """The loaded models: their labels, problem type (and multi_label thresholds, one
        per label), and which base each one shares (503 until they are loaded)."""
        refusal = life.refusal()
        if refusal is not None or life.registry is None:
            return refusal
        return {
            "default": life.registry.default,
            "models": [m.describe() for m in life.registry.models.values()],
        }

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """Liveness: 200 while the process serves HTTP, models loaded or not (``ready``,
        ``state``); answers without the API key."""
        loaded = len(life.registry.models) if life.registry is not None else 0
        return {
            "status": "ok",
            "state": life.phase,
            "ready": life.phase == "ready",
            "models": loaded,
        }

    @app.get("/readyz")
    async def readyz() -> Any:
        """Readiness: 200 with the model names once every model is loaded and its batcher
        started; 503 while loading (with ``Retry-After``), after a failed load, and once
        shutting down. Answers without the API key."""
        refusal = life.refusal()
        if refusal is not None or life.registry is None:
            return refusal
        return {"status": "ready", "models": list(life.registry.models)}

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(generate_latest(life.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(PAGE_HTML)


def _version() -> str:
    from .. import __version__

    return __version__
