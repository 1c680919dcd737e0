"""``SpaRTAforSequenceClassification``: peft-sparta's inference API, for encoders and decoders.

Several adapters may share one loaded base. Each keeps its own head modules and its sparse
deltas; before a forward it becomes the *active* adapter of the base: the previous one's
positions are restored bit for bit, then this one's deltas are written in (O(n) scalars).
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ...assets import resolve_model
from ...errors import InputError
from ...folder import REPAIR
from ...inference.classifier import TextClassifier
from ...models.archs import arch_spec
from ...models.fingerprint import base_fingerprint, fingerprint_mismatch
from ...models.loading import load_base_classifier
from .format import SpaRTAAdapter, check_fits, read_sparta_adapter

__all__ = ["SpaRTAforSequenceClassification"]

log = logging.getLogger(__name__)


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def _flat(indices: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    strides = torch.tensor([int(torch.tensor(shape[d + 1 :]).prod()) for d in range(len(shape))])
    return (indices.long() * strides).sum(1)


class SpaRTAforSequenceClassification(TextClassifier):
    """Load a SpaRTA adapter folder (phalanx's or peft-sparta's) for inference.

    Args (as ``TextClassifier``'s): ``model`` may be an already loaded
    ``*ForSequenceClassification`` base (or another classifier) to share instead of loading
    the base again.

    Example:
        >>> model = SpaRTAforSequenceClassification("runs/sparta-minilm")  # doctest: +SKIP
        >>> model.decide_class(["It was a bad movie."])  # doctest: +SKIP
        ['negative']
    """

    def _load(self, path: Path, model: Any, *, device: str | torch.device, dtype: Any) -> Any:
        ad = read_sparta_adapter(path, self.meta)
        self.id2label = ad.id2label
        if model is None:
            model = load_base_classifier(ad.base_model, ad.id2label, dtype=dtype, device=device)
        elif not hasattr(model, "config") or not hasattr(model, "base_model"):
            raise TypeError(
                "model must be a transformers *ForSequenceClassification, "
                f"got {type(model).__name__}"
            )
        self.model = model.eval()
        self._release_base()
        self._check_base(ad)
        self.arch = arch_spec(model)
        self.head_modules = list(ad.meta.get("head_modules", self.arch.head))
        self.main_head = ad.meta.get("main_head", self.arch.main_head)
        if ad.new_embeddings is not None:
            self._add_embeddings(ad.new_embeddings)
        shapes = {n: p.shape for n, p in model.named_parameters()}
        check_fits(ad, shapes, self._is_head, self.main_head)
        self._heads = self._build_heads(ad)
        self._sparse = self._sparse_tensors(ad)
        self._saved: dict[str, Any] = {}
        return model

    # -- construction -------------------------------------------------------------------
    def _release_base(self) -> None:
        active = self.model.__dict__.get("_phalanx_active")
        if active is not None:
            active._deactivate()

    def _check_base(self, ad: SpaRTAAdapter) -> None:
        expected = ad.meta.get("base_fingerprint")
        spec = arch_spec(self.model)
        heads = tuple(ad.meta.get("head_modules", spec.head))
        if expected:
            actual = base_fingerprint(self.model, heads)
            why = fingerprint_mismatch(expected, actual)
            if why:
                raise ValueError(
                    f"base model mismatch for adapter {self.adapter}: it was trained on "
                    f"{ad.base_model!r}, but the given model differs ({why})"
                )
            return
        loaded = getattr(self.model.config, "_name_or_path", None) or getattr(
            self.model, "name_or_path", None
        )
        if loaded and resolve_model(loaded) != resolve_model(ad.base_model):
            raise ValueError(
                f"base model mismatch for adapter {self.adapter}: it needs {ad.base_model!r} "
                f"but the given model is {loaded!r}"
            )

    def _add_embeddings(self, new: torch.Tensor) -> None:
        emb = self.model.get_input_embeddings()
        if new.shape[1] != emb.weight.shape[1]:
            raise InputError(
                f"adapter {self.adapter}: its new embeddings have {new.shape[1]} columns but "
                f"the model's embeddings have {emb.weight.shape[1]}; {REPAIR}"
            )
        rows = torch.cat([emb.weight.data, new.to(emb.weight)])
        emb.weight.data, emb.num_embeddings = rows, rows.shape[0]
        self.model.config.vocab_size = rows.shape[0]

    @torch.no_grad()
    def _build_heads(self, ad: SpaRTAAdapter) -> dict[str, nn.Module]:
        heads = {}
        for h in self.head_modules:
            module = copy.deepcopy(self.model.get_submodule(h))
            for sub_name, sub in list(module.named_modules()):
                if not isinstance(sub, nn.Linear):
                    continue
                full = f"{h}.{sub_name}" if sub_name else h
                w = self._head_value(ad, f"{full}.weight", sub.weight)
                b = self._head_value(ad, f"{full}.bias", sub.bias) if sub.bias is not None else None
                if w.shape != sub.weight.shape:  # another label count than the base's head
                    new = nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
                    new = new.to(device=sub.weight.device, dtype=sub.weight.dtype)
                    if sub_name:
                        _set_submodule(module, sub_name, new)
                    else:
                        module = new
                    sub = new
                sub.weight.copy_(w.to(sub.weight.dtype))
                if b is not None:
                    sub.bias.copy_(b.to(sub.bias.dtype))
            heads[h] = module.eval()
        return heads

    def _head_value(self, ad: SpaRTAAdapter, name: str, current: torch.Tensor) -> torch.Tensor:
        if name in ad.head_init or (name == self.main_head and "head" in ad.head_init):
            return ad.head_value(name, self.main_head, None).to(current.device)
        delta = ad.deltas.get(name)
        value = current.detach().float().clone()
        if delta is not None and delta.numel():
            flat = _flat(ad.indices[name], current.shape).to(current.device)
            value.view(-1).index_add_(0, flat, delta.float().to(current.device))
        return value

    def _sparse_tensors(
        self, ad: SpaRTAAdapter
    ) -> dict[str, tuple[nn.Parameter, torch.Tensor, torch.Tensor]]:
        out = {}
        for name, p in self.model.named_parameters():  # check_fits: every index inside p
            if self._is_head(name) or ad.deltas[name].numel() == 0:
                continue
            flat = _flat(ad.indices[name], p.shape)
            out[name] = (p, flat.to(p.device), ad.deltas[name].float().to(p.device))
        return out

    def _is_head(self, name: str) -> bool:
        return any(name == h or name.startswith(h + ".") for h in self.head_modules)

    # -- activation ---------------------------------------------------------------------
    @torch.no_grad()
    def _activate(self) -> None:
        model = self.model
        current = model.__dict__.get("_phalanx_active")
        if current is self:
            return
        if current is not None:
            current._deactivate()
        originals = {}
        for name, (p, flat, delta) in self._sparse.items():
            w = p.detach().view(-1)
            originals[name] = w[flat].clone()
            w.index_copy_(0, flat, (originals[name].float() + delta).to(w.dtype))
        heads = {h: model.get_submodule(h) for h in self._heads}
        for h, module in self._heads.items():
            _set_submodule(model, h, module)
        labels = (model.config.id2label, model.config.label2id, getattr(model, "num_labels", None))
        model.config.id2label = {int(k): v for k, v in self.id2label.items()}
        model.config.label2id = {v: int(k) for k, v in self.id2label.items()}
        model.num_labels = self.num_labels
        self._saved = {"originals": originals, "heads": heads, "labels": labels}
        model.__dict__["_phalanx_active"] = self

    @torch.no_grad()
    def _deactivate(self) -> None:
        """Restore the base exactly as it was before this adapter was applied."""
        model = self.model
        if model.__dict__.get("_phalanx_active") is not self:
            return
        for name, orig in self._saved["originals"].items():
            p, flat, _ = self._sparse[name]
            p.detach().view(-1).index_copy_(0, flat, orig)
        for h, module in self._saved["heads"].items():
            _set_submodule(model, h, module)
        model.config.id2label, model.config.label2id, model.num_labels = self._saved["labels"]
        self._saved = {}
        del model.__dict__["_phalanx_active"]

    unload = _deactivate

    def to(self, device: str | torch.device) -> SpaRTAforSequenceClassification:
        """Move the base, this adapter's tensors and its heads to ``device``."""
        self._deactivate()
        device = torch.device(device)
        self.model.to(device)
        params = dict(self.model.named_parameters())
        self._sparse = {
            n: (params[n], flat.to(device), d.to(device))
            for n, (_, flat, d) in self._sparse.items()
        }
        self._heads = {h: m.to(device) for h, m in self._heads.items()}
        self.device = device
        self._activate()
        return self
