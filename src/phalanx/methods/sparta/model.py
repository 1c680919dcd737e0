"""Wrap a transformers classifier with SpaRTA: selection, freezing, merge/unmerge, state."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator

import torch
import torch.nn as nn

from ...models.archs import ArchSpec, arch_spec
from ...models.fingerprint import fingerprint
from .config import SpaRTAMethodConfig
from .layer import SparseDelta, attach, detach, sample_indices

__all__ = ["SpaRTAModel", "get_sparta_model", "module_matches"]

log = logging.getLogger(__name__)


def module_matches(name: str, targets: list[str] | str) -> bool:
    """peft's rule: a regex string must match the whole name; list entries match suffixes."""
    if isinstance(targets, str):
        return re.fullmatch(targets, name) is not None
    return any(name == t or name.endswith("." + t) for t in targets)


class SpaRTAModel(nn.Module):
    """A model whose only trainable parameters are sparse fp32 deltas and the head.

    Example:
        >>> sparta = get_sparta_model(model, SpaRTAMethodConfig(density=0.01))  # doctest: +SKIP
        >>> sparta.print_trainable_parameters()  # doctest: +SKIP
        trainable params: 255,217 || all params: 22,713,986 || trainable%: 1.12361%
    """

    def __init__(self, model: nn.Module, config: SpaRTAMethodConfig, head_only: bool = False):
        super().__init__()
        self.model = model
        self.sparta_config = config
        self.arch: ArchSpec = arch_spec(model)
        heads = tuple(config.head_modules or self.arch.head)
        for h in heads:
            model.get_submodule(h)  # raises a clear AttributeError naming a missing module
        self.head_modules = heads
        self.deltas: dict[str, SparseDelta] = {}
        self.head_init: dict[str, torch.Tensor] = {}
        # taken before anything is merged: it identifies the base the adapter needs
        self.base_fingerprint = fingerprint(
            (n, p) for n, p in model.named_parameters() if not self._is_head(n)
        )
        self._select_and_attach(head_only)

    # -- construction -------------------------------------------------------------------
    def _is_head(self, param_name: str) -> bool:
        return any(param_name == h or param_name.startswith(h + ".") for h in self.head_modules)

    def _eligible(self) -> list[tuple[str, nn.Module, str]]:
        """(full param name, owning module, local name) of every tensor that may get deltas."""
        cfg, out = self.sparta_config, []
        for mod_name, module in self.model.named_modules():
            for pname, param in module.named_parameters(recurse=False):
                full = f"{mod_name}.{pname}" if mod_name else pname
                if self._is_head(full) or param is None:
                    continue
                if cfg.frozen_modules is not None:
                    ok = not any(k in full for k in cfg.frozen_modules)
                else:
                    targets = cfg.target_modules or self.arch.sparta_targets
                    ok = (
                        isinstance(module, nn.Linear)
                        and pname == "weight"
                        and module_matches(mod_name, targets)
                    )
                if ok:
                    out.append((full, module, pname))
        return out

    def _keep_prob(self, eligible_numel: int, head_numel: int) -> float:
        cfg = self.sparta_config
        if cfg.density is not None:
            return cfg.density
        total = sum(p.numel() for p in self.model.parameters())
        keep = (1.0 - cfg.sparsity) * total - head_numel
        if keep < 0:
            raise ValueError(
                f"sparsity={cfg.sparsity} is too high: the head alone is {head_numel:,} of "
                f"{total:,} parameters; choose sparsity < {1 - head_numel / total:.6f}"
            )
        if keep >= eligible_numel:
            raise ValueError(
                f"sparsity={cfg.sparsity} is too low: only {eligible_numel:,} scalars are "
                f"eligible; choose sparsity > {1 - (eligible_numel + head_numel) / total:.6f} "
                f"or make more modules eligible"
            )
        return keep / eligible_numel

    def _select_and_attach(self, head_only: bool) -> None:
        for p in self.model.parameters():
            p.requires_grad_(False)
        head_params = [(n, p) for n, p in self.model.named_parameters() if self._is_head(n)]
        eligible = [] if head_only else self._eligible()
        if not eligible and not head_only:
            raise ValueError(
                "no tensor is eligible for SpaRTA deltas: target_modules="
                f"{self.sparta_config.target_modules or self.arch.sparta_targets!r} matched nothing"
            )
        numel = sum(getattr(m, p).numel() for _, m, p in eligible)
        prob = self._keep_prob(numel, sum(p.numel() for _, p in head_params)) if eligible else 0
        for full, module, pname in eligible:
            idx = sample_indices(
                getattr(module, pname).numel(), prob, self.sparta_config.seed, full
            )
            self.deltas[full] = attach(module, pname, idx, self.sparta_config.dropout)
        half = False
        for name, p in head_params:
            if p.dtype in (torch.float16, torch.bfloat16):
                p.data = p.data.float()  # the head trains in fp32, as peft-sparta's does
                half = True
            p.requires_grad_(True)
            self.head_init[name] = p.detach().to("cpu", copy=True)
        if half:
            for h in self.head_modules:
                self.model.get_submodule(h).register_forward_pre_hook(_cast_inputs_to_fp32)

    # -- the nn.Module surface ----------------------------------------------------------
    def forward(self, *args, **kwargs):
        return self.model(*args, **kwargs)

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.model, name)

    def num_trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def print_trainable_parameters(self) -> str:
        """Print (and return) peft's line: trainable params || all params || trainable%."""
        trainable = self.num_trainable_parameters()
        total = sum(p.numel() for n, p in self.model.named_parameters() if ".sparta_" not in n)
        line = (
            f"trainable params: {trainable:,d} || all params: {total:,d} "
            f"|| trainable%: {100 * trainable / total:.5f}%"
        )
        print(line)
        return line

    # -- merging ------------------------------------------------------------------------
    def merge(self) -> None:
        """Write the current deltas into the base weights (SpaRTA keeps them merged)."""
        for sd in self.deltas.values():
            sd.enabled = True
            sd.merge()

    def unmerge(self) -> None:
        """Restore the base weights bit for bit; the adapter stays off until ``merge()``."""
        for sd in self.deltas.values():
            sd.enabled = False
            sd.unmerge()

    @contextlib.contextmanager
    def disable_adapter(self) -> Iterator[None]:
        """Run the base model (with the trained head) inside the block."""
        self.unmerge()
        try:
            yield
        finally:
            self.merge()

    def merge_and_unload(self) -> nn.Module:
        """Bake the deltas in, remove every SpaRTA module and hook, return the plain model."""
        self.merge()
        for module in self.model.modules():
            detach(module)
        self.deltas.clear()
        return self.model

    # -- state for saving ---------------------------------------------------------------
    def named_base_parameters(self) -> Iterator[tuple[str, nn.Parameter]]:
        for name, p in self.model.named_parameters():
            if ".sparta_" not in name:
                yield name, p

    def sparse_state(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """``name -> (indices [n, ndim] int32, deltas [n] fp32)`` for every model parameter,
        on the CPU, in peft-sparta's layout (frozen tensors have n = 0)."""
        out = {}
        for name, p in self.named_base_parameters():
            if name in self.deltas:
                sd = self.deltas[name]
                flat, delta = sd.indices.cpu(), sd.delta.detach().float().cpu()
            elif name in self.head_init:
                flat = torch.arange(p.numel())
                delta = (p.detach().float().cpu() - self.head_init[name].float()).reshape(-1)
            else:
                flat, delta = torch.empty(0, dtype=torch.long), torch.empty(0)
            out[name] = (unravel(flat, p.shape), delta.contiguous())
        return out


def unravel(flat: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Flat positions -> int32 [n, ndim] coordinates (peft-sparta's ``indices`` layout)."""
    if flat.numel() == 0:
        return torch.empty((0, len(shape)), dtype=torch.int32)
    return torch.stack(torch.unravel_index(flat, tuple(shape)), dim=1).to(torch.int32)


def _cast_inputs_to_fp32(module: nn.Module, args):
    return tuple(a.float() if torch.is_tensor(a) and a.is_floating_point() else a for a in args)


def get_sparta_model(model: nn.Module, config: SpaRTAMethodConfig | None = None) -> SpaRTAModel:
    """Wrap ``model`` (a ``*ForSequenceClassification``) with SpaRTA deltas."""
    config = config or SpaRTAMethodConfig()
    sparta = SpaRTAModel(model, config)
    log.info(
        "SpaRTA: %d tensors adapted, %d trainable scalars",
        len(sparta.deltas),
        sparta.num_trainable_parameters(),
    )
    return sparta
