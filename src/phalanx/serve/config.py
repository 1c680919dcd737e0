"""``ServeConfig``: the settings of ``phalanx serve`` (flags, YAML ``--config`` and code)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from ..validation import check_field_types

__all__ = ["ADAPTER_BATCHING", "RUNTIMES", "ServeConfig"]

RUNTIMES = ("auto", "torch", "onnx", "onnx-int8")
"""How ``phalanx serve`` runs an adapter folder (``--runtime``)."""
ADAPTER_BATCHING = ("mixed", "switch")
"""How requests for adapters sharing one base are batched (``--adapter-batching``)."""


@dataclass
class ServeConfig:
    """How the HTTP service listens, batches and limits requests."""

    models: list[str] = field(default_factory=list)
    """Adapter, run or export folders to serve, as PATH or NAME=PATH; the first is the default."""
    host: str = "127.0.0.1"
    """Address to bind (0.0.0.0 exposes the service to the network)."""
    port: int = 8000
    """TCP port (0: any free port)."""
    max_batch_size: int = 32
    """Texts gathered into one forward pass."""
    max_wait_ms: float = 5.0
    """How long the oldest request may wait for others to fill a batch."""
    batching: bool = True
    """Gather concurrent requests into batches (--no-batching runs them one at a time)."""
    max_texts_per_request: int = 64
    """Texts one request may hold (more: HTTP 413)."""
    max_chars_per_text: int = 4000
    """Characters one text may have after its template is applied (more: HTTP 413)."""
    max_queue: int = 1024
    """Requests that may wait at once per base model (more: HTTP 503)."""
    timeout_s: float = 60.0
    """A request still waiting for its result after this many seconds gets HTTP 504."""
    api_key: str | None = None
    """Require this key (header X-API-Key or Authorization: Bearer) on every route but
    /healthz; default: the PHALANX_API_KEY environment variable, if set."""
    device: str = "cpu"
    """cpu, cuda, cuda:1, ..."""
    dtype: str | None = None
    """float32, bfloat16, ... (default: fp32 on CPU, bf16 on CUDA)."""
    batch_size: int = 32
    """Rows per forward inside one model call (long batches are split)."""
    share_base: bool = True
    """Load adapters that name the same base onto one copy of it."""
    threads: int | None = None
    """Intra-op threads per model worker (default: the cores this process may use divided
    among the workers; ONNX Runtime's pool threads never spin, see benchmarks/RESULTS.md)."""
    workers: int | None = None
    """Model workers (ONNX Runtime sessions / forward threads) per model group, each on
    --threads threads (default: 1 on every core, measured fastest on 2 busy cores; or the
    cores divided by --threads)."""
    runtime: str = "auto"
    """auto, torch, onnx or onnx-int8: how adapter folders run (auto: int8 ONNX for a model
    that shares its base with no other, PyTorch where adapters share a base, or where an
    export fails: the reason is logged); the export is made once and cached beside the
    adapter folder (.phalanx-cache), or in ~/.cache/phalanx when that is not writable."""
    max_batch_tokens: int = 16384
    """Tokens (longest text x texts, as TEI counts them) one batch may hold, beside
    max_batch_size: long texts make smaller batches (TEI's default budget)."""
    adapter_batching: str = "switch"
    """switch: one forward per adapter, switching the shared base between them (measured
    faster on CPU, benchmarks/RESULTS.md); mixed: requests for adapters sharing a base run
    in one forward (exact; for many adapters with few rows each, e.g. on a GPU)."""
    retry_after_s: float = 1.0
    """Seconds a refused request (HTTP 503, queue full or shutting down) is told to wait."""
    shutdown_timeout_s: float = 30.0
    """On SIGTERM / Ctrl-C: how long requests in flight may take to finish."""

    def __post_init__(self) -> None:
        check_field_types(self, "serve config")
        checks = {
            "port": (self.port, 0, 65535),
            "max_batch_size": (self.max_batch_size, 1, None),
            "max_texts_per_request": (self.max_texts_per_request, 1, None),
            "max_chars_per_text": (self.max_chars_per_text, 1, None),
            "max_queue": (self.max_queue, 1, None),
            "batch_size": (self.batch_size, 1, None),
            "max_batch_tokens": (self.max_batch_tokens, 1, None),
        }
        for name, (value, low, high) in checks.items():
            if not isinstance(value, int) or isinstance(value, bool):
                raise InputError(f"{name} must be an integer, got {value!r}")
            if value < low or (high is not None and value > high):
                bound = f"between {low} and {high}" if high is not None else f">= {low}"
                raise InputError(f"{name} must be {bound}, got {value}")
        for name in ("threads", "workers"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value < 1):
                raise InputError(f"{name} must be >= 1 (or unset), got {value}")
        for name, choices in (("runtime", RUNTIMES), ("adapter_batching", ADAPTER_BATCHING)):
            if getattr(self, name) not in choices:
                raise InputError(
                    f"{name} {getattr(self, name)!r} is unknown; choose one of {', '.join(choices)}"
                )
        for name in ("retry_after_s", "shutdown_timeout_s"):
            if not float(getattr(self, name)) >= 0:
                raise InputError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= float(self.max_wait_ms) <= 10_000:
            raise InputError(f"max_wait_ms must be between 0 and 10000, got {self.max_wait_ms}")
        if not float(self.timeout_s) > 0:
            raise InputError(f"timeout_s must be > 0, got {self.timeout_s}")
        if self.api_key is not None and not str(self.api_key).strip():
            raise InputError("api_key is empty; give a non-empty key or leave it unset")
        if isinstance(self.models, str):
            self.models = [self.models]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServeConfig:
        """Build from a mapping (YAML, CLI); unknown keys are named in the error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InputError(
                f"unknown serve option {unknown[0]!r}; valid options: {', '.join(sorted(names))}"
            )
        return cls(**data)
