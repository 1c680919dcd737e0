"""Mixed-adapter forwards over one base: the layers outside the adapted Linears run once for
the whole batch, each adapter's deltas and head act only on its rows.

The rows of a batch are grouped by adapter (``spans``: ``(adapter, start, end)`` along the
batch dimension). ``install_hooks`` gives the adapted modules of the shared base a routed
forward, inert unless a mixed forward runs *in the calling thread* (a ``ContextVar`` holds
the routing):

* ``nn.Linear`` (weight / bias deltas): its forward runs once per adapter with rows in the
  batch, on those rows only, with that adapter's deltas written into the weight for the
  product (the values at those positions saved first and copied back after, bit for bit;
  the bias is a new tensor). The dense products cost what one forward over the batch costs;
  a sparse ``x @ dW`` beside them cost more again in copies than the 1% of its arithmetic.
  With the batch's attention mask in the route, each product runs on one contiguous run of
  positions, from its first row's first real token to its last row's last one, written into
  the output in place; a padded position outside the run is hidden from every real token by
  that mask (the premise of padding a batch at all), so it is left at zero.
* LayerNorm / RMSNorm / Embedding parameters (adapted when a SpaRTA config freezes by
  ``frozen_modules`` instead of targeting Linear weights): the module runs again on those
  rows with the adapted values (``torch.func.functional_call``) and replaces them.
* head modules: each adapter's own head runs on its rows; outputs of different widths (2
  labels, 3 labels, one value) are zero-padded to the widest, and ``slice_logits`` cuts each
  adapter's columns back out.

Thread safety: a mixed forward writes deltas into the shared Linear weights while it runs
(restoring them before each Linear returns, also on an error), so while it runs no other
forward of that base may run in any thread, mixed or not, and the base's weights must hold no
adapter's deltas when it starts. The caller serializes them: ``phalanx.serve.mixed`` holds
the group's gate for a whole mixed call and deactivates a switched-in adapter first.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import threading
import types
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "AdapterDeltas",
    "MixedRoute",
    "install_hooks",
    "mixed_route",
    "pad_rows",
    "rows_of",
    "unsupported_reason",
]

#: the routing of the mixed forward running in this thread (None: hooks do nothing)
_ROUTE: contextvars.ContextVar[MixedRoute | None] = contextvars.ContextVar(
    "phalanx_sparta_mixed_route", default=None
)
_INSTALL_LOCK = threading.Lock()

#: modules whose parameters are re-applied functionally on a row slice: their forward maps
#: each batch row on its own from one batch-first tensor
_ROWWISE = (nn.LayerNorm, nn.Embedding)


def _rowwise(module: nn.Module) -> bool:
    return isinstance(module, _ROWWISE) or type(module).__name__.endswith("RMSNorm")


@dataclass
class _ModuleDelta:
    """One adapter's changes to one module."""

    weight: tuple[torch.Tensor, torch.Tensor] | None = None
    """Linear weight: (flat positions, fp32 deltas)."""
    bias: torch.Tensor | None = None
    """Linear bias delta [out] (dense, fp32)."""
    params: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    """Row-wise modules: local name -> (flat positions, fp32 deltas)."""


