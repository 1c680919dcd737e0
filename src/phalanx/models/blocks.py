"""Where the attention heads and feed-forward neurons of a model family live, and how to cut them.

Structured pruning needs, per transformer layer, the Linear modules whose output rows belong to
a head or neuron and the one whose input columns do. This table is the only per-family code;
shrinking a Linear is family-independent.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

__all__ = [
    "BLOCKS",
    "Blocks",
    "Layer",
    "blocks_for",
    "cut_heads",
    "cut_neurons",
    "head_rows",
    "layers_of",
    "shrink_linear",
]


@dataclass(frozen=True)
class Blocks:
    """Module paths of one model family (relative to ``model.base_model`` and to a layer).

    layers: the ModuleList of transformer layers.
    attention: the module whose head-count attributes the forward pass reads.
    query/key/value: Linear modules whose output rows are grouped by head.
    out: the attention output projection (input columns grouped by head).
    ffn_in: Linear modules whose output rows are the feed-forward neurons.
    ffn_out: the feed-forward output projection (input columns are the neurons).
    """

    layers: str
    attention: str
    query: str
    key: str
    value: str
    out: str
    ffn_in: tuple[str, ...]
    ffn_out: str
    ffn_module: str | None = None  # module holding an ``intermediate_size`` attribute


_BERT = Blocks(
    layers="encoder.layer",
    attention="attention.self",
    query="attention.self.query",
    key="attention.self.key",
    value="attention.self.value",
    out="attention.output.dense",
    ffn_in=("intermediate.dense",),
    ffn_out="output.dense",
)
_LLAMA = Blocks(
    layers="layers",
    attention="self_attn",
    query="self_attn.q_proj",
    key="self_attn.k_proj",
    value="self_attn.v_proj",
    out="self_attn.o_proj",
    ffn_in=("mlp.gate_proj", "mlp.up_proj"),
    ffn_out="mlp.down_proj",
    ffn_module="mlp",
)

# Families whose attention forward derives the head count from the projection shapes (the
# reshape uses -1 heads) and reads only per-module attributes we patch. Others are refused.
BLOCKS: dict[str, Blocks] = {
    "bert": _BERT,
    "roberta": _BERT,
    "xlm-roberta": _BERT,
    "electra": _BERT,
    "llama": _LLAMA,
    "mistral": _LLAMA,
    "qwen2": _LLAMA,
    "gemma": _LLAMA,
}


def blocks_for(model: nn.Module) -> Blocks:
    """The Blocks of ``model``'s family, or a ValueError naming the supported ones."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type not in BLOCKS:
        raise ValueError(
            f"structured pruning does not support model_type {model_type!r}; "
            f"supported: {', '.join(sorted(BLOCKS))}"
        )
    return BLOCKS[model_type]


@dataclass
class Layer:
    """The prunable modules of one transformer layer, resolved from a Blocks entry."""

    attention: nn.Module
    query: nn.Linear
    key: nn.Linear
    value: nn.Linear
    out: nn.Linear
    ffn_in: tuple[nn.Linear, ...]
    ffn_out: nn.Linear
    ffn_module: nn.Module | None
    head_dim: int
    num_heads: int
    num_kv_heads: int

    @property
    def grouped(self) -> bool:
        """Grouped-query attention: several query heads share one key/value head."""
        return self.num_kv_heads != self.num_heads

    @property
    def num_neurons(self) -> int:
        return self.ffn_out.in_features


def layers_of(model: nn.Module) -> list[Layer]:
    """Every transformer layer of ``model`` with its current head and neuron counts."""
    blocks = blocks_for(model)
    config = model.config
    base = model.base_model
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    result = []
    for layer in base.get_submodule(blocks.layers):
        query = layer.get_submodule(blocks.query)
        key = layer.get_submodule(blocks.key)
        result.append(
            Layer(
                attention=layer.get_submodule(blocks.attention),
                query=query,
                key=key,
                value=layer.get_submodule(blocks.value),
                out=layer.get_submodule(blocks.out),
                ffn_in=tuple(layer.get_submodule(n) for n in blocks.ffn_in),
                ffn_out=layer.get_submodule(blocks.ffn_out),
                ffn_module=layer.get_submodule(blocks.ffn_module) if blocks.ffn_module else None,
                head_dim=head_dim,
                num_heads=query.out_features // head_dim,
                num_kv_heads=key.out_features // head_dim,
            )
        )
    return result


def shrink_linear(linear: nn.Linear, index: torch.Tensor, dim: int) -> None:
    """Keep only ``index`` along ``dim`` (0: output rows, 1: input columns), in place.

    The module object stays the same (hooks and names survive); its parameters are new, so an
    optimizer must be created after pruning.
    """
    index = index.to(linear.weight.device)
    with torch.no_grad():
        weight = linear.weight.index_select(dim, index).clone()
        linear.weight = nn.Parameter(weight, requires_grad=linear.weight.requires_grad)
        if dim == 0:
            if linear.bias is not None:
                bias = linear.bias.index_select(0, index).clone()
                linear.bias = nn.Parameter(bias, requires_grad=linear.bias.requires_grad)
            linear.out_features = len(index)
        else:
            linear.in_features = len(index)


def head_rows(heads: torch.Tensor, head_dim: int) -> torch.Tensor:
    """Row (or column) indices of whole heads, in head order."""
    offsets = torch.arange(head_dim)
    return (heads.long()[:, None] * head_dim + offsets[None, :]).reshape(-1)


def cut_heads(layer: Layer, keep: torch.Tensor, keep_kv: torch.Tensor) -> None:
    """Keep query heads ``keep`` and key/value heads ``keep_kv`` (sorted, current numbering)."""
    rows = head_rows(keep, layer.head_dim)
    shrink_linear(layer.query, rows, 0)
    shrink_linear(layer.out, rows, 1)
    kv_rows = head_rows(keep_kv, layer.head_dim)
    shrink_linear(layer.key, kv_rows, 0)
    shrink_linear(layer.value, kv_rows, 0)
    attn = layer.attention
    # the forward pass and the attention kernels read these per-module attributes
    if hasattr(attn, "num_attention_heads"):  # BERT-like
        attn.num_attention_heads = len(keep)
        attn.all_head_size = len(keep) * layer.head_dim
    if hasattr(attn, "num_key_value_groups"):  # Llama-like
        attn.num_key_value_groups = len(keep) // len(keep_kv)
    layer.num_heads, layer.num_kv_heads = len(keep), len(keep_kv)


def cut_neurons(layer: Layer, keep: torch.Tensor) -> None:
    """Keep feed-forward neurons ``keep`` (sorted, current numbering)."""
    for linear in layer.ffn_in:
        shrink_linear(linear, keep, 0)
    shrink_linear(layer.ffn_out, keep, 1)
    if layer.ffn_module is not None and hasattr(layer.ffn_module, "intermediate_size"):
        layer.ffn_module.intermediate_size = len(keep)
