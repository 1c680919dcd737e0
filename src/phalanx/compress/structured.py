"""Structured pruning: remove whole attention heads and feed-forward neurons.

Unlike masks, this physically shrinks the weight matrices, so dense runtimes (PyTorch, ONNX
Runtime) do less work. Every layer keeps the same number of heads and neurons; which ones it
keeps is chosen per layer by importance.

Example:
    >>> report = prune_structured(model, heads_fraction=1 / 3, ffn_fraction=0.5)  # doctest: +SKIP
    >>> report["heads_per_layer"], report["ffn_per_layer"]  # doctest: +SKIP
    ([8, 8, 8, 8, 8, 8], [768, 768, 768, 768, 768, 768])
    >>> save_pruned(model, tokenizer, "runs/pruned")  # doctest: +SKIP
    >>> model = load_pruned("runs/pruned")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn as nn

from ..methods.full import save_pruned
from ..models.blocks import Layer, cut_heads, cut_neurons, layers_of
from ..models.pruned import PRUNING_FILE, load_pruned

__all__ = [
    "IMPORTANCE",
    "PRUNING_FILE",
    "load_pruned",
    "prune_structured",
    "pruning_state",
    "save_pruned",
    "taylor_scores",
]

log = logging.getLogger(__name__)

IMPORTANCE = ("magnitude", "taylor")
"""magnitude: weight norms (no data). taylor: |sum w * dL/dw| from ``taylor_scores``."""


def _check_fraction(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(
            f"{name}={value} is outside [0, 1): it is the fraction of units removed "
            "from every layer (0 keeps all, 1 would remove all)"
        )
    return float(value)


def pruning_state(model: nn.Module) -> dict[str, Any]:
    """What was removed so far, in the dense model's numbering (created on first use).

    ``{"num_heads", "num_kv_heads", "intermediate_size", "layers": [{"heads", "kv_heads",
    "ffn"}, ...]}``; lists hold the kept indices of the original model.
    """
    state = getattr(model, "phalanx_pruning", None)
    if state is None:
        layers = layers_of(model)
        first = layers[0]
        state = {
            "num_heads": first.num_heads,
            "num_kv_heads": first.num_kv_heads,
            "intermediate_size": first.num_neurons,
            "layers": [
                {
                    "heads": list(range(layer.num_heads)),
                    "kv_heads": list(range(layer.num_kv_heads)),
                    "ffn": list(range(layer.num_neurons)),
                }
                for layer in layers
            ],
        }
        model.phalanx_pruning = state
    return state


# -- importance ------------------------------------------------------------------------
def _magnitude_heads(layer: Layer) -> torch.Tensor:
    """||W_o[:, head]|| * ||W_v[kv head]||: a head whose output columns are zero scores 0."""
    d, h = layer.head_dim, layer.num_heads
    out = layer.out.weight.detach().float().reshape(layer.out.out_features, h, d)
    out_norm = out.pow(2).sum(dim=(0, 2)).sqrt()
    value = layer.value.weight.detach().float().reshape(layer.num_kv_heads, d, -1)
    value_norm = value.pow(2).sum(dim=(1, 2)).sqrt()
    return out_norm * value_norm.repeat_interleave(h // layer.num_kv_heads)


def _magnitude_neurons(layer: Layer) -> torch.Tensor:
    """Product of the neuron's input-row norms and output-column norm."""
    score = layer.ffn_out.weight.detach().float().norm(dim=0)
    for linear in layer.ffn_in:
        score = score * linear.weight.detach().float().norm(dim=1)
    return score


def _taylor(weight_grad: list[tuple[torch.Tensor, int]], units: int) -> torch.Tensor:
    """Sum of w * dL/dw per unit; ``dim`` 0 groups output rows, 1 input columns."""
    total = torch.zeros(units)
    for w, dim in weight_grad:
        g = w.grad
        if g is None:
            continue
        prod = (w.detach() * g).float()
        prod = prod if dim == 0 else prod.t()
        total += prod.reshape(units, -1).sum(dim=1).cpu()
    return total


