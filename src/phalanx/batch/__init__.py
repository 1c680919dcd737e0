"""Batch inference: classify a table of any size, streamed in chunks, on every core or Ray.

``BatchPredictor`` (``predict``) turns input rows into output rows with one model copy;
``classify_file`` (``engine``) runs it over a file, streamed by chunks through N workers,
resumable (``phalanx classify MODEL --input F --output O``); ``classify_dataset`` runs it
over a Ray Dataset (``ray_engine``, the ``ray`` extra, imported on first use).

Example:
    >>> from phalanx.batch import classify_file
    >>> report = classify_file("runs/demo/adapter", "reviews.csv", "out.parquet")  # doctest: +SKIP
    >>> print(report.summary())  # doctest: +SKIP
    wrote 8530 rows to out.parquet in 21.4 s (398.6 rows/s); labels: positive 4301 (50.4%), ...
"""

from __future__ import annotations

from typing import Any

from .engine import DEFAULT_CHUNK_SIZE, classify_file
from .predict import ON_ERROR, BatchPredictor, RowError
from .report import BatchReport

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "ON_ERROR",
    "BatchPredictor",
    "BatchReport",
    "RowError",
    "classify_dataset",
    "classify_file",
]


def __getattr__(name: str) -> Any:
    """``classify_dataset`` comes from ``ray_engine`` on first use (Ray is optional)."""
    if name == "classify_dataset":
        from .ray_engine import classify_dataset

        return classify_dataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
