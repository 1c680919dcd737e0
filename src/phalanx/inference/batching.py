"""Tokenizing, padding and length-sorted batching: the one implementation behind ``classify``,
the export ``Pipeline``, the training collator, the distillation teacher and pair evaluation.

Texts are tokenized once (truncated, unpadded); an empty text gets one token
(:func:`empty_token_id`). Rows are sorted by length and cut into batches of at most
``batch_size`` rows, at most ``max_tokens`` padded tokens and never across a ``buckets``
boundary; each batch is padded to its own longest row, on the tokenizer's padding side.
Results go back in input order.

Example:
    >>> pad({"input_ids": [[5, 6, 7], [8]]}, pad_id=0, padding_side="left", return_tensors="np")
    {'input_ids': array([[5, 6, 7],
           [0, 0, 8]]), 'attention_mask': array([[1, 1, 1],
           [0, 0, 1]])}
    >>> length_batches([5, 1, 3, 2], batch_size=2)
    [[1, 3], [2, 0]]
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ModelOutputError

__all__ = [
    "CPU_TOKEN_BUDGET",
    "check_scores",
    "empty_token_id",
    "length_batches",
    "pad",
    "run_in_batches",
    "token_budget",
    "tokenize",
]

CPU_TOKEN_BUDGET = 2048
"""Padded tokens per batch on CPU: a larger batch outgrows the caches and runs slower per text."""

Columns = Mapping[str, Sequence[Sequence[int]]]


def empty_token_id(tokenizer: Any) -> int:
    """The token an empty text is given: EOS, else PAD (an id of 0 is a valid id)."""
    for name in ("eos_token_id", "pad_token_id"):
        token = getattr(tokenizer, name, None)
        if token is not None:
            return int(token)
    raise ValueError(
        f"tokenizer {type(tokenizer).__name__} has neither an EOS nor a PAD token, so an empty "
        "text has no token to stand for it; set tokenizer.pad_token (e.g. to its EOS token)"
    )


def tokenize(
    tokenizer: Any,
    texts: Sequence[str],
    max_length: int | None,
    pairs: Sequence[str] | None = None,
    *,
    empty_id: int | None = None,
) -> dict[str, list[list[int]]]:
    """Truncated, unpadded token columns (input_ids, attention_mask, token_type_ids if the
    tokenizer makes them); an empty input gets the one token ``empty_id`` (default:
    :func:`empty_token_id`)."""
    args = (list(texts),) if pairs is None else (list(texts), list(pairs))
    enc = tokenizer(*args, truncation=True, max_length=max_length)
    keys = ("input_ids", "attention_mask", "token_type_ids")
    columns = {k: list(enc[k]) for k in keys if k in enc}
    empties = [i for i, row in enumerate(columns["input_ids"]) if not len(row)]
    if empties:
        token = empty_token_id(tokenizer) if empty_id is None else empty_id
        fill = {"input_ids": token, "attention_mask": 1}  # token_type_ids: 0
        for key, rows in columns.items():
            for i in empties:
                rows[i] = [fill.get(key, 0)]
    return columns


def pad(
    columns: Columns,
    pad_id: int | None,
    padding_side: str = "right",
    *,
    return_tensors: str = "pt",
) -> dict[str, Any]:
    """Pad every column to the longest row: input_ids with ``pad_id``, the others with 0.

    An ``attention_mask`` is added when the columns have none. ``return_tensors``: "pt"
    (int64 torch tensors) or "np" (int64 numpy arrays).
    """
    if return_tensors not in ("pt", "np"):
        raise ValueError(f"return_tensors must be 'pt' or 'np', got {return_tensors!r}")
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    if pad_id is None:
        raise ValueError(
            "the tokenizer has no pad token, so a batch cannot be padded; set "
            "tokenizer.pad_token (e.g. to its EOS token)"
        )
    ids = columns["input_ids"]
    width = max((len(s) for s in ids), default=0)
    left = padding_side == "left"
    out: dict[str, Any] = {}
    names = list(columns) + ([] if "attention_mask" in columns else ["attention_mask"])
    for name in names:
        array = np.full((len(ids), width), pad_id if name == "input_ids" else 0, dtype=np.int64)
        for row, seq in enumerate(ids):
            span = slice(width - len(seq), width) if left else slice(0, len(seq))
            array[row, span] = columns[name][row] if name in columns else 1
        out[name] = array
    if return_tensors == "pt":
        import torch

        return {k: torch.from_numpy(v) for k, v in out.items()}
    return out


def token_budget(device: Any, max_tokens: int | None = None) -> int | None:
    """``max_tokens`` if given, else :data:`CPU_TOKEN_BUDGET` on CPU and none on GPUs."""
    if max_tokens is not None:
        return max_tokens
    kind = device if isinstance(device, str) else getattr(device, "type", str(device))
    return CPU_TOKEN_BUDGET if str(kind).split(":")[0] == "cpu" else None


def length_batches(
    lengths: Sequence[int],
    batch_size: int,
    *,
    max_tokens: int | None = None,
    buckets: Sequence[int] | None = None,
) -> list[list[int]]:
    """Row indices per batch, shortest rows first.

    A batch holds at most ``batch_size`` rows and (unless ``max_tokens`` is None or 0) at
    most ``max_tokens`` padded tokens; with ``buckets`` (sorted sequence lengths) it never
    mixes rows of two buckets.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    batches: list[list[int]] = []
    rows: list[int] = []
    bucket = -1
    for i in order:
        b = bisect.bisect_left(buckets, lengths[i]) if buckets else 0
        full = len(rows) == batch_size or bool(
            max_tokens and (len(rows) + 1) * lengths[i] > max_tokens
        )
        if rows and (full or b != bucket):
            batches.append(rows)
            rows = []
        rows.append(i)
        bucket = b
    if rows:
        batches.append(rows)
    return batches


