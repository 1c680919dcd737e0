"""Unstructured magnitude pruning: masks that keep pruned weights exactly zero.

A ``MaskSet`` holds one boolean mask per pruned weight (True = kept). It zeroes the pruned
positions in place, masks their gradients during backward (so clipping and Adam's moments
never see them) and is re-applied after every optimizer step, so weight decay or a stale
optimizer moment cannot move a pruned weight off zero.

We do not use ``torch.nn.utils.prune``: it re-parametrises ``weight`` as
``weight_orig * weight_mask``, which changes the parameters the optimizer holds when gradual
pruning adds a mask mid-training and changes the names in the saved state dict. Masking the
weight in place (as SparseML did) keeps a plain transformers model throughout.

Example:
    >>> params = prunable_parameters(model, "__ALL_PRUNABLE__")  # doctest: +SKIP
    >>> masks = MaskSet(params)  # doctest: +SKIP
    >>> masks.set_sparsity(0.8, global_sparsity=False)  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn as nn

from ..models.archs import arch_spec
from .modifiers import ALL_PRUNABLE

__all__ = [
    "MaskSet",
    "magnitude_masks",
    "prunable_parameters",
    "sparsity_report",
]


def _all_prunable(model: nn.Module) -> dict[str, nn.Parameter]:
    """Every Linear weight outside the classification head (the head includes BERT's pooler).

    Embeddings are ``nn.Embedding``, not ``nn.Linear``, so they are never selected.
    """
    heads = arch_spec(model).head
    out = {}
    for name, module in model.named_modules():
        if not isinstance(module, nn.Linear):
            continue
        if any(name == h or name.startswith(h + ".") for h in heads):
            continue
        out[f"{name}.weight"] = module.weight
    return out


def prunable_parameters(
    model: nn.Module, params: str | Iterable[str] = ALL_PRUNABLE
) -> dict[str, nn.Parameter]:
    """The weights a pruning modifier acts on, by exact name, ``re:REGEX`` or ALL_PRUNABLE.

    >>> sorted(prunable_parameters(tiny_bert, ["re:.*query.weight"]))  # doctest: +SKIP
    ['bert.encoder.layer.0.attention.self.query.weight', ...]
    """
    if params == ALL_PRUNABLE:
        found = _all_prunable(model)
        if not found:
            raise ValueError(f"{type(model).__name__} has no Linear weight outside its head")
        return found
    named = dict(model.named_parameters())
    out: dict[str, nn.Parameter] = {}
    for entry in [params] if isinstance(params, str) else list(params):
        if entry == ALL_PRUNABLE:
            out.update(_all_prunable(model))
        elif entry.startswith("re:"):
            pattern = re.compile(entry[3:])
            hits = {n: p for n, p in named.items() if pattern.fullmatch(n)}
            if not hits:
                raise ValueError(
                    f"pruning params {entry!r} matches no parameter (regexes must match the "
                    f"whole name, e.g. {next(iter(_all_prunable(model)), 'encoder...weight')!r})"
                )
            out.update(hits)
        elif entry in named:
            out[entry] = named[entry]
        else:
            examples = ", ".join(list(_all_prunable(model))[:2])
            raise ValueError(
                f"pruning params names {entry!r}, which the model does not have; use full "
                f"parameter names (e.g. {examples}), 're:REGEX' or {ALL_PRUNABLE}"
            )
    return out


@torch.no_grad()
def magnitude_masks(
    params: dict[str, torch.Tensor], sparsity: float, *, global_sparsity: bool = False
) -> dict[str, torch.Tensor]:
    """Keep-masks zeroing the ``sparsity`` fraction of smallest |w|, per tensor or jointly.

    Exactly ``round(sparsity * n)`` positions are pruned (ties broken by position), so the
    reached sparsity does not depend on how many weights happen to be equal.
    """
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    if global_sparsity:
        flat = torch.cat([p.detach().abs().reshape(-1).float().cpu() for p in params.values()])
        keep = _keep_mask(flat, sparsity)
        out, offset = {}, 0
        for name, p in params.items():
            out[name] = keep[offset : offset + p.numel()].view_as(p).to(p.device)
            offset += p.numel()
        return out
    return {
        name: _keep_mask(p.detach().abs().reshape(-1).float(), sparsity).view_as(p)
        for name, p in params.items()
    }


def _keep_mask(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    n_prune = round(sparsity * scores.numel())
    keep = torch.ones_like(scores, dtype=torch.bool)
    if n_prune:
        # stable sort: equal magnitudes (e.g. weights already at zero) go in index order
        order = torch.sort(scores, stable=True).indices
        keep[order[:n_prune]] = False
    return keep


class MaskSet:
    """Masks over named weights: apply in place, mask gradients, report sparsity."""

    def __init__(self, params: dict[str, nn.Parameter]):
        self.params = params
        self.masks: dict[str, torch.Tensor] = {}
        self._hooks: list[Any] = []
        self._hooked = False

    @torch.no_grad()
    def set_masks(self, masks: dict[str, torch.Tensor]) -> None:
        unknown = sorted(set(masks) - set(self.params))
        if unknown:
            raise ValueError(f"masks for unknown parameters {unknown[:3]}")
        self.masks = {n: m.to(self.params[n].device, torch.bool) for n, m in masks.items()}
        if not self._hooked:
            self._hooked = True
            for name, p in self.params.items():
                if p.requires_grad:  # frozen weights (under SpaRTA) get no gradient to mask
                    self._hooks.append(p.register_hook(self._grad_hook(name)))
        self.apply()

    def set_sparsity(self, sparsity: float, *, global_sparsity: bool = False) -> None:
        """Prune the smallest weights to ``sparsity`` (of the current values)."""
        self.set_masks(magnitude_masks(self.params, sparsity, global_sparsity=global_sparsity))

    def keep_zeros(self) -> None:
        """Masks from the weights' current zeros (ConstantPruningModifier)."""
        self.set_masks({n: p.detach() != 0 for n, p in self.params.items()})

    def _grad_hook(self, name: str):
        def hook(grad: torch.Tensor) -> torch.Tensor:
            mask = self.masks.get(name)
            return grad if mask is None else grad * mask.to(grad.dtype)

        return hook

    @torch.no_grad()
    def apply(self) -> None:
        """Zero every pruned position (after each optimizer step)."""
        for name, mask in self.masks.items():
            self.params[name].mul_(mask.to(self.params[name].dtype))

    def remove(self) -> None:
        """Stop enforcing the masks (the zeros stay until training moves them)."""
        for h in self._hooks:
            h.remove()
        self._hooks, self.masks, self._hooked = [], {}, False

    def sparsity(self) -> float:
        zeros = sum(int((p == 0).sum()) for p in self.params.values())
        return zeros / max(sum(p.numel() for p in self.params.values()), 1)


def sparsity_report(model: nn.Module, params: str | Iterable[str] = ALL_PRUNABLE) -> dict:
    """Per-weight and overall fraction of exact zeros (written to sparsity.json)."""
    chosen = prunable_parameters(model, params)
    layers = {n: round(float((p == 0).float().mean()), 6) for n, p in chosen.items()}
    zeros = sum(int((p == 0).sum()) for p in chosen.values())
    total = sum(p.numel() for p in chosen.values())
    return {
        "overall": round(zeros / max(total, 1), 6),
        "zeros": zeros,
        "numel": total,
        "layers": layers,
    }
