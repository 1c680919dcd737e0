"""Mixed-adapter batches: requests for several adapters of one shared base in one forward.

``can_mix(models)`` says whether a group of served adapters can run this way;
``mixed_classify(models, items)`` scores ``items[i]`` with ``models[i]`` in shared forwards
and returns what ``models[i].classify(items[i])`` would (within float rounding, ~1e-6).

SpaRTA adapters: everything but the adapted Linears runs once for every row; each adapted
Linear runs once per adapter on its rows with that adapter's deltas written in for the
product, and each adapter's head acts on its rows only (``phalanx.methods.sparta.mixed``).
peft LoRA adapters: peft's mixed-batch forward in the LoRA layers, each adapter's head on its
rows (``phalanx.methods.peft_backed.mixed``).

Thread safety:
    * SpaRTA: a mixed forward writes each adapter's deltas into the shared Linear weights
      for its rows' products (restored bit for bit before each Linear returns), and the
      switching path (``ServedModel.classify``) writes an adapter's deltas for a whole
      forward. So every ``mixed_classify`` call on a SpaRTA group holds the group's gate (a
      lock on the shared base module) for the whole call: mixed calls from several threads
      are safe and run one after another. A switching ``classify`` of the group that may
      overlap mixed calls must be wrapped in ``with exclusive(model):`` (it waits for the
      running mixed call, and mixed calls wait for it); nothing else may run a forward of
      the shared base meanwhile. ``writes_weights(models)`` says whether a group needs this.
    * LoRA: a mixed forward writes no weight and reads no active-adapter state, so mixed
      calls run at the same time in several threads (each thread's routing lives in a
      ``ContextVar``) and may overlap the switching path too (not a ``merge`` / ``unmerge`` /
      ``load_adapter`` of the group).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from ..inference.batching import check_scores, pad, token_budget, tokenize
from .models import ServedModel

__all__ = [
    "FORWARD_COST_TOKENS",
    "can_mix",
    "exclusive",
    "mixed_classify",
    "padding_batches",
    "why_not_mixed",
    "writes_weights",
]

_LOCK = threading.Lock()  # creating gates and per-adapter delta tables

FORWARD_COST_TOKENS = 96
"""What one more forward costs, in padded tokens: the split of a mixed batch by length pays
this for each forward it adds and saves the padding it removes."""


def _family(model: ServedModel) -> str | None:
    from ..methods.peft_backed.classifier import PeftClassifier
    from ..methods.sparta.classifier import SpaRTAforSequenceClassification

    if isinstance(model.backend, SpaRTAforSequenceClassification):
        return "sparta"
    if isinstance(model.backend, PeftClassifier):
        return "lora"
    return None


def why_not_mixed(models: Sequence[ServedModel]) -> str | None:
    """Why ``models`` cannot share mixed batches (None: they can)."""
    if not models:
        return "no models"
    families = {_family(m) for m in models}
    if None in families or len(families) > 1:
        kinds = sorted({m.kind for m in models})
        return f"mixed batches take SpaRTA or LoRA adapters of one method, not {kinds}"
    if len({m.group for m in models}) > 1 or len({id(m.backend.model) for m in models}) > 1:
        return "the models do not share one loaded base"
    first = models[0].backend
    for m in models[1:]:
        tok, ref = m.backend.tokenizer, first.tokenizer
        if (tok.pad_token_id, tok.padding_side, list(tok.model_input_names)) != (
            ref.pad_token_id,
            ref.padding_side,
            list(ref.model_input_names),
        ):
            return f"{m.name} pads its inputs differently from {models[0].name}"
        if m.backend.device != first.device:
            return f"{m.name} runs on {m.backend.device}, {models[0].name} on {first.device}"
    if families == {"lora"}:
        from ..methods.peft_backed.mixed import lora_unsupported_reason

        return lora_unsupported_reason(first.model, [m.backend.adapter_name for m in models])
    return _sparta_reason(models)


def _sparta_reason(models: Sequence[ServedModel]) -> str | None:
    from ..methods.sparta.mixed import unsupported_reason

    base = models[0].backend.model
    if base.training:
        return "the base is in training mode"
    for m in models:
        clf = m.backend
        why = unsupported_reason(base, clf._sparse)
        if why:
            return f"{m.name}: {why}"
        for h, module in clf._heads.items():
            if clf.main_head.startswith(h + "."):
                continue  # the final layer's width is the label count: padded per adapter
            shapes = [p.shape for p in module.parameters()]
            if shapes != [p.shape for p in base.get_submodule(h).parameters()]:
                return f"{m.name}: its head module {h} has another shape than the base's"
    return None


def can_mix(models: Sequence[ServedModel]) -> bool:
    """Whether ``models`` (torch adapters of one shared base) can run in mixed batches."""
    return why_not_mixed(models) is None


def writes_weights(models: Sequence[ServedModel]) -> bool:
    """Whether a mixed forward of ``models`` writes the shared weights while it runs (SpaRTA):
    then it must not overlap any other forward of their base."""
    return bool(models) and _family(models[0]) == "sparta"


def _gate(base: torch.nn.Module) -> Any:
    """The lock that mixed forwards and wrapped switching forwards of ``base`` hold."""
    with _LOCK:
        gate = base.__dict__.get("_phalanx_mixed_gate")
        if gate is None:
            gate = base.__dict__["_phalanx_mixed_gate"] = threading.Lock()
        return gate


@contextlib.contextmanager
def exclusive(model: ServedModel) -> Iterator[None]:
    """Hold ``model``'s shared base alone (no mixed forward runs meanwhile): wrap a
    switching ``model.classify`` of a SpaRTA group that mixed calls may overlap."""
    inner = getattr(model.backend, "model", None)
    if _family(model) != "sparta" or inner is None:
        yield
        return
    with _gate(inner):
        yield


def mixed_classify(
    models: Sequence[ServedModel], items: Sequence[Sequence[Any]]
) -> list[np.ndarray]:
    """Scores of ``items[i]`` by ``models[i]`` ([len(items[i]), C_i] float32 each, as
    ``models[i].classify(items[i])``), computed in forwards shared by all the models."""
    if len(models) != len(items):
        raise InputError(f"{len(models)} models but {len(items)} lists of inputs; give one each")
    if not models:
        return []
    why = why_not_mixed(models)
    if why:
        raise ValueError(f"these models cannot share mixed batches: {why}; serve by switching")
    clfs = [m.backend for m in models]
    columns = [
        tokenize(c.tokenizer, m.render(x), c.max_length) if len(x) else {}
        for m, c, x in zip(models, clfs, items, strict=True)
    ]
    logits = [torch.empty((len(x), c.num_labels)) for c, x in zip(clfs, items, strict=True)]
    owner = [(i, j) for i, col in enumerate(columns) for j in range(len(items[i]))]
    if owner:
        first = clfs[0]
        lengths = [len(columns[i]["input_ids"][j]) for i, j in owner]
        budgets = [c.max_batch_tokens for c in clfs if c.max_batch_tokens is not None]
        batches = padding_batches(
            lengths,
            max(c.batch_size for c in clfs),
            max_tokens=token_budget(first.device, min(budgets) if budgets else None),
        )
        run = _sparta_runner if _family(models[0]) == "sparta" else _lora_runner
        with run(clfs) as forward:
            # each model's rows contiguous; in them the row with the most padding at the end
            # of the run a SpaRTA product covers (last: right padding, first: left padding)
            sign = -1 if first.tokenizer.padding_side == "right" else 1
            for rows in batches:
                rows = sorted(rows, key=lambda r: (owner[r][0], sign * lengths[r]))
                picked = [owner[r] for r in rows]
                keys = columns[picked[0][0]].keys()
                batch = pad(
                    {k: [columns[i][k][j] for i, j in picked] for k in keys},
                    first.tokenizer.pad_token_id,
                    first.tokenizer.padding_side,
                )
                spans = _spans([i for i, _ in picked])
                out = forward({k: v.to(first.device) for k, v in batch.items()}, spans)
                for i, start, end in spans:
                    at = [j for _, j in picked[start:end]]
                    logits[i][at] = out[start:end, : clfs[i].num_labels].float().cpu()
    results = []
    for m, c, lg in zip(models, clfs, logits, strict=True):
        check_scores(lg, f"adapter {c.adapter}")
        results.append(np.asarray(m.problem.scores(lg).numpy(), dtype=np.float32))
    return results


def padding_batches(
    lengths: Sequence[int],
    batch_size: int,
    *,
    max_tokens: int | None = None,
    forward_tokens: int | None = None,
) -> list[list[int]]:
    """Row indices per batch, shortest rows first, cut where the padding saved outweighs a
    forward more (``forward_tokens``, default :data:`FORWARD_COST_TOKENS`).

    A mixed batch gathers requests for many adapters, so it spans more lengths than one
    adapter's batch: one forward over all of them pads every row to the longest (40% of the
    tokens of 16 rotten_tomatoes sentences). Minimises ``sum(rows * longest) + forward_tokens
    * batches`` over cuts of the sorted rows, with at most ``batch_size`` rows and (unless
    ``max_tokens`` is None or 0) ``max_tokens`` padded tokens a batch.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    per_forward = FORWARD_COST_TOKENS if forward_tokens is None else forward_tokens
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    sizes = [lengths[i] for i in order]
    best = [0.0] + [float("inf")] * len(order)  # best[i]: cost of the first i sorted rows
    cut = [0] * (len(order) + 1)
    for end in range(1, len(order) + 1):
        for start in range(end - 1, max(0, end - batch_size) - 1, -1):
            padded = (end - start) * sizes[end - 1]
            if max_tokens and padded > max_tokens and end - start > 1:
                break  # longer batches only pad more
            cost = best[start] + padded + per_forward
            if cost < best[end]:
                best[end], cut[end] = cost, start
    batches, end = [], len(order)
    while end:
        batches.append(order[cut[end] : end])
        end = cut[end]
    return batches[::-1]