def run_in_batches(
    columns: Columns,
    forward: Callable[[dict[str, Any]], Any],
    *,
    pad_id: int | None,
    padding_side: str,
    batch_size: int,
    max_tokens: int | None = None,
    buckets: Sequence[int] | None = None,
    return_tensors: str = "pt",
) -> Any:
    """``forward(padded batch)`` over length-sorted batches; its rows stacked in input order.

    ``forward`` returns a [rows, ...] torch tensor (on the CPU) or numpy array, as
    ``return_tensors`` asks; there must be at least one row.
    """
    ids = columns["input_ids"]
    if not ids:
        raise ValueError("run_in_batches needs at least one row")
    out: Any = None
    for rows in length_batches(
        [len(s) for s in ids], batch_size, max_tokens=max_tokens, buckets=buckets
    ):
        batch = pad(
            {k: [v[i] for i in rows] for k, v in columns.items()},
            pad_id,
            padding_side,
            return_tensors=return_tensors,
        )
        result = forward(batch)
        if out is None:
            shape = (len(ids), *result.shape[1:])
            out = (
                np.empty(shape, dtype=result.dtype)
                if isinstance(result, np.ndarray)
                else result.new_empty(shape)
            )
        out[rows] = result
    return out


def check_scores(
    scores: Any, model: str, fix: str = "re-train or re-save the adapter, or load it in float32"
) -> Any:
    """``scores`` ([N, C] logits, torch or numpy) when every one is finite, else
    ModelOutputError naming ``model``, the first input whose scores are NaN / inf and ``fix``:
    a NaN is never turned into a label."""
    array = scores if isinstance(scores, np.ndarray) else scores.detach().float().cpu().numpy()
    finite = np.isfinite(array)
    if finite.all():
        return scores
    row = int(np.argwhere(~finite)[0][0])
    raise ModelOutputError(
        f"{model} gave scores that are not finite (NaN or inf) for input {row}: the model is "
        f"broken (its weights, or a dtype that overflows), not the input; {fix}"
    )
