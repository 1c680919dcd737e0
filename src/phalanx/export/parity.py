"""How close an export's outputs must be to PyTorch's (shared by export and quantization)."""

from __future__ import annotations

import numpy as np

__all__ = ["PARITY_TOLERANCE", "parity_diff"]

PARITY_TOLERANCE = 1e-3
"""fp32 logits and scores of the export vs PyTorch (scores above 1, regression values, relative
to their size); far above float noise, far below a broken graph."""


def parity_diff(got: np.ndarray, want: np.ndarray, relative: bool = False) -> float:
    """Max |got - want|; ``relative``: divided by max(1, |want|), for scores (probabilities
    stay absolute, a regression value in large units is compared to its size: float32
    keeps ~7 digits of 12345.6)."""
    if got.shape != want.shape:
        return float("inf")
    want = want.astype(np.float64)
    scale = np.maximum(1.0, np.abs(want)) if relative else 1.0
    return float((np.abs(got.astype(np.float64) - want) / scale).max(initial=0.0))