def _spans(owners: Sequence[int]) -> list[tuple[int, int, int]]:
    """``(model index, start, end)`` runs of equal owners (already grouped)."""
    spans, start = [], 0
    for k in range(1, len(owners) + 1):
        if k == len(owners) or owners[k] != owners[start]:
            spans.append((owners[start], start, k))
            start = k
    return spans


def _deltas_of(clf: Any) -> Any:
    from ..methods.sparta.mixed import AdapterDeltas

    with _LOCK:
        cached = clf.__dict__.get("_phalanx_mixed_deltas")
        if cached is None or cached[0] is not clf._sparse:  # moved (``to``): rebuild
            cached = (clf._sparse, AdapterDeltas(clf.model, clf._sparse, clf._heads))
            clf.__dict__["_phalanx_mixed_deltas"] = cached
        return cached[1]


@contextlib.contextmanager
def _sparta_runner(clfs: Sequence[Any]) -> Iterator[Any]:
    from ..methods.sparta.mixed import MixedRoute, install_hooks, mixed_route

    base = clfs[0].model
    tables = [_deltas_of(c) for c in clfs]
    modules = {m for t in tables for m in t.modules}

    with _gate(base), torch.inference_mode():
        active = base.__dict__.get("_phalanx_active")
        if active is not None:
            active._deactivate()  # restores the base's weights and heads bit for bit
        heads = {base.get_submodule(h): h for h in clfs[0].head_modules}  # the base's own
        install_hooks([*modules, *heads])

        def forward(batch: dict[str, torch.Tensor], spans: list) -> torch.Tensor:
            n = batch["input_ids"].shape[0]
            mask = batch.get("attention_mask")
            route = MixedRoute(base, tables, spans, n, heads, None if mask is None else mask != 0)
            with mixed_route(route):
                return base(**batch).logits

        yield forward


@contextlib.contextmanager
def _lora_runner(clfs: Sequence[Any]) -> Iterator[Any]:
    from ..methods.peft_backed.mixed import LoraRoute, install_lora_hooks, lora_route

    peft_model = clfs[0].model
    install_lora_hooks(peft_model)

    def forward(batch: dict[str, torch.Tensor], spans: list) -> torch.Tensor:
        named = [(clfs[i].adapter_name, s, e) for i, s, e in spans]
        names = [name for name, s, e in named for _ in range(e - s)]
        with lora_route(LoraRoute(peft_model, names, named)):
            return peft_model(**batch).logits

    with torch.inference_mode():
        yield forward
