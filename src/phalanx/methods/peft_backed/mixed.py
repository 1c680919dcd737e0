"""Mixed-adapter forwards of peft LoRA adapters on one ``PeftModel``: peft's own mixed-batch
inference (each LoRA layer's ``adapter_names`` path) for the backbone, each adapter's head
(its ``modules_to_save`` copy) on its rows.

peft's ``model(..., adapter_names=...)`` registers its pre-hooks on the shared layers for the
length of one call, so two such calls at once in two threads would inject each other's
names. Here the hooks are installed once and read the routing from a ``ContextVar``: a
forward with no routing in its thread (the switching path) sees peft unchanged, and mixed
forwards in several threads may run at once. Heads are run here rather than by peft so that
adapters whose heads have different widths (2 labels, 3 labels, a regression value) share a
batch: outputs are zero-padded to the widest (``phalanx.methods.sparta.mixed.pad_rows``).
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch.nn as nn

from ..sparta.mixed import pad_rows, rows_of

__all__ = ["LoraRoute", "install_lora_hooks", "lora_route", "lora_unsupported_reason"]

_ROUTE: contextvars.ContextVar[LoraRoute | None] = contextvars.ContextVar(
    "phalanx_lora_mixed_route", default=None
)
_INSTALL_LOCK = threading.Lock()


@dataclass
class LoraRoute:
    """Which rows belong to which adapter in the forward running now."""

    model: nn.Module
    names: Sequence[str]
    """The peft adapter name of each row (batch order)."""
    spans: Sequence[tuple[str, int, int]]
    """``(adapter name, start, end)`` along the batch dimension, covering every row."""


@contextlib.contextmanager
def lora_route(route: LoraRoute) -> Iterator[None]:
    """Route this thread's forwards of ``route.model`` by ``route`` inside the block."""
    token = _ROUTE.set(route)
    try:
        yield
    finally:
        _ROUTE.reset(token)


def _wrappers(peft_model: nn.Module) -> list[nn.Module]:
    from peft.utils.other import ModulesToSaveWrapper

    return [m for m in peft_model.modules() if isinstance(m, ModulesToSaveWrapper)]


def lora_unsupported_reason(peft_model: nn.Module, adapter_names: Sequence[str]) -> str | None:
    """Why ``adapter_names`` of ``peft_model`` cannot run in one mixed batch, or None."""
    from peft.tuners.lora import LoraLayer

    configs = getattr(peft_model, "peft_config", {})
    for name in adapter_names:
        config = configs.get(name)
        if config is None:
            return f"the model has no adapter {name!r}"
        if getattr(config.peft_type, "value", config.peft_type) != "LORA":
            return f"{name} is a {config.peft_type} adapter (mixed batches: LoRA only)"
    if peft_model.training:
        return "the model is in training mode"
    for module in peft_model.modules():
        if not isinstance(module, LoraLayer):
            continue
        if getattr(module, "merged", False):
            return "an adapter is merged into the base weights (unmerge it first)"
        if type(module).__name__ == "MultiheadAttention":
            return "LoRA on nn.MultiheadAttention has no mixed-batch forward in peft"
        if any(module.use_dora.get(n, False) for n in adapter_names):
            return "DoRA adapters have no mixed-batch forward in peft"
    wrappers = _wrappers(peft_model)
    if not wrappers:
        return "the adapters save no head modules (modules_to_save)"
    for w in wrappers:
        missing = [n for n in adapter_names if n not in w.modules_to_save]
        if missing:
            return f"adapter {missing[0]} has no copy of a head module"
    return None


def install_lora_hooks(peft_model: nn.Module) -> None:
    """Put the routing hooks on every LoRA layer and head wrapper of ``peft_model``, once
    (layers added by a later ``load_adapter`` get theirs on the next call)."""
    from peft.tuners.lora import LoraLayer

    with _INSTALL_LOCK:
        heads = {id(w) for w in _wrappers(peft_model)}
        for module in peft_model.modules():
            if module.__dict__.get("_phalanx_mixed_hook"):
                continue
            if isinstance(module, LoraLayer):
                module.register_forward_pre_hook(_names_hook, with_kwargs=True)
            elif id(module) in heads:
                module.register_forward_hook(_head_hook, with_kwargs=True)
            else:
                continue
            module.__dict__["_phalanx_mixed_hook"] = True


def _names_hook(module: nn.Module, args: tuple, kwargs: dict) -> Any:
    route = _ROUTE.get()
    if route is None:
        return None
    # what peft's own _adapter_names_pre_forward_hook injects, from this thread's routing
    return args, {**kwargs, "adapter_names": list(route.names)}


def _head_hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
    route = _ROUTE.get()
    if route is None:
        return None
    n = output.shape[0]
    parts = []
    for name, start, end in route.spans:
        head = module.modules_to_save[name]
        sub_args = tuple(rows_of(v, n, start, end) for v in args)
        sub_kwargs = {k: rows_of(v, n, start, end) for k, v in kwargs.items()}
        parts.append((start, end, head(*sub_args, **sub_kwargs)))
    return pad_rows(n, parts, "a head module")
