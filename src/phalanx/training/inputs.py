"""From ``TextDataset`` splits to tokenized examples the HF Trainer can batch.

Texts are rendered with the input template, tokenized once (truncated, unpadded) and padded
per batch by the collator, on the side the model family needs, by the same code
(``phalanx.inference.batching``) that pads for ``classify`` and the export ``Pipeline``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import Dataset

from ..data import TextDataset
from ..data.templates import render_inputs, template_fields
from ..inference.batching import pad, tokenize

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

    def __init__(self, features: dict[str, list[list[int]]], labels: Sequence[Any]):
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
    ds: TextDataset,
    tokenizer: Any,
    template: str | None,
    max_length: int,
    targets: Sequence[Any] | None = None,
) -> TokenizedDataset:
    """Render, tokenize (truncating to ``max_length``) and keep the model's input columns;
    ``targets`` (default: ``ds.labels``) are what the loss compares with: class ids,
    multi-hot rows or (normalised) regression targets."""
    texts, pairs = render_examples(template, ds.texts, ds.pairs)
    labels = ds.labels if targets is None else list(targets)
    if not texts:
        return TokenizedDataset({"input_ids": [], "attention_mask": []}, [])
    features = tokenize(tokenizer, texts, max_length, pairs)  # an empty text gets one token
    return TokenizedDataset(features, labels)


class PadCollator:
    """Pad a list of items to the longest one, on the tokenizer's padding side."""

    def __init__(self, tokenizer: Any):
        self.pad_id = tokenizer.pad_token_id
        self.padding_side = tokenizer.padding_side

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        columns = {k: [it[k] for it in items] for k in items[0] if k != "labels"}
        batch = pad(columns, self.pad_id, self.padding_side, return_tensors="pt")
        if "labels" in items[0]:
            labels = [it["labels"] for it in items]
            # class ids; multi-hot rows (multi_label) and targets (regression) are floats
            dtype = torch.long if isinstance(labels[0], int) else torch.float32
            batch["labels"] = torch.tensor(labels, dtype=dtype)
        return batch
