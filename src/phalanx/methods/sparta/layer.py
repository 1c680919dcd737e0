"""Sparse-delta mechanics: fp32 deltas on chosen scalars of one frozen tensor.

The frozen weight ``W`` is kept *merged in place*: ``W[idx] = W0[idx] + delta`` (``W0[idx]`` is
stored, so unmerging restores the original bits). In a training forward the module sees an
alias of ``W`` that is connected to ``delta`` by ``_GatherGrad``: autograd computes the dense
``dL/dW`` once, transiently, and ``_GatherGrad`` keeps only ``dL/dW[idx]``. No copy of ``W`` is
made per forward or saved for backward, and the merge itself touches only ``n`` scalars.
"""

from __future__ import annotations

import zlib

import torch
import torch.nn as nn

__all__ = ["SparseDelta", "attach", "detach", "drop_pruned_positions", "sample_indices"]

_CHUNK = 1 << 24  # rand() in chunks keeps selection on huge embeddings within memory


def sample_indices(numel: int, keep_prob: float, seed: int, name: str) -> torch.Tensor:
    """Flat, sorted int64 positions, each kept with probability ``keep_prob``.

    The generator is seeded from ``seed`` and the tensor name, so a tensor's selection does
    not depend on the order or device in which tensors are visited.
    """
    if keep_prob >= 1.0:
        return torch.arange(numel)
    if keep_prob <= 0.0:
        return torch.empty(0, dtype=torch.long)
    gen = torch.Generator().manual_seed((seed * 1_000_003 + zlib.crc32(name.encode())) % 2**63)
    parts = []
    for start in range(0, numel, _CHUNK):
        mask = torch.rand(min(_CHUNK, numel - start), generator=gen) < keep_prob
        parts.append(mask.nonzero().squeeze(1) + start)
    return torch.cat(parts)


class _GatherGrad(torch.autograd.Function):
    """Identity on ``weight`` whose backward routes ``grad[idx] * scale`` to ``delta``."""

    @staticmethod
    def forward(ctx, delta, weight, idx, scale):
        ctx.save_for_backward(idx, scale)
        return weight.view_as(weight)

    @staticmethod
    def backward(ctx, grad):
        idx, scale = ctx.saved_tensors
        g = grad.reshape(-1).index_select(0, idx).float()
        if scale.numel():
            g = g * scale
        return g, None, None, None


