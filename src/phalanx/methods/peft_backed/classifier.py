"""The classification API over peft adapter folders; several adapters share one base."""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ...errors import InputError
from ...folder import (
    META_FILE,
    PEFT_CONFIG_FILE,
    PEFT_WEIGHTS_FILE,
    REPAIR,
    check_finite,
    check_head_rows,
    read_json,
    read_tensors,
)
from ...inference.classifier import TextClassifier
from ...models.archs import ARCHS
from ...models.fingerprint import base_fingerprint, fingerprint_mismatch
from ...models.loading import load_base_classifier

__all__ = ["PeftClassifier"]


class PeftClassifier(TextClassifier):
    """Load a phalanx LoRA / IA3 / P-tuning / prompt-tuning folder for inference.

    Pass ``model=`` (a base ``*ForSequenceClassification``, a ``PeftModel`` or another
    ``PeftClassifier``) to add this adapter to an already loaded base: peft keeps each
    adapter's weights (and head) apart and this classifier switches to its own before a
    forward. Adapters of different label sets (2 labels, 3, multi-label, a regression
    value) share one base: each head is sized by the adapter's saved weights.

    Example:
        >>> clf = PeftClassifier("runs/lora-minilm/adapter")  # doctest: +SKIP
        >>> clf.decide_class(["a charming journey"])  # doctest: +SKIP
        ['positive']
    """

    def _load(self, path: Path, model: Any, *, device: str | torch.device, dtype: Any) -> Any:
        from peft import PeftModel

        if not (path / PEFT_CONFIG_FILE).is_file():
            raise FileNotFoundError(f"adapter folder {path} has no {PEFT_CONFIG_FILE}")
        peft_type = read_json(path / PEFT_CONFIG_FILE).get("peft_type")
        if not isinstance(peft_type, str):
            raise InputError(
                f"{path / PEFT_CONFIG_FILE} names no peft_type (LORA, IA3, ...); {REPAIR}"
            )
        shapes = self._check_weights(path)
        self.repr_tag = self.method
        taken = len(getattr(model, "peft_config", {}) or {})
        self.adapter_name = re.sub(r"\W", "_", f"a{taken}_{path.name}")  # peft needs plain names
        if isinstance(model, PeftModel):
            kinds = {c.peft_type.value for c in model.peft_config.values()}
            if kinds != {peft_type}:
                raise ValueError(
                    f"peft cannot hold {'/'.join(sorted(kinds))} and {peft_type} "
                    f"adapters on one base; load {path} without model="
                )
            _load_sharing(model, path, self.adapter_name, shapes)
            return model
        if model is None:
            model = load_base_classifier(
                self.base_model_name, self.id2label, dtype=dtype, device=device
            )
        self._check_base(model, self.meta)
        with _quiet_peft():
            return PeftModel.from_pretrained(model, str(path), adapter_name=self.adapter_name)

    def _check_weights(self, path: Path) -> dict[str, torch.Size]:
        """The adapter's weights read, free of NaN / inf, one head row per label; their
        shapes by saved name (empty when the folder has no safetensors file)."""
        weights = path / PEFT_WEIGHTS_FILE
        if not weights.is_file():
            return {}  # peft names what is missing
        tensors = read_tensors(weights)
        check_finite(tensors.items(), weights)
        shapes = {n: t.shape for n, t in tensors.items()}
        spec = ARCHS.get(self.meta.get("model_type") or "")
        labels = self.meta.get("labels")
        if spec is not None and labels:
            check_head_rows(shapes, spec.main_head, len(labels), weights, path / META_FILE)
        return shapes

    @property
    def hf_model(self) -> Any:
        return self.model.get_base_model()

    def _check_base(self, model, meta: dict) -> None:
        expected = meta.get("base_fingerprint")
        if not expected:
            return
        heads = meta.get("head_modules", [])
        actual = base_fingerprint(model, heads)
        why = fingerprint_mismatch(expected, actual)
        if why:
            raise ValueError(
                f"base model mismatch for adapter {self.adapter}: it was trained on "
                f"{self.base_model_name!r}, but the given model differs ({why})"
            )

    def _activate(self) -> None:
        if self.model.active_adapter != self.adapter_name:
            self.model.set_adapter(self.adapter_name)

    def merge(self) -> None:
        """Fold LoRA / IA3 weights into the base for faster inference (not prompt methods)."""
        self._activate()
        # merge_adapter, not merge_and_unload: unloading fails on IA3's wrapped BERT pooler;
        # merged peft layers only call their base layer, so a traced graph is plain
        self.model.merge_adapter()

    def unmerge(self) -> None:
        self.model.unmerge_adapter()


