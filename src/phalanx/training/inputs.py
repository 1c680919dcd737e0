"""From ``TextDataset`` splits to tokenized examples the HF Trainer can batch.

Texts are rendered with the input template, tokenized once (truncated, unpadded) and padded
per batch by the collator, on the side the model family needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import Dataset

from ..data import TextDataset
from ..data.templates import render_inputs, template_fields

__all__ = ["PadCollator", "TokenizedDataset", "render_examples", "tokenize_split"]


def render_examples(
    template: str | None, texts: Sequence[str], pairs: Sequence[str] | None = None
) -> tuple[list[str], list[str] | None]:
    """Apply ``template`` to texts (and pairs); returns (texts, pairs left to the tokenizer).

    With a template and pairs, the template's first field takes the text and its second the
    pair, so the result is one string per example.

    >>> render_examples("Q: {q} A: {a}", ["why?"], ["because"])
    (['Q: why? A: because'], None)
    """
    if template is None:
        return list(texts), None if pairs is None else list(pairs)
    if pairs is None:
        return render_inputs(template, list(texts)), None
    first, second = list(dict.fromkeys(template_fields(template)))[:2]
    items = [{first: t, second: p} for t, p in zip(texts, pairs, strict=True)]
    return render_inputs(template, items), None


class TokenizedDataset(Dataset):
    """Token ids (lists) and labels; items are dicts the collator pads."""

    def __init__(self, features: dict[str, list[list[int]]], labels: Sequence[int]):
        self.features = features
        self.labels = list(labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = {k: v[i] for k, v in self.features.items()}
        item["labels"] = self.labels[i]
        return item

    def sorted_by_length(self) -> TokenizedDataset:
        """Same examples, shortest first: evaluation pads far less, metrics are unchanged."""
        order = sorted(range(len(self)), key=lambda i: len(self.features["input_ids"][i]))
        feats = {k: [v[i] for i in order] for k, v in self.features.items()}
        return TokenizedDataset(feats, [self.labels[i] for i in order])


def tokenize_split(
    ds: TextDataset, tokenizer: Any, template: str | None, max_length: int
) -> TokenizedDataset:
    """Render, tokenize (truncating to ``max_length``) and keep the model's input columns."""
    texts, pairs = render_examples(template, ds.texts, ds.pairs)
    if not texts:
        return TokenizedDataset({"input_ids": [], "attention_mask": []}, [])
    args = (texts,) if pairs is None else (texts, pairs)
    enc = tokenizer(*args, truncation=True, max_length=max_length)
    keep = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
    features = {k: list(enc[k]) for k in keep}
    fallback = (
        tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.pad_token_id
    )
    for i, ids in enumerate(features["input_ids"]):
        if not ids:  # an empty rendering still gets one token
            features["input_ids"][i] = [fallback]
            features["attention_mask"][i] = [1]
            if "token_type_ids" in features:
                features["token_type_ids"][i] = [0]
    return TokenizedDataset(features, ds.labels)


class PadCollator:
    """Pad a list of items to the longest one, on the tokenizer's padding side."""

    def __init__(self, tokenizer: Any):
        self.pad_id = tokenizer.pad_token_id
        self.left = tokenizer.padding_side == "left"

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(it["input_ids"]) for it in items)
        batch: dict[str, torch.Tensor] = {}
        for key in items[0]:
            if key == "labels":
                batch["labels"] = torch.tensor([it["labels"] for it in items], dtype=torch.long)
                continue
            fill = self.pad_id if key == "input_ids" else 0
            out = torch.full((len(items), width), fill, dtype=torch.long)
            for row, it in enumerate(items):
                seq = torch.tensor(it[key], dtype=torch.long)
                if self.left:
                    out[row, width - len(seq) :] = seq
                else:
                    out[row, : len(seq)] = seq
            batch[key] = out
        return batch
