"""``phalanx serve``: the command-line entry of the HTTP service.

Kept free of FastAPI imports, so ``phalanx --help`` works without the ``serve`` extra.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from typing import Any

from ..serve.config import ServeConfig
from .args import CliError, add_dataclass_arguments, given
from .common import AddParser

__all__ = ["add"]

log = logging.getLogger("phalanx.serve")

_HELP = "serve adapters over HTTP (micro-batched)"
_DESCRIPTION = (
    "Serve adapter or export folders over HTTP. Concurrent requests are gathered into "
    "batches; adapters that name the same base share one copy of it in memory. Each model "
    "answers in the shape of its problem type (single-label: label, score, probabilities; "
    "multi-label: labels, per-label probabilities; regression: value); /v1/models lists "
    "each one's problem_type and multi-label thresholds."
)
_EXAMPLES = """\
examples:
  phalanx serve runs/demo/adapter                        # http://127.0.0.1:8000
  phalanx serve pos=runs/a/adapter topic=runs/b --port 9000 --max-batch-size 64
  PHALANX_API_KEY=secret phalanx serve runs/demo          # all but /healthz, /readyz need it
  phalanx serve --config serve.yaml                       # models: [...], port: ..., ...
  phalanx serve me/sentiment-sparta --revision v1         # a Hub repo, downloaded once
  curl -s localhost:8000/v1/classify -H 'Content-Type: application/json' \\
      -d '{"texts": ["a charming journey"]}'
routes: POST /v1/classify, GET /v1/models, /healthz (live), /readyz (models loaded),
  /metrics, /docs, / (a page to try it)
the server listens at once and loads the models in the background: /healthz answers 200
from the start, /readyz 503 until every model is in (then 200). A model with --max-queue
requests in flight answers 503 with Retry-After; SIGTERM or Ctrl-C finishes the requests
in flight (for up to --shutdown-timeout-s), refuses new ones with 503, then exits 0.
"""


def add(sub: argparse._SubParsersAction, add_parser: AddParser) -> None:
    """Register ``phalanx serve``."""
    add_parser(sub, "serve", _HELP, _DESCRIPTION, _EXAMPLES, run=_cmd_serve, build=_arguments)


def _arguments(p: argparse.ArgumentParser) -> None:
    from ..training.config import field_docs

    docs = field_docs(ServeConfig)
    p.add_argument(
        "models", nargs="*", metavar="PATH", help=docs["models"], default=argparse.SUPPRESS
    )
    add_dataclass_arguments(p, _flag_fields(), docs)
    p.add_argument(
        "--revision", metavar="REV", default=argparse.SUPPRESS,
        help="branch, tag or commit of the models given by Hub repo id (user/repo)",
    )  # fmt: skip


def _flag_fields() -> type:
    """ServeConfig's fields but ``models`` (a positional argument, not a flag)."""
    return dataclasses.make_dataclass(
        "ServeFlags",
        [(f.name, f.type, _copy(f)) for f in dataclasses.fields(ServeConfig) if f.name != "models"],
    )


def _copy(f: dataclasses.Field) -> Any:
    return dataclasses.field(default=f.default, default_factory=f.default_factory)


def _cmd_serve(args: argparse.Namespace) -> int:
    options = given(args)
    models = options.pop("models", None) or []
    revision = options.pop("revision", None)
    if isinstance(models, str):
        models = [models]
    if not models:
        raise CliError("give at least one adapter, run or export folder: phalanx serve PATH")
    config = ServeConfig.from_dict({**options, "models": list(models)})
    if revision is not None:
        _check_revision(config.models, revision)
    from ..serve import require_serve_deps

    require_serve_deps()  # before loading models: an ImportError is a one-line exit 2
    from ..serve.app import create_app
    from ..serve.models import ModelRegistry
    from ..serve.server import run_server

    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    _check_local_folders(config.models)  # a wrong path fails at once, before listening
    if config.host not in ("127.0.0.1", "localhost", "::1") and not config.api_key:
        log.warning(
            "listening on %s without --api-key: anyone who reaches it can use it", config.host
        )

    def load() -> ModelRegistry:  # on a thread, while the server already answers /healthz
        return ModelRegistry.from_config(config, revision=revision)

    try:
        # a load failure stops the server and is raised here: a one-line error, exit 2
        run_server(create_app(load, config), host=config.host, port=config.port)
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its graceful shutdown
        log.info("stopped")
    return 0


def _check_local_folders(models: list[str]) -> None:
    """Each local model path is an adapter, run or export folder (Hub ids load later)."""
    from ..folder import resolve_folder
    from ..hub import is_hub_id
    from ..serve.models import parse_model_spec

    for spec in models:
        path = parse_model_spec(spec)[1]
        if path.exists() or not is_hub_id(str(path)):
            resolve_folder(path)


def _check_revision(models: list[str], revision: str) -> None:
    """``--revision`` needs a model given by Hub repo id (a local folder wins over one)."""
    from ..hub import is_hub_id
    from ..serve.models import parse_model_spec

    paths = [parse_model_spec(spec)[1] for spec in models]
    if not any(is_hub_id(str(p)) and not p.exists() for p in paths):
        raise CliError(
            f"--revision {revision} applies to models given by Hub repo id (user/repo); "
            "every model here is a local folder"
        )
