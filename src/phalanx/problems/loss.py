"""Training losses per problem type, computed in fp32 whatever the model's dtype.

single_label: cross-entropy; multi_label: binary cross-entropy per label on the logits
(sigmoid inside, numerically stable), with an optional ``pos_weight`` per label for rare
ones; regression: mean squared error, or Huber (``smooth_l1`` with ``beta=1``) on the
(normalised) targets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import InputError
from .types import Problem

__all__ = ["LOSSES", "ProblemLoss", "pos_weights"]

LOSSES = {
    "single_label": ("cross_entropy",),
    "multi_label": ("bce",),
    "regression": ("mse", "huber"),
}


class ProblemLoss:
    """``loss(logits, labels)`` for ``problem``; labels as the collator batches them (class
    ids, multi-hot floats [N, L], or float targets [N])."""

    def __init__(
        self, problem: Problem, kind: str | None = None, pos_weight: Sequence[float] | None = None
    ) -> None:
        kind = kind or LOSSES[problem.type][0]
        if kind not in LOSSES[problem.type]:
            raise InputError(
                f"loss {kind!r} does not apply to {problem.type}; use one of "
                f"{', '.join(LOSSES[problem.type])}"
            )
        if pos_weight is not None and problem.type != "multi_label":
            raise InputError("pos_weight applies to multi_label training only")
        self.problem, self.kind = problem, kind
        self.pos_weight = None if pos_weight is None else torch.tensor(pos_weight).float()

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        if self.kind == "cross_entropy":
            return F.cross_entropy(logits, labels.long())
        if self.kind == "bce":
            weight = None if self.pos_weight is None else self.pos_weight.to(logits.device)
            return F.binary_cross_entropy_with_logits(logits, labels.float(), pos_weight=weight)
        target = labels.float().view(-1, 1) if logits.dim() == 2 else labels.float()
        target = target.expand_as(logits) if target.shape != logits.shape else target
        if self.kind == "huber":
            return F.smooth_l1_loss(logits, target, beta=1.0)
        return F.mse_loss(logits, target)


def pos_weights(multi_hot: Any, cap: float = 100.0) -> list[float]:
    """``negatives / positives`` per label of the training targets [N, L] (0/1), capped at
    ``cap`` (a label seen once would otherwise weigh thousands of times its negatives);
    a label never positive gets 1."""
    y = torch.as_tensor(multi_hot, dtype=torch.float32)
    pos = y.sum(0)
    neg = y.shape[0] - pos
    w = torch.where(pos > 0, neg / pos.clamp(min=1), torch.ones_like(pos))
    return w.clamp(min=1e-3, max=cap).tolist()
