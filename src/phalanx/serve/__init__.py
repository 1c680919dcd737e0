"""``phalanx serve``: an HTTP classification service with micro-batching.

Needs the ``serve`` extra (``pip install 'phalanx[serve]'``: FastAPI, uvicorn,
prometheus-client); importing this package without it raises an ImportError saying so.

Example:
    >>> from phalanx.serve import BackgroundServer, ModelRegistry, ServeConfig, create_app
    >>> registry = ModelRegistry.load(["runs/demo/adapter"])  # doctest: +SKIP
    >>> with BackgroundServer(create_app(registry, ServeConfig())) as server:  # doctest: +SKIP
    ...     print(server.url)
"""

from __future__ import annotations

try:
    import fastapi  # noqa: F401
    import prometheus_client  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError(f"phalanx serve needs {err.name}: pip install 'phalanx[serve]'") from err

from .app import create_app
from .batching import MicroBatcher, QueueFullError
from .config import ServeConfig
from .models import ModelRegistry, ServedModel, parse_model_spec, resident_bytes
from .server import BackgroundServer, run_server

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
