"""The classification API over generative adapters (label words scored by an LM)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..data.templates import render_inputs
from ..folder import META_FILE
from ..inference.classifier import TextClassifier
from ..validation import check_int_range
from .scorer import LabelScorer, generative_method, load_lm

__all__ = ["GenerativeClassifier"]


class GenerativeClassifier(TextClassifier):
    """``classify`` / ``decide_class`` / ``evaluate`` / ``generate`` for a generative folder.

    Probabilities are the softmax over the labels' verbalisation log-probabilities. The
    folder's method puts its weights onto the language model (``Method.apply_to_lm``);
    ``model=`` may be the base LM already loaded.

    Example:
        >>> clf = GenerativeClassifier("runs/lora-t5/adapter")  # doctest: +SKIP
        >>> clf.generate(["a charming journey"])  # doctest: +SKIP
        ['positive']
    """

    def _load(self, path: Path, model: Any, *, device: str | torch.device, dtype: Any) -> Any:
        if self.meta.get("task") != "generative":
            raise ValueError(f"{path} is not a generative adapter ({META_FILE} has no task)")
        method = generative_method(self.method)
        self.repr_tag = f"Generative {method.name}"
        if not method.frozen_base:  # the folder holds the whole language model
            lm = load_lm(str(path), dtype=dtype, device=device)
        else:
            lm = (
                model
                if model is not None
                else load_lm(self.base_model_name, dtype=dtype, device=device)
            )
        return method.apply_to_lm(lm, path, self.meta)

    @property
    def hf_model(self) -> Any:
        lm = self.model.lm if isinstance(self.model, LabelScorer) else self.model
        return lm.get_base_model() if hasattr(lm, "get_base_model") else lm

    def _ready(self) -> None:
        self.model = LabelScorer(self.model, self.tokenizer, self.meta["verbalizers"]).eval()

    @torch.inference_mode()
    def generate(self, texts: Any, max_new_tokens: int | None = None) -> list[str]:
        """Free (greedy) generation for each input, decoded (``max_new_tokens``: the model's
        generation default when None)."""
        if max_new_tokens is not None:
            check_int_range("max_new_tokens", max_new_tokens)
        rendered = render_inputs(self.template, texts)
        if not rendered:
            return []
        enc = self.tokenizer(
            rendered, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt"
        ).to(self.device)
        kwargs = {} if max_new_tokens is None else {"max_new_tokens": max_new_tokens}
        out = self.model.generate(enc["input_ids"], enc["attention_mask"], **kwargs)
        if not self.model.seq2seq:
            out = out[:, enc["input_ids"].shape[1] :]
        return [t.strip() for t in self.tokenizer.batch_decode(out, skip_special_tokens=True)]
