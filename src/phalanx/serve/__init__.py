"""``phalanx serve``: an HTTP classification service with micro-batching.

Needs the ``serve`` extra (``pip install 'phalanx[serve]'``: FastAPI, uvicorn,
prometheus-client). Names are imported on first use, so ``phalanx --help`` and
``ServeConfig`` work without the extra; the server's parts raise an ImportError saying
what to install.

Example:
    >>> from phalanx.serve import BackgroundServer, ModelRegistry, ServeConfig, create_app
    >>> registry = ModelRegistry.load(["runs/demo/adapter"])  # doctest: +SKIP
    >>> with BackgroundServer(create_app(registry, ServeConfig())) as server:  # doctest: +SKIP
    ...     print(server.url)
"""

from __future__ import annotations

import importlib
from typing import Any

from .config import ServeConfig

__all__ = [
    "BackgroundServer",
    "MicroBatcher",
    "ModelRegistry",
    "QueueFullError",
    "ServeConfig",
    "ServedModel",
    "create_app",
    "parse_model_spec",
    "resident_bytes",
    "run_server",
]

_WHERE = {
    "BackgroundServer": "server",
    "MicroBatcher": "batching",
    "ModelRegistry": "models",
    "QueueFullError": "batching",
    "ServedModel": "models",
    "create_app": "app",
    "parse_model_spec": "models",
    "resident_bytes": "models",
    "run_server": "server",
}


def require_serve_deps() -> None:
    """Raise an ImportError naming the extra when FastAPI, uvicorn or prometheus-client lack."""
    for name in ("fastapi", "uvicorn", "prometheus_client"):
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise ImportError(f"phalanx serve needs {name}: pip install 'phalanx[serve]'") from err


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'phalanx.serve' has no attribute {name!r}")
    if _WHERE[name] in ("app", "server"):
        require_serve_deps()
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