class AdapterDeltas:
    """One SpaRTA adapter's deltas by the module of the shared base they change, and its heads.

    ``sparse``: ``name -> (parameter, flat positions, fp32 deltas)`` (the classifier's
    ``_sparse``); ``heads``: head module name -> this adapter's module.
    """

    def __init__(
        self,
        model: nn.Module,
        sparse: Mapping[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
        heads: Mapping[str, nn.Module],
    ):
        self.heads = dict(heads)
        self.modules: dict[nn.Module, _ModuleDelta] = {}
        for name, (param, flat, delta) in sparse.items():
            owner_name, _, local = name.rpartition(".")
            owner = model.get_submodule(owner_name)
            entry = self.modules.setdefault(owner, _ModuleDelta())
            delta = delta.detach().float()
            if isinstance(owner, nn.Linear) and local == "weight":
                entry.weight = (flat, delta)
            elif isinstance(owner, nn.Linear) and local == "bias":
                entry.bias = torch.zeros(param.numel(), device=delta.device).index_add_(
                    0, flat, delta
                )
            else:
                entry.params[local] = (flat, delta)


def unsupported_reason(model: nn.Module, sparse: Mapping[str, Any]) -> str | None:
    """Why the deltas ``sparse`` (``name -> (param, flat, delta)``) cannot run mixed, or None."""
    for name in sparse:
        owner_name, _, local = name.rpartition(".")
        owner = model.get_submodule(owner_name)
        if isinstance(owner, nn.Linear) and local in ("weight", "bias"):
            if type(owner).forward is not nn.Linear.forward:  # its product is not F.linear
                return f"{name}: deltas on a {type(owner).__name__} with its own forward"
            continue
        if not _rowwise(owner):
            return f"{name}: deltas on a {type(owner).__name__} (not Linear / norm / embedding)"
    return None


@dataclass
class MixedRoute:
    """Which rows belong to which adapter in the forward running now."""

    model: nn.Module
    adapters: Sequence[AdapterDeltas]
    spans: Sequence[tuple[int, int, int]]
    """``(adapter index, start, end)`` along the batch dimension, covering every row."""
    rows: int
    """Rows in the batch."""
    head_names: dict[nn.Module, str]
    """The shared base's head modules -> their names."""
    mask: torch.Tensor | None = None
    """``[rows, T]`` attention mask (nonzero: a real token), or None: every position counts."""
    runs: list[tuple[int, int]] = field(init=False, default_factory=list)
    """Per span, ``[a, b)`` along the ``rows * T`` positions of a per-token activation: from
    its first row's first real token to its last row's last one (no mask: the whole rows)."""

    def __post_init__(self) -> None:
        t = 1 if self.mask is None else self.mask.shape[1]
        self.runs = [(start * t, end * t) for _, start, end in self.spans]
        if self.mask is None or bool(self.mask.all()):
            return
        m = self.mask.int()
        first, last = m.argmax(1).tolist(), (t - m.flip(1).argmax(1)).tolist()
        self.runs = [(s * t + first[s], (e - 1) * t + last[e - 1]) for _, s, e in self.spans]


@contextlib.contextmanager
def mixed_route(route: MixedRoute) -> Iterator[None]:
    """Route this thread's forwards of ``route.model`` by ``route`` inside the block."""
    token = _ROUTE.set(route)
    try:
        yield
    finally:
        _ROUTE.reset(token)


def install_hooks(modules: Iterable[nn.Module]) -> None:
    """Give ``modules`` (of the shared base) the mixed-forward routing, once each: a routed
    forward for ``nn.Linear`` modules, a forward hook (heads, row-wise modules) for all."""
    with _INSTALL_LOCK:
        for module in modules:
            if module.__dict__.get("_phalanx_mixed_hook"):
                continue
            module.register_forward_hook(_hook, with_kwargs=True)
            if isinstance(module, nn.Linear):
                # an instance attribute, so the type stays nn.Linear (quantization, export
                # look it up); a bound method, so a deepcopy of the base routes its own copy
                module.forward = types.MethodType(_linear_forward, module)
            module.__dict__["_phalanx_mixed_hook"] = True


def _linear_forward(module: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    route = _ROUTE.get()
    if route is not None:
        entries = [route.adapters[a].modules.get(module) for a, *_ in route.spans]
        entries = [e if e and (e.weight or e.bias is not None) else None for e in entries]
        if any(entries):
            return _mixed_linear(module, route, entries, x)
    return F.linear(x, module.weight, module.bias)


def _mixed_linear(
    module: nn.Linear, route: MixedRoute, entries: list[_ModuleDelta | None], x: torch.Tensor
) -> torch.Tensor:
    """``module(x)``, each span's rows with its adapter's deltas (None: the plain weight)."""
    if x.shape[0] != route.rows:
        raise ValueError(f"the input of {type(module).__name__} is not batch-first")
    out = x.new_empty((*x.shape[:-1], module.out_features))
    x = x.contiguous()
    mask = route.mask
    if mask is not None and x.dim() == 3 and tuple(x.shape[:2]) == tuple(mask.shape):
        # per token: each span's product runs on one contiguous run of positions, its real
        # tokens and the padding between its rows; the positions outside stay finite (zero),
        # hidden from every real token by the mask (the premise of padding a batch at all)
        t, runs = x.shape[1], route.runs
    else:  # not per token (a pooled [rows, in], no mask): every position of the span's rows
        t = math.prod(x.shape[1:-1])
        runs = [(start * t, end * t) for _, start, end in route.spans]
    x2, o2 = x.view(-1, x.shape[-1]), out.view(-1, out.shape[-1])
    for entry, (_, start, end), (a, b) in zip(entries, route.spans, runs, strict=True):
        if a > start * t:
            o2[start * t : a] = 0
        if b < end * t:
            o2[b : end * t] = 0
        _adapted_product(module, entry, x2[a:b], o2[a:b])
    return out


def _adapted_product(
    module: nn.Linear, entry: _ModuleDelta | None, x: torch.Tensor, out: torch.Tensor
) -> None:
    """``out = module(x)`` with ``entry``'s deltas, written into the weight for this product
    only; ``x`` and ``out`` contiguous ``[tokens, features]``."""
    bias = module.bias
    if entry is not None and entry.bias is not None:  # what switching writes at the positions
        bias = (bias.detach().float() + entry.bias).to(bias.dtype)
    weight = module.weight
    if entry is None or entry.weight is None:
        _product(x, weight, bias, out)
        return
    flat, delta = entry.weight
    w = weight.detach().view(-1)
    orig = w.index_select(0, flat)  # a copy: the exact values to put back
    if w.dtype == torch.float32:  # in place, the rounding of orig + delta
        w.index_add_(0, flat, delta)
    else:  # as switching writes them
        w.index_copy_(0, flat, (orig.float() + delta).to(w.dtype))
    try:
        _product(x, weight, bias, out)
    finally:
        w.index_copy_(0, flat, orig)  # a copy back, never a subtraction: bit for bit


def _product(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, out: torch.Tensor
) -> None:
    # into ``out`` directly: no copy of the product (one GEMM per span and Linear)
    if bias is None:
        torch.mm(x, weight.t(), out=out)
    else:
        torch.addmm(bias, x, weight.t(), out=out)


def _hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
    route = _ROUTE.get()
    if route is None:
        return None
    head = route.head_names.get(module)
    if head is not None:
        return _head_output(route, head, args, kwargs, output)
    entries = [(route.adapters[a].modules.get(module), s, e) for a, s, e in route.spans]
    if not any(entry is not None and entry.params for entry, _, _ in entries):
        return None  # nothing, or Linear deltas (applied by the routed forward)
    x = args[0] if args else next(iter(kwargs.values()))
    if output.shape[0] != route.rows:
        # one row for the whole batch (position ids [1, T]): each adapter needs its own
        if output.shape[0] != 1 or x.shape[0] != 1:
            raise ValueError(f"{type(module).__name__} output is not batch-first")
        output = output.expand(route.rows, *output.shape[1:]).clone()
        x = x.expand(route.rows, *x.shape[1:])
    for entry, start, end in entries:
        if entry is not None and entry.params:
            _rerun_rows(module, entry, x, output, start, end)
    return output


def _rerun_rows(
    module: nn.Module, entry: _ModuleDelta, x: torch.Tensor, out: torch.Tensor, s: int, e: int
) -> None:
    """A row-wise module again on rows ``s:e`` with the adapted values of its parameters."""
    values = {}
    for local, (flat, delta) in entry.params.items():
        p = getattr(module, local)
        values[local] = (
            (p.detach().float().reshape(-1).index_add(0, flat, delta)).to(p.dtype).view_as(p)
        )
    token = _ROUTE.set(None)  # the module's own hook must not route this call again
    try:
        out[s:e].copy_(torch.func.functional_call(module, values, (x[s:e],)))
    finally:
        _ROUTE.reset(token)


def _head_output(route: MixedRoute, head: str, args: tuple, kwargs: dict, output: Any) -> Any:
    """Each adapter's ``head`` module on its rows."""
    n = output.shape[0]
    parts = []
    for a, start, end in route.spans:
        sub_args = tuple(rows_of(v, n, start, end) for v in args)
        sub_kwargs = {k: rows_of(v, n, start, end) for k, v in kwargs.items()}
        parts.append((start, end, route.adapters[a].heads[head](*sub_args, **sub_kwargs)))
    return pad_rows(n, parts, f"head {head}")


def pad_rows(n: int, parts: Sequence[tuple[int, int, torch.Tensor]], what: str) -> torch.Tensor:
    """``[n, ..., widest]``: each ``(start, end, output)`` at its rows, its last dimension
    zero-padded to the widest (heads over 2 labels, 3 labels or one value in one batch)."""
    width = max(p.shape[-1] for _, _, p in parts)
    lead = parts[0][2].shape[1:-1]
    if any(p.shape[1:-1] != lead for _, _, p in parts):
        raise ValueError(f"{what}: the adapters' outputs differ in shape beyond their width")
    out = parts[0][2].new_zeros((n, *lead, width))
    for start, end, p in parts:
        out[start:end, ..., : p.shape[-1]] = p
    return out


def rows_of(value: Any, n: int, start: int, end: int) -> Any:
    """``value[start:end]`` for a batch-first tensor of ``n`` rows; anything else as it is."""
    if isinstance(value, torch.Tensor) and value.dim() and value.shape[0] == n:
        return value[start:end]
    return value