def taylor_scores(model: nn.Module, batches: Iterable[dict[str, torch.Tensor]]) -> dict:
    """First-order Taylor importance of every head and neuron, from a few labelled batches.

    The score of a unit is ``|sum over its weights of w * dL/dw|``, summed over batches: the
    estimated loss change when the unit is removed (Molchanov et al. 2019). Each batch is
    passed as ``model(**batch)`` and must hold ``labels`` so the model returns a loss.

    Returns ``{"heads": [tensor per layer], "ffn": [tensor per layer]}`` for ``scores=``.
    """
    layers = layers_of(model)
    tracked = [p for layer in layers for p in _layer_weights(layer)]
    saved = [p.requires_grad for p in tracked]
    for p in tracked:
        p.requires_grad_(True)
    heads = [torch.zeros(layer.num_heads) for layer in layers]
    ffn = [torch.zeros(layer.num_neurons) for layer in layers]
    seen = 0
    try:
        for batch in batches:
            model.zero_grad(set_to_none=True)
            device = next(model.parameters()).device
            out = model(**{k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()})
            if getattr(out, "loss", None) is None:
                raise ValueError(
                    "taylor_scores needs batches with 'labels' so the model returns a loss"
                )
            out.loss.backward()
            for i, layer in enumerate(layers):
                heads[i] += _head_taylor(layer).abs()
                ffn[i] += _taylor(
                    [(w.weight, 0) for w in layer.ffn_in] + [(layer.ffn_out.weight, 1)],
                    layer.num_neurons,
                ).abs()
            seen += 1
    finally:
        model.zero_grad(set_to_none=True)
        for p, flag in zip(tracked, saved, strict=True):
            p.requires_grad_(flag)
    if seen == 0:
        raise ValueError("taylor_scores got no batches; pass a few labelled batches")
    return {"heads": heads, "ffn": ffn}


def _layer_weights(layer: Layer) -> list[nn.Parameter]:
    linears = [layer.query, layer.key, layer.value, layer.out, *layer.ffn_in, layer.ffn_out]
    return [lin.weight for lin in linears]


def _head_taylor(layer: Layer) -> torch.Tensor:
    own = [(layer.query.weight, 0), (layer.out.weight, 1)]
    if not layer.grouped:  # key and value heads belong to one query head each
        own += [(layer.key.weight, 0), (layer.value.weight, 0)]
    return _taylor(own, layer.num_heads)


def _scores_for(
    layers: list[Layer], importance: str, scores: dict | None, key: str
) -> list[torch.Tensor]:
    if importance == "magnitude":
        fn = _magnitude_heads if key == "heads" else _magnitude_neurons
        return [fn(layer) for layer in layers]
    if scores is None or key not in scores:
        raise ValueError(
            f"importance='taylor' needs scores={{'{key}': ...}}; "
            "compute them with taylor_scores(model, batches)"
        )
    given = list(scores[key])
    sizes = [layer.num_heads if key == "heads" else layer.num_neurons for layer in layers]
    if [len(s) for s in given] != sizes:
        raise ValueError(
            f"scores[{key!r}] has sizes {[len(s) for s in given]} but the model has {sizes} "
            "per layer; recompute taylor_scores on the model being pruned"
        )
    return [torch.as_tensor(s, dtype=torch.float32).cpu() for s in given]


# -- selection -------------------------------------------------------------------------
def _top(score: torch.Tensor, keep: int) -> torch.Tensor:
    # stable order of ties (lowest index first) so pruning is deterministic
    order = torch.argsort(-score, stable=True)
    return order[:keep].sort().values