@contextlib.contextmanager
def _quiet_peft() -> Iterator[None]:
    """Hide the deprecated transformers question peft asks the model while it adds an
    adapter (the user can do nothing about it), as ``apply_peft`` does."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing`", FutureWarning)
        yield


def _load_sharing(model: Any, path: Path, name: str, shapes: dict[str, torch.Size]) -> None:
    """Add the adapter in ``path`` to the loaded ``PeftModel`` as ``name``, its heads sized
    by its saved weights; the model is left as it was when that fails.

    peft copies each head module of a new adapter from the base's, which has the first
    adapter's width: another label set (3 labels, a regression value) would not load. So
    the adapter is added first (``add_adapter``: its LoRA layers, its head copies), the
    copies are fitted to the saved shapes, and ``load_adapter`` then only loads weights
    (it skips ``add_adapter`` for a name already in ``peft_config``).
    """
    from peft import PeftConfig

    config = PeftConfig.from_pretrained(str(path))
    model._check_new_adapter_config(config, is_trainable=False)  # what load_adapter checks
    config.inference_mode = True
    with _quiet_peft():
        model.add_adapter(name, config)
    try:
        _fit_head_copies(model, name, shapes, path)
        model.load_adapter(str(path), adapter_name=name)
    except BaseException as err:
        model.delete_adapter(name)  # the adapters already loaded keep working
        if isinstance(err, RuntimeError) and "size mismatch" in str(err):
            raise ValueError(f"{path} cannot share this base: {err}") from err
        raise


def _fit_head_copies(model: Any, name: str, shapes: dict[str, torch.Size], path: Path) -> None:
    """Rebuild each ``nn.Linear`` of adapter ``name``'s head copies (peft's
    ``ModulesToSaveWrapper.modules_to_save[name]``) whose saved weights have another shape."""
    from peft.utils.other import ModulesToSaveWrapper

    for wrapper_name, wrapper in model.named_modules():
        if not isinstance(wrapper, ModulesToSaveWrapper) or name not in wrapper.modules_to_save:
            continue
        prefix = f"{wrapper_name}."  # saved keys read base_model.model.<module>.<parameter>
        saved = {k[len(prefix) :]: s for k, s in shapes.items() if k.startswith(prefix)}
        head = wrapper.modules_to_save[name]
        for owner in sorted({key.rpartition(".")[0] for key in saved}):
            try:
                module = head.get_submodule(owner)
            except AttributeError:
                continue  # not in the model: peft reports the unexpected key
            own = {f"{owner}.{n}".lstrip("."): p for n, p in module.named_parameters(recurse=False)}
            if all(saved.get(k, p.shape) == p.shape for k, p in own.items()):
                continue
            resized = _resized_linear(module, {k.rpartition(".")[2]: saved.get(k) for k in own})
            if resized is None:
                raise ValueError(
                    f"{path}: the head module {wrapper_name}.{owner} holds weights of shapes "
                    f"{[tuple(saved[k]) for k in own if k in saved]} that a copy of the loaded "
                    "base's cannot take; load this adapter on its own base (without model=)"
                )
            if owner:
                parent, _, child = owner.rpartition(".")
                setattr(head.get_submodule(parent), child, resized)
            else:
                wrapper.modules_to_save[name] = resized


def _resized_linear(module: torch.nn.Module, saved: dict[str, Any]) -> torch.nn.Linear | None:
    """A ``Linear`` like ``module`` with the saved ``weight`` / ``bias`` rows, or None
    when ``module`` is no plain ``Linear`` or the shapes do not make one over its inputs."""
    weight = saved.get("weight")
    if type(module) is not torch.nn.Linear or weight is None or len(weight) != 2:
        return None
    if weight[1] != module.in_features:  # only the label count may differ, not the backbone
        return None
    has_bias = module.bias is not None
    if has_bias and saved.get("bias") not in (None, torch.Size([weight[0]])):
        return None
    p = module.weight
    new = torch.nn.Linear(weight[1], weight[0], bias=has_bias, device=p.device, dtype=p.dtype)
    return new.requires_grad_(p.requires_grad)
