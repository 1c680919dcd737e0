"""The classification API over generative adapters (label words scored by an LM)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..data.templates import render_inputs
from ..inference.classifier import TextClassifier
from ..models.loading import load_tokenizer
from .scorer import LabelScorer, load_lm

__all__ = ["GenerativeClassifier"]


class GenerativeClassifier(TextClassifier):
    """``classify`` / ``decide_class`` / ``evaluate`` / ``generate`` for a generative folder.

    Probabilities are the softmax over the labels' verbalisation log-probabilities.

    Example:
        >>> clf = GenerativeClassifier("runs/lora-t5/adapter")  # doctest: +SKIP
        >>> clf.generate(["a charming journey"])  # doctest: +SKIP
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
        path = Path(adapter)
        self.adapter = str(adapter)
        meta = json.loads((path / "phalanx.json").read_text())
        if meta.get("task") != "generative":
            raise ValueError(f"{path} is not a generative adapter (phalanx.json task)")
        self.base_model_name = meta["base_model"]
        method = meta["method"]
        if method == "full":
            lm = load_lm(str(path), dtype=dtype, device=device)
        else:
            lm = (
                model
                if model is not None
                else load_lm(meta["base_model"], dtype=dtype, device=device)
            )
            if method == "sparta":
                _merge_sparse_deltas(lm, path)
            else:
                from peft import PeftModel

                lm = PeftModel.from_pretrained(lm, str(path))
        self.tokenizer = load_tokenizer(self.base_model_name, _unwrap(lm))
        self.model = LabelScorer(lm, self.tokenizer, meta["verbalizers"]).eval()
        self.device = next(lm.parameters()).device
        self.id2label = {str(i): label for i, label in enumerate(meta["labels"])}
        self._settings(meta, input_template, max_length, _unwrap(lm))
        self.repr_tag = f"Generative {method}"
        self.batch_size = batch_size

    @torch.inference_mode()
    def generate(self, texts: Any, max_new_tokens: int | None = None) -> list[str]:
        """Free (greedy) generation for each input, decoded."""
        rendered = render_inputs(self.template, texts)
        if not rendered:
            return []
        enc = self.tokenizer(
            rendered, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt"
        ).to(self.device)
        kwargs = {"max_new_tokens": max_new_tokens} if max_new_tokens else {}
        out = self.model.generate(enc["input_ids"], enc["attention_mask"], **kwargs)
        if not self.model.seq2seq:
            out = out[:, enc["input_ids"].shape[1] :]
        return [t.strip() for t in self.tokenizer.batch_decode(out, skip_special_tokens=True)]


def _unwrap(lm):
    return lm.get_base_model() if hasattr(lm, "get_base_model") else lm


@torch.no_grad()
def _merge_sparse_deltas(lm, path: Path) -> None:
    """Add a SpaRTA folder's deltas into ``lm`` (irreversible; this classifier owns ``lm``)."""
    from ..methods.sparta.format import read_sparta_adapter

    ad = read_sparta_adapter(path)
    for name, p in lm.named_parameters():
        delta = ad.deltas.get(name)
        if delta is None:
            raise ValueError(f"adapter {path} has no entry for {name!r}: another base model?")
        if delta.numel():
            idx = tuple(ad.indices[name].long().to(p.device).unbind(1))
            p[idx] = (p[idx].float() + delta.to(p.device)).to(p.dtype)
