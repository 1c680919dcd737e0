"""Run the app with uvicorn: in the foreground (the CLI) or on a background thread.

Both shut down gracefully: uvicorn stops accepting connections, the requests in flight are
answered (for up to the app's ``shutdown_timeout_s``), then the batchers stop. New requests
that reach the app meanwhile get 503 with ``Retry-After`` and ``Connection: close``.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from types import FrameType
from typing import Any

import uvicorn

__all__ = ["BackgroundServer", "run_server"]


def _lifecycle(app: Any) -> Any:
    """The app's ``Lifecycle`` (``create_app`` sets it), or None for another ASGI app."""
    return getattr(getattr(app, "state", None), "lifecycle", None)


class _Server(uvicorn.Server):
    """uvicorn's server that tells the app the moment a shutdown begins (SIGTERM, Ctrl-C),
    so requests that arrive before uvicorn closes their connection are refused cleanly."""

    def __init__(self, config: uvicorn.Config, lifecycle: Any = None) -> None:
        super().__init__(config)
        self.lifecycle = lifecycle

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.lifecycle is not None:
            self.lifecycle.begin_shutdown()  # sets attributes only: safe in a signal handler
        super().handle_exit(sig, frame)


def _config(app: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    life = _lifecycle(app)
    if life is not None:
        kwargs.setdefault("timeout_graceful_shutdown", float(life.config.shutdown_timeout_s))
    return kwargs


def run_server(app: Any, host: str = "127.0.0.1", port: int = 8000, **kwargs: Any) -> None:
    """Serve until SIGTERM / Ctrl-C, then finish the requests in flight and return.

    Raises the loader's error when the app's models fail to load (the server stops then);
    Ctrl-C ends in KeyboardInterrupt after the graceful shutdown, as uvicorn re-raises it.
    """
    config = uvicorn.Config(app, host=host, port=port, log_level="info", **_config(app, kwargs))
    life = _lifecycle(app)
    server = _Server(config, life)
    if life is not None:
        life.on_failure = lambda: setattr(server, "should_exit", True)
    main = threading.current_thread() is threading.main_thread()
    # uvicorn re-raises the signal it stopped on once it is done; SIGTERM's default action
    # would then kill the process (exit -15) after a clean shutdown, so it does nothing here
    previous = signal.signal(signal.SIGTERM, _ignore) if main else None
    try:
        server.run()
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
    if life is not None and life.error is not None:
        raise life.error


def _ignore(sig: int, frame: FrameType | None) -> None:
    """SIGTERM once uvicorn has shut down: already handled."""


class BackgroundServer:
    """The app on a background thread, on a free port of 127.0.0.1 unless told otherwise.

    Example:
        >>> with BackgroundServer(app) as server:  # doctest: +SKIP
        ...     httpx.get(server.url + "/readyz").json()
        {'status': 'ready', 'models': ['demo']}
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, **kwargs: Any):
        self.app, self.host = app, host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))  # bound here, so the port is known before the start
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", **_config(app, kwargs))
        self.server = _Server(config, _lifecycle(app))
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 60.0) -> BackgroundServer:
        """Start serving (the models of a loader may still be loading: see /readyz)."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the server thread ended before it started serving")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the server did not start within {timeout:g} s")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Shut down gracefully, as on SIGTERM: requests in flight are answered first."""
        life = _lifecycle(self.app)
        if life is not None:
            life.begin_shutdown()
        self.server.should_exit = True
        self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
