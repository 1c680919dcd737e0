"""SpaRTA configuration: how many scalars train, which tensors may hold them, the seed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ...errors import InputError
from ..base import MethodConfig

__all__ = ["DEFAULT_DENSITY", "SpaRTAConfig", "SpaRTAMethodConfig"]

DEFAULT_DENSITY = 0.01


@dataclass
class SpaRTAMethodConfig(MethodConfig):
    """Settings of a SpaRTA adapter.

    Give either ``sparsity`` (peft-sparta's definition) or ``density``; with neither,
    ``density`` defaults to 1%.

    Example:
        >>> SpaRTAMethodConfig(density=0.005, seed=1).density
        0.005
    """

    sparsity: float | None = None
    """Frozen fraction of *all* model parameters, in (0, 1), as peft-sparta defines it: the
    head is taken fully and the rest of the budget is spread uniformly over eligible tensors."""
    density: float | None = None
    """Fraction of each eligible tensor's scalars that train, in (0, 1]."""
    target_modules: list[str] | str | None = None
    """Modules whose weights are eligible: a list of names matched as suffixes, or one regex
    (full match). Default: from the architecture table (decoders: v/o projections; encoders:
    every encoder Linear)."""
    frozen_modules: list[str] | None = None
    """peft-sparta selection instead of ``target_modules``: every parameter whose name contains
    none of these strings is eligible (weights, biases, norms alike)."""
    head_modules: list[str] | None = None
    """Modules trained fully (the classification head). Default: from the architecture table."""
    dropout: float = 0.0
    """Inverted dropout on the deltas during training, in [0, 1)."""
    seed: int = 42
    """Seed of the index selection: same seed and model give the same indices."""
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    """Free-form fields carried into the metadata file."""

    method_name: ClassVar[str] = "sparta"
    # best validation accuracy on MiniLM / rotten_tomatoes of 1e-3, 2e-3, 3e-3, 5e-3
    default_lr: ClassVar[float] = 3e-3

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sparsity is not None and self.density is not None:
            raise InputError(
                f"give either sparsity ({self.sparsity}) or density ({self.density}), not both"
            )
        if self.sparsity is not None and not 0.0 < self.sparsity < 1.0:
            raise InputError(f"sparsity must be in (0, 1), got {self.sparsity}")
        if self.density is not None and not 0.0 < self.density <= 1.0:
            raise InputError(f"density must be in (0, 1], got {self.density}")
        if self.sparsity is None and self.density is None:
            self.density = DEFAULT_DENSITY
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"dropout must be in [0, 1), got {self.dropout}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise InputError(f"seed must be an integer, got {self.seed!r}")
        if self.target_modules is not None and self.frozen_modules is not None:
            raise InputError("give either target_modules or frozen_modules, not both")


SpaRTAConfig = SpaRTAMethodConfig
"""The name ``SpaRTAMethodConfig`` had before every method config took the same suffix."""
