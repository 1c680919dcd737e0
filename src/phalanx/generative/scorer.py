"""Generative classification: a language model scores each label's verbalisation.

Sequence-to-sequence models (T5 / mt0) and decoder LMs classify by the log-probability of
each label word given the (templated) input, not by sampling. ``LabelScorer`` wraps the LM
so that its forward returns class logits ``[B, C]`` (and a cross-entropy loss over them), so
the trainer, the classification API and the metrics work unchanged.

For decoder LMs whose verbalisations are single tokens this is one forward pass: the LM
head's logits of the label tokens at the last position. Longer verbalisations cost one pass
per class (the encoder runs once).

Example:
    >>> scorer = LabelScorer(lm, tokenizer, ["negative", "positive"])  # doctest: +SKIP
    >>> scorer(**tokenizer(["It was bad."], return_tensors="pt")).logits.shape  # doctest: +SKIP
    torch.Size([1, 2])
"""

from __future__ import annotations

import logging
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers.modeling_outputs import SequenceClassifierOutput

__all__ = [
    "LabelScorer",
    "apply_generative",
    "generative_method",
    "load_lm",
    "save_generative",
    "verbalizer_ids",
]

log = logging.getLogger(__name__)


def verbalizer_ids(tokenizer, verbalizers: list[str], seq2seq: bool) -> list[list[int]]:
    """Token ids of each label word (a leading space for decoders, EOS for seq2seq)."""
    if len(set(verbalizers)) != len(verbalizers):
        raise ValueError(f"verbalizers must differ from each other, got {verbalizers}")
    out = []
    for word in verbalizers:
        if not word.strip():
            raise ValueError(f"empty verbalizer in {verbalizers}; give one word per label")
        if seq2seq:
            ids = tokenizer(word, add_special_tokens=True)["input_ids"]
        else:
            ids = tokenizer(" " + word.strip(), add_special_tokens=False)["input_ids"]
        if not ids:
            raise ValueError(f"verbalizer {word!r} tokenizes to nothing")
        out.append(ids)
    return out


def load_lm(name_or_path: str, *, dtype: Any = None, device: str = "cpu"):
    """``AutoModelForSeq2SeqLM`` for encoder-decoders, else ``AutoModelForCausalLM``."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM

    from ..assets import resolve_model
    from ..models.loading import resolve_dtype

    path = resolve_model(name_or_path)
    config = AutoConfig.from_pretrained(path)
    cls = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM
    return cls.from_pretrained(path, dtype=resolve_dtype(dtype, device)).to(device)


class LabelScorer(nn.Module):
    """Class logits from a (possibly peft-wrapped) LM: ``log p(verbalizer_c | input)``."""

    def __init__(self, lm: nn.Module, tokenizer, verbalizers: list[str]):
        super().__init__()
        self.lm = lm
        base = lm.get_base_model() if hasattr(lm, "get_base_model") else lm
        self.seq2seq = bool(getattr(base.config, "is_encoder_decoder", False))
        if not self.seq2seq and tokenizer.padding_side != "left":
            raise ValueError("decoder LMs score the last position: use a left-padding tokenizer")
        self.verbalizers = list(verbalizers)
        self.label_ids = verbalizer_ids(tokenizer, self.verbalizers, self.seq2seq)
        self.single_token = not self.seq2seq and all(len(v) == 1 for v in self.label_ids)
        self.pad_id = tokenizer.pad_token_id
        self.config = base.config  # the HF Trainer and the classifier read it

    def print_trainable_parameters(self) -> str:
        """peft's line for the wrapped LM's adapter."""
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        total = sum(p.numel() for n, p in self.named_parameters() if ".sparta_" not in n)
        line = (
            f"trainable params: {trainable:,d} || all params: {total:,d} "
            f"|| trainable%: {100 * trainable / total:.5f}%"
        )
        print(line)
        return line

    @property
    def num_labels(self) -> int:
        return len(self.verbalizers)

    def forward(self, input_ids, attention_mask=None, labels=None, **kwargs):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if self.seq2seq:
            scores = self._seq2seq_scores(input_ids, attention_mask)
        elif self.single_token:
            logits = self.lm(input_ids=input_ids, attention_mask=attention_mask).logits[:, -1]
            ids = torch.tensor([v[0] for v in self.label_ids], device=logits.device)
            scores = logits.float().log_softmax(-1)[:, ids]
        else:
            scores = self._decoder_scores(input_ids, attention_mask)
        loss = F.cross_entropy(scores, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=scores)

    def _seq2seq_scores(self, input_ids, attention_mask) -> torch.Tensor:
        encoder = self.lm.get_encoder()
        enc = encoder(input_ids=input_ids, attention_mask=attention_mask)
        cols = []
        for ids in self.label_ids:
            target = torch.tensor(ids, device=input_ids.device).repeat(input_ids.shape[0], 1)
            out = self.lm(encoder_outputs=enc, attention_mask=attention_mask, labels=target)
            logp = out.logits.float().log_softmax(-1).gather(-1, target.unsqueeze(-1))
            cols.append(logp.squeeze(-1).sum(-1))
        return torch.stack(cols, dim=1)

    def _decoder_scores(self, input_ids, attention_mask) -> torch.Tensor:
        cols = []
        for ids in self.label_ids:
            tail = torch.tensor(ids, device=input_ids.device).repeat(input_ids.shape[0], 1)
            full = torch.cat([input_ids, tail], dim=1)
            mask = torch.cat([attention_mask, torch.ones_like(tail)], dim=1)
            logits = self.lm(input_ids=full, attention_mask=mask).logits[:, -len(ids) - 1 : -1]
            logp = logits.float().log_softmax(-1).gather(-1, tail.unsqueeze(-1))
            cols.append(logp.squeeze(-1).sum(-1))
        return torch.stack(cols, dim=1)

    @torch.no_grad()
    def generate(self, input_ids, attention_mask=None, **kwargs):
        """Free generation from the LM (greedy by default)."""
        kwargs.setdefault("max_new_tokens", max(len(v) for v in self.label_ids) + 2)
        kwargs.setdefault("do_sample", False)
        return self.lm.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)


def apply_generative(lm: nn.Module, tokenizer, method: str, config: Any, verbalizers: list[str]):
    """Wrap ``lm`` with a method's adapter, then with a ``LabelScorer``."""
    return LabelScorer(generative_method(method).apply(lm, config), tokenizer, verbalizers)


def generative_method(name: str) -> Any:
    """The registered method ``name``; ValueError when it cannot adapt a language model."""
    from ..registry import get_method, method_names

    method = get_method(name)
    if not method.generative:
        usable = [n for n in method_names() if get_method(n).generative]
        raise ValueError(
            f"method {name!r} cannot adapt a language model that scores label words "
            f"(generative classification has no classification head); use {', '.join(usable)}"
        )
    return method


def save_generative(
    scorer: LabelScorer,
    path,
    *,
    base_model: str,
    method: str,
    meta: dict[str, Any] | None = None,
    overwrite: bool = False,
):
    """The method's own folder (peft, SpaRTA or full) with ``task: generative`` metadata."""
    from ..registry import get_method

    meta = {
        **(meta or {}),
        "task": "generative",
        "verbalizers": scorer.verbalizers,
        "labels": (meta or {}).get("labels") or scorer.verbalizers,
    }
    return get_method(method).save(
        scorer.lm, path, base_model=base_model, meta=meta, overwrite=overwrite
    )
