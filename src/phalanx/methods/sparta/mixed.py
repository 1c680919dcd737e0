"""Mixed-adapter forwards over one base: the base runs once, each adapter's sparse deltas and
head act only on its rows.

The rows of a batch are grouped by adapter (``spans``: ``(adapter, start, end)`` along the
batch dimension). Forward hooks, installed once on the shared base and inert unless a mixed
forward runs *in the calling thread* (a ``ContextVar`` holds the routing), add to each
adapted module's output, for the rows ``start:end`` only:

* ``nn.Linear`` weight: ``x[rows] @ dW^T`` as a sparse CSR product (``dW`` holds ~1% of the
  weight, so the extra work is a fraction of the dense product); bias: ``+ db``. With the
  batch's attention mask in the route, the product runs on the real tokens only: a padded
  position's output is hidden from every real token by that mask (the premise of padding a
  batch at all), and the sparse product costs ~40% of a dense one per token on CPU, so
  skipping the padding (often 40% of a mixed batch's tokens) is most of its cost.
* LayerNorm / RMSNorm / Embedding parameters (adapted when a SpaRTA config freezes by
  ``frozen_modules`` instead of targeting Linear weights): the module runs again on those
  rows with the adapted values (``torch.func.functional_call``) and replaces them.
* head modules: each adapter's own head runs on its rows; outputs of different widths (2
  labels, 3 labels, one value) are zero-padded to the widest, and ``slice_logits`` cuts each
  adapter's columns back out.

The base's weights must hold no adapter's deltas while a mixed forward runs (the caller
makes sure: ``phalanx.serve.mixed`` deactivates a switched-in adapter first). Nothing here
writes to a parameter, so mixed forwards in several threads may run at once.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

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

    csr: torch.Tensor | None = None
    """Linear weight delta [out, in] as sparse CSR (fp32)."""
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
                out_f, in_f = param.shape
                rows, cols = flat // in_f, flat % in_f
                coo = torch.sparse_coo_tensor(
                    torch.stack([rows, cols]), delta, (out_f, in_f), check_invariants=False
                )
                with warnings.catch_warnings():  # "CSR support is in beta": nothing to act on
                    warnings.simplefilter("ignore", UserWarning)
                    entry.csr = coo.coalesce().to_sparse_csr()
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
    windows: list[tuple[int, int]] = field(init=False, default_factory=list)
    """Per span, the positions ``[t0, t1)`` holding all its rows' real tokens."""

    def __post_init__(self) -> None:
        t = 0 if self.mask is None else self.mask.shape[1]
        self.windows = [(0, t)] * len(self.spans)
        if self.mask is None or bool(self.mask.all()):
            return
        for k, (_, start, end) in enumerate(self.spans):
            real = self.mask[start:end].any(0).nonzero()
            if len(real):
                self.windows[k] = (int(real[0]), int(real[-1]) + 1)


@contextlib.contextmanager
def mixed_route(route: MixedRoute) -> Iterator[None]:
    """Route this thread's forwards of ``route.model`` by ``route`` inside the block."""
    token = _ROUTE.set(route)
    try:
        yield
    finally:
        _ROUTE.reset(token)


def install_hooks(modules: Iterable[nn.Module]) -> None:
    """Give ``modules`` (of the shared base) the mixed-forward hook, once each."""
    with _INSTALL_LOCK:
        for module in modules:
            if not module.__dict__.get("_phalanx_mixed_hook"):
                module.register_forward_hook(_hook, with_kwargs=True)
                module.__dict__["_phalanx_mixed_hook"] = True


def _hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
    route = _ROUTE.get()
    if route is None:
        return None
    head = route.head_names.get(module)
    if head is not None:
        return _head_output(route, head, args, kwargs, output)
    entries = [(route.adapters[a].modules.get(module), s, e) for a, s, e in route.spans]
    if all(entry is None for entry, _, _ in entries):
        return None
    x = args[0] if args else next(iter(kwargs.values()))
    if output.shape[0] != route.rows:
        # one row for the whole batch (position ids [1, T]): each adapter needs its own
        if output.shape[0] != 1 or x.shape[0] != 1:
            raise ValueError(f"{type(module).__name__} output is not batch-first")
        output = output.expand(route.rows, *output.shape[1:]).clone()
        x = x.expand(route.rows, *x.shape[1:])
    # per-token activations of this batch: the sparse products may skip padded positions
    by_token = (
        route.mask is not None and x.dim() == 3 and tuple(x.shape[:2]) == tuple(route.mask.shape)
    )
    for (entry, start, end), window in zip(entries, route.windows, strict=True):
        if entry is not None:
            _add_delta(module, entry, x, output, start, end, window if by_token else None)
    return output


def _add_delta(
    module: nn.Module,
    entry: _ModuleDelta,
    x: torch.Tensor,
    out: torch.Tensor,
    s: int,
    e: int,
    window: tuple[int, int] | None,
) -> None:
    seg = out[s:e]
    if entry.params:  # a row-wise module: run it again on these rows with adapted values
        values = {}
        for local, (flat, delta) in entry.params.items():
            p = getattr(module, local)
            values[local] = (
                (p.detach().float().reshape(-1).index_add(0, flat, delta)).to(p.dtype).view_as(p)
            )
        token = _ROUTE.set(None)  # the module's own hook must not route this call again
        try:
            seg.copy_(torch.func.functional_call(module, values, (x[s:e],)))
        finally:
            _ROUTE.reset(token)
    if entry.csr is not None:
        if window is None:  # not per token: every row of the span
            xs, target = x[s:e].reshape(-1, 1, x.shape[-1]), seg
        else:  # [rows, T, in]: only the positions that hold the span's real tokens
            xs, target = x[s:e, window[0] : window[1]], seg[:, window[0] : window[1]]
        # CSR @ dense is the fast sparse product on CPU (MKL) and CUDA (cuSPARSE); MKL runs
        # ~1.5x faster on a row-major right-hand side, hence [in, tokens] made contiguous
        xt = xs.permute(2, 0, 1).reshape(xs.shape[-1], -1).float()
        yt = torch.sparse.mm(entry.csr, xt).view(-1, *xs.shape[:2])
        target.add_(yt.permute(1, 2, 0).reshape(target.shape).to(out.dtype))
    if entry.bias is not None:
        seg.add_(entry.bias.to(out.dtype))


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
