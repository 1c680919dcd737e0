"""Batch inference: classify a table of any size, streamed in chunks, on every core or Ray.

``BatchPredictor`` (``predict``) turns input rows into output rows with one model copy;
the engines run it over a file (``phalanx classify MODEL --input F --output O``) or a Ray
Dataset (``classify_dataset``, the ``ray`` extra).
"""

from __future__ import annotations

from .predict import ON_ERROR, BatchPredictor, RowError
from .report import BatchReport

__all__ = ["ON_ERROR", "BatchPredictor", "BatchReport", "RowError"]
