"""Run the app with uvicorn: in the foreground (the CLI) or on a background thread."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

__all__ = ["BackgroundServer", "run_server"]


def run_server(app: Any, host: str = "127.0.0.1", port: int = 8000, **kwargs: Any) -> None:
    """Serve until Ctrl-C / SIGTERM (uvicorn finishes the requests in flight)."""
    config = uvicorn.Config(app, host=host, port=port, log_level="info", **kwargs)
    uvicorn.Server(config).run()


class BackgroundServer:
    """The app on a background thread, on a free port of 127.0.0.1 unless told otherwise.

    Example:
        >>> with BackgroundServer(app) as server:  # doctest: +SKIP
        ...     httpx.get(server.url + "/healthz").json()
        {'status': 'ok', 'models': 1}
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, **kwargs: Any):
        self.app, self.host = app, host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))  # bound here, so the port is known before the start
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", **kwargs)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 60.0) -> BackgroundServer:
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
        self.server.should_exit = True
        self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
