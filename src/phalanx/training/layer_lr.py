"""Layer-wise learning-rate decay (LLRD) for fine-tuning transformer stacks.

The head and everything above the last block train at the peak learning rate; block ``i``
of ``L`` at ``lr * decay ** (L - i)``; the embeddings at ``lr * decay ** (L + 1)``. Lower
layers hold the general features that a small labelled set should move least (ULMFiT;
ELECTRA; Zhang et al. 2021, "Revisiting few-sample BERT fine-tuning").

    >>> from phalanx.training.layer_lr import layer_depths
    >>> depths, n_layers = layer_depths(["bert.embeddings.word_embeddings.weight",
    ...     "bert.encoder.layer.0.output.dense.weight", "classifier.weight"])
    >>> depths, n_layers
    ([0, 1, 2], 1)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import torch

__all__ = ["layer_depths", "layer_lr_groups"]

# numbered blocks of BERT/RoBERTa (layer.N), Llama/Gemma (layers.N), T5 (block.N), GPT-2 (h.N)
_BLOCK_RE = re.compile(r"(?:^|\.)(?:layer|layers|block|h)\.(\d+)\.")
# inputs below the first block: token/position embeddings, T5's shared embedding
_EMBED_RE = re.compile(r"(?:^|\.)(?:shared|[a-z_]*embed[a-z_]*)(?:\.|$)")


def layer_depths(names: Iterable[str]) -> tuple[list[int], int]:
    """Depth of each parameter name (0 = embeddings, i + 1 = block i, L + 1 = above the
    blocks) and the number of blocks L. Encoder-decoder stacks number their blocks per
    stack, so an encoder block and the decoder block of the same index share a depth."""
    names = list(names)
    blocks = [_BLOCK_RE.search(n) for n in names]
    n_layers = 1 + max((int(m.group(1)) for m in blocks if m), default=-1)
    depths = []
    for name, m in zip(names, blocks, strict=True):
        if m:
            depths.append(int(m.group(1)) + 1)
        elif _EMBED_RE.search(name):
            depths.append(0)
        else:
            depths.append(n_layers + 1)
    return depths, n_layers


def layer_lr_groups(
    model: torch.nn.Module,
    lr: float,
    decay: float,
    weight_decay: float,
    decay_names: set[str],
) -> list[dict[str, Any]]:
    """AdamW parameter groups: one per (depth, weight-decay) pair, each with its own lr.

    ``decay_names`` are the parameters that take weight decay (the Trainer excludes biases
    and norms). Raises if the model has no numbered blocks to decay over.
    """
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    depths, n_layers = layer_depths(n for n, _ in params)
    if n_layers == 0:
        raise ValueError(
            f"layer_lr_decay={decay} needs numbered transformer blocks (layer.N, layers.N, "
            "block.N or h.N in the parameter names) among the trainable parameters; none "
            "found: leave layer_lr_decay at 1"
        )
    groups: dict[tuple[int, bool], dict[str, Any]] = {}
    for (name, p), depth in zip(params, depths, strict=True):
        takes_wd = name in decay_names
        group = groups.setdefault(
            (depth, takes_wd),
            {
                "params": [],
                "lr": lr * decay ** (n_layers + 1 - depth),
                "weight_decay": weight_decay if takes_wd else 0.0,
            },
        )
        group["params"].append(p)
    # the head's group first: the Trainer logs the first group's lr, which is then the peak
    return [groups[k] for k in sorted(groups, key=lambda k: (-k[0], k[1]))]
