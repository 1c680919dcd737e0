"""Sparse transfer: SparseML-style recipes, pruning, distillation, quantization-aware training.

``phalanx.compress(recipe=..., model=..., dataset=..., teacher=..., output=...)`` runs a
recipe (see ``phalanx.compress.run.compress``). The package itself is callable so that
``phalanx.compress`` is both this package and the API function; its modules (and torch /
transformers) load only when used.

Example:
    >>> import phalanx
    >>> result = phalanx.compress(recipe="examples/recipes/minilm_qat_int8.yaml",
    ...                           output="runs/qat")  # doctest: +SKIP
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallableModule(types.ModuleType):
    # a plain function named ``compress`` in phalanx/__init__ would be replaced by this
    # package the first time any ``phalanx.compress.*`` module is imported
    def __call__(self, config: Any = None, **options: Any) -> Any:
        from .run import compress

        return compress(config, **options)


sys.modules[__name__].__class__ = _CallableModule
