"""A cheap fingerprint of base-model weights, robust to the dtype they were loaded in.

Hashing every byte of a multi-GB model at each load is slow, and the same checkpoint loaded
in bf16 and fp32 has different bytes. So we hash the names and shapes exactly and keep, per
tensor, the mean absolute value of a strided sample, compared with a relative tolerance.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import torch

__all__ = ["base_fingerprint", "fingerprint", "fingerprint_mismatch"]

_SAMPLE = 256


@torch.no_grad()
def fingerprint(named_params: Iterable[tuple[str, torch.Tensor]]) -> dict:
    """``{"layout": sha256 of names+shapes, "stats": [mean |w| of a strided sample, ...]}``."""
    layout, stats = hashlib.sha256(), []
    for name, p in named_params:
        layout.update(f"{name}:{tuple(p.shape)};".encode())
        flat = p.detach().reshape(-1)
        step = max(1, flat.numel() // _SAMPLE)
        stats.append(round(float(flat[::step][:_SAMPLE].double().abs().mean()), 8))
    return {"layout": layout.hexdigest()[:16], "stats": stats}


def base_fingerprint(model: torch.nn.Module, heads) -> dict:
    """The fingerprint of every parameter outside the head modules ``heads``."""
    return fingerprint(
        (n, p)
        for n, p in model.named_parameters()
        if not any(n == h or n.startswith(h + ".") for h in heads)
    )


def fingerprint_mismatch(expected: dict, actual: dict, rtol: float = 2e-2) -> str | None:
    """Why two fingerprints differ, or None when they match."""
    if expected.get("layout") != actual.get("layout"):
        return "the parameter names or shapes differ"
    a, b = torch.tensor(expected["stats"]), torch.tensor(actual["stats"])
    bad = ~torch.isclose(a, b, rtol=rtol, atol=1e-6)
    if bad.any():
        return f"{int(bad.sum())} of {a.numel()} tensors hold different values"
    return None
