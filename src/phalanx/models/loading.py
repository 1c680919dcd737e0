"""Load base classifiers and tokenizers from built-in names, local folders or hub ids."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ..assets import resolve_model
from ..errors import shown
from ..folder import META_FILE, PRUNING_FILE, TOKENIZER_CONFIG_FILE, base_model_of
from .archs import arch_spec

__all__ = [
    "default_max_length",
    "load_base_classifier",
    "load_tokenizer",
    "resolve_dtype",
    "tokenizer_source",
]

log = logging.getLogger(__name__)

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


def resolve_dtype(dtype: str | torch.dtype | None, device: str | torch.device) -> torch.dtype:
    """None -> fp32 on CPU, bf16 on a CUDA device that supports it."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None or dtype == "auto":
        dev = torch.device(device)
        if dev.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if dtype not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of {sorted(_DTYPES)}")
    return _DTYPES[dtype]


def load_base_classifier(
    name_or_path: str,
    id2label: dict[int, str] | dict[str, str],
    *,
    dtype: str | torch.dtype | None = None,
    device: str | torch.device = "cpu",
    problem_type: str = "single_label",
    **kwargs: Any,
):
    """``AutoModelForSequenceClassification`` with the given labels (the head is new) and
    ``config.problem_type`` set to ``problem_type`` (in transformers' spelling).

    Every caller replaces the head right away: training trains it, an adapter brings its
    own. So transformers' load report on the head's weights (missing from a base checkpoint,
    or of another label count: "newly initialized ... consider training") is not shown; a
    report on weights outside the head still is, as a warning of phalanx's own. A fine-tuned
    model whose head must come from its checkpoint is loaded elsewhere (``methods/full.py``,
    a distillation teacher) and keeps transformers' report.
    """
    from transformers import AutoModelForSequenceClassification

    from ..problems import Problem

    hf_problem_type = Problem(problem_type).hf_name
    id2label = {int(k): v for k, v in id2label.items()}
    path = resolve_model(name_or_path)
    if (Path(path) / PRUNING_FILE).is_file():  # heads / neurons removed by phalanx.compress
        from .pruned import load_pruned

        model = load_pruned(path, dtype=resolve_dtype(dtype, device), id2label=id2label)
        model.config.problem_type = hf_problem_type
        return model.to(device)
    # a base whose checkpoint already has a head of another label count gets a fresh head
    # (the adapter or the trainer sets it) instead of a size-mismatch error
    kwargs.setdefault("ignore_mismatched_sizes", True)
    with _load_report_held():
        model, info = AutoModelForSequenceClassification.from_pretrained(
            path,
            num_labels=len(id2label),
            id2label=id2label,
            label2id={v: k for k, v in id2label.items()},
            dtype=resolve_dtype(dtype, device),
            output_loading_info=True,
            **kwargs,
        )
    _report_beyond_head(model, info, name_or_path)
    model.config.problem_type = hf_problem_type
    return model.to(device)


class _HoldLoadReport(logging.Filter):
    """Keeps transformers' "LOAD REPORT" records back (``held``); lets the rest through."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if "LOAD REPORT" in str(record.msg):
            self.held.append(record)
            return False
        return True


@contextlib.contextmanager
def _load_report_held() -> Iterator[None]:
    """Hold transformers' load report back while loading; a load that fails gets it back
    (its error points to "the above report")."""
    hf_log = logging.getLogger("transformers.modeling_utils")
    hold = _HoldLoadReport()
    hf_log.addFilter(hold)
    try:
        yield
    except BaseException:
        hf_log.removeFilter(hold)
        for record in hold.held:
            hf_log.handle(record)
        raise
    finally:
        hf_log.removeFilter(hold)


def _report_beyond_head(model: Any, info: dict[str, Any], source: str) -> None:
    """Warn about weights outside the head that the checkpoint lacked or had in another shape
    (newly initialized: not the model meant?); the head's are expected."""
    try:
        head = arch_spec(model).head
    except ValueError:  # no head phalanx can name: report every key
        head = ()

    def in_head(key: str) -> bool:
        return any(key == h or key.startswith(f"{h}.") for h in head)

    fresh = sorted(info.get("missing_keys", ()))
    fresh += sorted(k[0] for k in info.get("mismatched_keys", ()))
    beyond = [k for k in fresh if not in_head(k)]
    log.debug("%s: new classification head %s", source, [k for k in fresh if in_head(k)])
    if beyond:
        log.warning(
            "%s: %d weights outside the classification head are not in its checkpoint (or "
            "have another shape) and were newly initialized: %s; is it the model you meant?",
            source,
            len(beyond),
            shown(beyond),
        )


_TOKENIZER_FILES = (
    "tokenizer.json",
    TOKENIZER_CONFIG_FILE,
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "tokenizer.model",
    "sentencepiece.bpe.model",
)


def tokenizer_source(name_or_path: str) -> str:
    """Where the tokenizer of ``name_or_path`` lives.

    A model folder saved without tokenizer files (a phalanx ``full`` fine-tune keeps only
    the weights) takes the tokenizer of the base model its ``phalanx.json`` records. This
    matters: given such a folder, ``AutoTokenizer`` silently builds a 5-token vocabulary
    that maps every word to [UNK], and training on it learns nothing.
    """
    path = Path(resolve_model(name_or_path))
    if not path.is_dir() or any((path / f).is_file() for f in _TOKENIZER_FILES):
        return str(path)
    base = base_model_of(path)
    if not base or Path(resolve_model(base)).resolve() == path.resolve():
        raise ValueError(
            f"{str(path)!r} has no tokenizer files ({', '.join(_TOKENIZER_FILES[:3])}, ...) and "
            f"no {META_FILE} naming its base model; save the tokenizer into the folder "
            "(tokenizer.save_pretrained) or pass the original model"
        )
    return tokenizer_source(base)


def load_tokenizer(name_or_path: str, model=None, max_length: int | None = None):
    """A tokenizer with the padding side of the model family and a pad token.

    Decoders pad on the left (the last position is the last real token) and reuse EOS as
    pad when they have none, as peft-sparta does.
    """
    from transformers import AutoTokenizer

    side = arch_spec(model).padding_side if model is not None else "right"
    tok = AutoTokenizer.from_pretrained(tokenizer_source(name_or_path), padding_side=side)
    if tok.pad_token is None:
        if tok.eos_token is None:
            raise ValueError(f"tokenizer of {name_or_path} has neither a pad nor an EOS token")
        tok.pad_token = tok.eos_token
    if model is not None and getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tok.pad_token_id
    if max_length is not None:
        tok.model_max_length = max_length
    return tok


def default_max_length(tokenizer, model=None) -> int:
    """The tokenizer's limit when it has a sane one, else the model's positions, else 512."""
    limit = getattr(tokenizer, "model_max_length", None)
    if limit and limit < 100_000:
        return int(limit)
    positions = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    return int(min(positions, 2048)) if positions else 512