class SparseDelta(nn.Module):
    """Trainable deltas on positions ``indices`` (flat) of ``owner.<param_name>``."""

    adapter_layer_names = ("delta",)

    def __init__(self, owner: nn.Module, param_name: str, indices: torch.Tensor, dropout: float):
        super().__init__()
        weight = getattr(owner, param_name)
        if not weight.is_contiguous():
            raise ValueError(f"SpaRTA needs contiguous weights; {param_name} is not")
        indices = indices.to(weight.device)
        self.delta = nn.Parameter(torch.zeros(indices.numel(), device=weight.device))
        self.register_buffer("indices", indices, persistent=False)
        self.register_buffer("original", weight.detach().reshape(-1)[indices].clone(), False)
        self.register_buffer("_no_scale", torch.empty(0, device=weight.device), False)
        self.param_name = param_name
        self.dropout = dropout
        self.enabled = True
        self._unmerged = True  # the weight holds the original values
        # plain attribute, not a submodule: the owner must not become our child
        self.__dict__["_owner"] = owner
        # the deltas as last merged: comparing values (not delta._version) also catches
        # optimizers whose fused kernels update parameters without bumping their version
        self._merged: torch.Tensor | None = None

    @property
    def weight(self) -> nn.Parameter:
        return self.__dict__["_owner"]._parameters[self.param_name]

    def extra_repr(self) -> str:
        return f"{self.param_name}: {self.delta.numel()} of {self.weight.numel()}"

    @torch.no_grad()
    def _write(self, values: torch.Tensor) -> None:
        self.weight.detach().view(-1).index_copy_(0, self.indices, values.to(self.weight.dtype))

    @torch.no_grad()
    def merge(self, scale: torch.Tensor | None = None) -> None:
        """Write ``W0[idx] + delta`` (times a dropout scale) into the weight."""
        d = self.delta.detach()
        self._write(self.original.float() + (d * scale if scale is not None else d))
        self._merged = None if scale is not None else d.clone()
        self._unmerged = False

    @torch.no_grad()
    def unmerge(self) -> None:
        """Restore the original bits of the chosen positions."""
        self._write(self.original)
        self._merged = None
        self._unmerged = True

    @torch.no_grad()
    def keep(self, mask: torch.Tensor) -> int:
        """Keep only the positions where ``mask`` (bool, one per position) is True; returns
        how many were dropped. The deltas must be untrained (all zero): dropping a position
        changes which scalars train."""
        mask = mask.to(device=self.indices.device, dtype=torch.bool).reshape(-1)
        if mask.numel() != self.indices.numel():
            raise ValueError(
                f"keep: the mask has {mask.numel()} entries for {self.indices.numel()} "
                f"positions of {self.param_name}; give one per position"
            )
        if bool(self.delta.detach().any()):
            raise ValueError(
                f"keep: the deltas of {self.param_name} are trained; choose positions before "
                "training (a trained delta would be lost)"
            )
        dropped = int((~mask).sum())
        if dropped:
            self.unmerge()
            self.indices = self.indices[mask]
            self.original = self.original[mask]
            self.delta = nn.Parameter(
                torch.zeros(self.indices.numel(), device=self.delta.device),
                requires_grad=self.delta.requires_grad,
            )
        return dropped

    def is_merged(self) -> bool:
        return self._merged is not None and torch.equal(self._merged, self.delta.detach())

    def weight_for_forward(self) -> torch.Tensor | None:
        """Prepare the weight for a forward pass; return a differentiable alias if training."""
        if not self.enabled:
            if not self._unmerged:
                self.unmerge()
            return None
        train_grad = self.training and torch.is_grad_enabled() and self.delta.requires_grad
        scale = None
        if train_grad and self.dropout > 0:
            keep = 1.0 - self.dropout
            scale = torch.bernoulli(torch.full_like(self.delta, keep)).div_(keep)
        if scale is not None or not self.is_merged():
            self.merge(scale)
        if not train_grad:
            return None
        return _GatherGrad.apply(
            self.delta,
            self.weight.detach(),
            self.indices,
            self._no_scale if scale is None else scale,
        )


def drop_pruned_positions(sparta_model: nn.Module) -> int:
    """Drop the delta positions that sit on pruned (exactly zero) base weights, so a pruned
    base stays pruned; returns how many were dropped. The deltas must be untrained."""
    deltas = getattr(sparta_model, "deltas", {}).values()
    return sum(sd.keep(sd.original != 0) for sd in deltas if isinstance(sd, SparseDelta))


def _pre_hook(module: nn.Module, args):
    swapped = {}
    for sd in module._sparta_deltas.values():
        alias = sd.weight_for_forward()
        if alias is not None:
            swapped[sd.param_name] = module._parameters[sd.param_name]
            # the module reads self.<param> from _parameters; a plain tensor there is fine
            module._parameters[sd.param_name] = alias
    module._sparta_swapped = swapped


def _post_hook(module: nn.Module, args, output):
    swapped = module.__dict__.pop("_sparta_swapped", None) or {}
    module._parameters.update(swapped)


def attach(owner: nn.Module, param_name: str, indices: torch.Tensor, dropout: float) -> SparseDelta:
    """Give ``owner.<param_name>`` sparse deltas; register them as ``owner.sparta_<param_name>``."""
    sd = SparseDelta(owner, param_name, indices, dropout)
    if not hasattr(owner, "_sparta_deltas"):
        owner._sparta_deltas = {}
        owner._sparta_hooks = (
            owner.register_forward_pre_hook(_pre_hook),
            owner.register_forward_hook(_post_hook, always_call=True),
        )
    owner._sparta_deltas[param_name] = sd
    owner.add_module(f"sparta_{param_name}", sd)
    return sd


def detach(owner: nn.Module) -> None:
    """Remove every SparseDelta of ``owner`` (the weights keep whatever is merged now)."""
    for name in list(getattr(owner, "_sparta_deltas", {})):
        delattr(owner, f"sparta_{name}")
    for handle in getattr(owner, "_sparta_hooks", ()):
        handle.remove()
    for attr in ("_sparta_deltas", "_sparta_hooks"):
        owner.__dict__.pop(attr, None)
