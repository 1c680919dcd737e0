"""Prometheus metrics of one server: requests, latency, batch sizes, queue depth."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["ServeMetrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class ServeMetrics:
    """The metrics, on a registry of their own so several servers can live in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "phalanx_requests",
            "HTTP requests by route and status code",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "phalanx_request_latency_seconds",
            "Time from receiving a request to its response, by route",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "phalanx_batch_size",
            "Texts per forward pass, by model",
            ["model"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "phalanx_batch_seconds",
            "Time of one forward pass, by model",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.texts = Counter(
            "phalanx_texts", "Texts classified, by model", ["model"], registry=self.registry
        )
        self.queue = Gauge(
            "phalanx_queue_requests",
            "Requests waiting for a batch, by base group",
            ["group"],
            registry=self.registry,
        )

    def on_batch(self, model: str, texts: int, seconds: float) -> None:
        self.batch_size.labels(model).observe(texts)
        self.batch_seconds.labels(model).observe(seconds)
        self.texts.labels(model).inc(texts)
