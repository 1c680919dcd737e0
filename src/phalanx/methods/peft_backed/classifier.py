"""The classification API over peft adapter folders; several adapters share one base."""

from __future__ import annotations

import re
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
    forward.

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
        self._check_weights(path)
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
            model.load_adapter(str(path), adapter_name=self.adapter_name)
            return model
        if model is None:
            model = load_base_classifier(
                self.base_model_name, self.id2label, dtype=dtype, device=device
            )
        self._check_base(model, self.meta)
        return PeftModel.from_pretrained(model, str(path), adapter_name=self.adapter_name)

    def _check_weights(self, path: Path) -> None:
        """The adapter's weights read, free of NaN / inf, one head row per label."""
        weights = path / PEFT_WEIGHTS_FILE
        if not weights.is_file():
            return  # peft names what is missing
        tensors = read_tensors(weights)
        check_finite(tensors.items(), weights)
        spec = ARCHS.get(self.meta.get("model_type") or "")
        labels = self.meta.get("labels")
        if spec is not None and labels:
            shapes = {n: t.shape for n, t in tensors.items()}
            check_head_rows(shapes, spec.main_head, len(labels), weights, path / META_FILE)

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
