"""The classification API over peft adapter folders; several adapters share one base."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from ...inference.classifier import TextClassifier
from ...models.fingerprint import base_fingerprint, fingerprint_mismatch
from ...models.loading import load_base_classifier, load_tokenizer

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

    def __init__(
        self,
        adapter: str | Path,
        model: Any = None,
        device: str | torch.device = "cpu",
        input_template: str | None = None,
        max_length: int | None = None,
        dtype: str | torch.dtype | None = None,
        batch_size: int = 32,
    ):
        from peft import PeftModel

        path = Path(adapter)
        self.adapter = str(adapter)
        meta_file = path / "phalanx.json"
        if not (path / "adapter_config.json").is_file():
            raise FileNotFoundError(f"adapter folder {path} has no adapter_config.json")
        meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
        peft_cfg = json.loads((path / "adapter_config.json").read_text())
        self.base_model_name = meta.get("base_model") or peft_cfg["base_model_name_or_path"]
        labels = meta.get("labels") or ["LABEL_0", "LABEL_1"]
        self.id2label = {str(i): label for i, label in enumerate(labels)}
        if isinstance(model, TextClassifier):
            model = model.model
        taken = len(getattr(model, "peft_config", {}) or {})
        self.adapter_name = re.sub(r"\W", "_", f"a{taken}_{path.name}")  # peft needs plain names
        if isinstance(model, PeftModel):
            kinds = {c.peft_type.value for c in model.peft_config.values()}
            if kinds != {peft_cfg["peft_type"]}:
                raise ValueError(
                    f"peft cannot hold {'/'.join(sorted(kinds))} and {peft_cfg['peft_type']} "
                    f"adapters on one base; load {path} without model="
                )
            model.load_adapter(str(path), adapter_name=self.adapter_name)
        else:
            if model is None:
                model = load_base_classifier(
                    self.base_model_name, self.id2label, dtype=dtype, device=device
                )
            self._check_base(model, meta)
            model = PeftModel.from_pretrained(model, str(path), adapter_name=self.adapter_name)
        self.model = model.eval()
        self.device = next(model.parameters()).device
        base = model.get_base_model()
        self.tokenizer = load_tokenizer(self.base_model_name, base)
        self._settings(meta, input_template, max_length, base)
        self.batch_size = batch_size
        self.method = meta.get("method", peft_cfg.get("peft_type", "peft").lower())
        self.repr_tag = self.method

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
        self.model.merge_adapter()

    def unmerge(self) -> None:
        self.model.unmerge_adapter()