def _select_heads(layer: Layer, score: torch.Tensor, fraction: float) -> tuple:
    if not layer.grouped:
        keep = layer.num_heads - round(layer.num_heads * fraction)
        if keep < 1:
            raise ValueError(
                f"heads_fraction={fraction} removes all {layer.num_heads} heads of a layer; "
                "use a smaller fraction"
            )
        chosen = _top(score, keep)
        return chosen, chosen
    # grouped-query attention: every key/value head keeps the same number of query heads,
    # so the query -> key/value mapping (head // group) still holds after the cut
    group = layer.num_heads // layer.num_kv_heads
    keep = group - round(group * fraction)
    if keep < 1:
        raise ValueError(
            f"heads_fraction={fraction} removes all {group} query heads sharing a key/value "
            "head; use a smaller fraction"
        )
    chosen = torch.cat(
        [
            _top(score[g * group : (g + 1) * group], keep) + g * group
            for g in range(layer.num_kv_heads)
        ]
    )
    return chosen, torch.arange(layer.num_kv_heads)


def prune_structured(
    model: nn.Module,
    *,
    heads_fraction: float,
    ffn_fraction: float,
    importance: str = "magnitude",
    scores: dict | None = None,
) -> dict[str, Any]:
    """Remove the least important heads and feed-forward neurons of every layer, in place.

    heads_fraction / ffn_fraction: share of each layer's query heads / neurons removed, in
    [0, 1) (rounded to whole units). Under grouped-query attention the fraction applies
    within every key/value group.
    importance: "magnitude" (weight norms) or "taylor" (needs ``scores`` from
    ``taylor_scores(model, batches)``).

    Supports BERT-like encoders (bert, roberta, xlm-roberta, electra) and Llama-like decoders
    (llama, mistral, qwen2, gemma). Create optimizers after pruning: parameters are new.
    Returns a report: kept heads / neurons per layer (dense numbering) and parameter counts.
    """
    heads_fraction = _check_fraction("heads_fraction", heads_fraction)
    ffn_fraction = _check_fraction("ffn_fraction", ffn_fraction)
    if importance not in IMPORTANCE:
        raise ValueError(
            f"unknown importance {importance!r}; choose one of {', '.join(IMPORTANCE)}"
        )
    if importance == "magnitude" and scores is not None:
        raise ValueError("scores are only used with importance='taylor'; drop scores= or set it")
    layers = layers_of(model)
    state = pruning_state(model)
    before = sum(p.numel() for p in model.parameters())
    head_scores = _scores_for(layers, importance, scores, "heads") if heads_fraction else None
    ffn_scores = _scores_for(layers, importance, scores, "ffn") if ffn_fraction else None
    # select everything first, so a refused fraction leaves the model untouched
    plans = []
    for i, layer in enumerate(layers):
        heads = _select_heads(layer, head_scores[i], heads_fraction) if head_scores else None
        if ffn_scores:
            keep = layer.num_neurons - round(layer.num_neurons * ffn_fraction)
            if keep < 1:
                raise ValueError(f"ffn_fraction={ffn_fraction} removes every neuron of a layer")
            neurons = _top(ffn_scores[i], keep)
        else:
            neurons = None
        plans.append((heads, neurons))
    for layer, record, (heads, neurons) in zip(layers, state["layers"], plans, strict=True):
        if heads is not None:
            cut_heads(layer, *heads)
            record["heads"] = [record["heads"][j] for j in heads[0].tolist()]
            record["kv_heads"] = [record["kv_heads"][j] for j in heads[1].tolist()]
        if neurons is not None:
            cut_neurons(layer, neurons)
            record["ffn"] = [record["ffn"][j] for j in neurons.tolist()]
    after = sum(p.numel() for p in model.parameters())
    log.info("structured pruning: %d -> %d parameters", before, after)
    return {
        "model_type": model.config.model_type,
        "importance": importance,
        "heads_fraction": heads_fraction,
        "ffn_fraction": ffn_fraction,
        "parameters_before": before,
        "parameters_after": after,
        "heads_per_layer": [len(r["heads"]) for r in state["layers"]],
        "ffn_per_layer": [len(r["ffn"]) for r in state["layers"]],
        "layers": [
            {"layer": i, "heads_kept": list(r["heads"]), "ffn_kept": list(r["ffn"])}
            for i, r in enumerate(state["layers"])
        ],
    }
