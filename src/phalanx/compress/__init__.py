"""Sparse transfer: SparseML-style recipes, pruning, distillation, quantization-aware training.

``compress(recipe=..., model=..., dataset=..., teacher=..., output=...)`` runs a recipe.
Names load on first use, so ``import phalanx.compress`` pulls in neither torch nor
transformers.

Example:
    >>> from phalanx.compress import compress
    >>> result = compress(recipe="examples/recipes/minilm_qat_int8.yaml",
    ...                   output="runs/qat")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["CompressConfig", "CompressResult", "compress", "load_recipe"]

_WHERE = {
    "CompressConfig": "config",
    "CompressResult": "run",
    "compress": "run",
    "load_recipe": "recipe",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'phalanx.compress' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
