"""Per-architecture facts as data: head modules, pooling, padding side, default targets.

Everything method-specific that depends on the model family lives in this one table, so
adding an architecture is a new row, not new code paths.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

__all__ = ["ARCHS", "ArchSpec", "arch_spec"]

_DECODER_FROZEN = ("embed_tokens", "self_attn.q", "self_attn.k", "mlp", "norm")


@dataclass(frozen=True)
class ArchSpec:
    """What phalanx needs to know about one model family.

    kind: "encoder" (CLS pooling, right padding), "decoder" (last token, left padding)
        or "seq2seq".
    head: top-level module names (relative to the *ForSequenceClassification model) that
        form the classification head; they are always fully trainable.
    main_head: parameter name of the final classifier weight (peft-sparta's ``head``).
    sparta_targets: regex (full match on module names) of the Linear modules whose weights
        SpaRTA may adapt by default.
    frozen_modules: peft-sparta's default exclusion list for its selection semantics.
    lora_targets: default LoRA / IA3 target module names.
    """

    kind: str
    head: tuple[str, ...]
    main_head: str
    sparta_targets: str
    frozen_modules: tuple[str, ...] = ()
    lora_targets: tuple[str, ...] = ()
    ia3_feedforward: tuple[str, ...] = ()

    @property
    def padding_side(self) -> str:
        return "left" if self.kind == "decoder" else "right"


_BERT_LIKE = ArchSpec(
    kind="encoder",
    head=("bert.pooler", "classifier"),
    main_head="classifier.weight",
    sparta_targets=r".*\.encoder\.layer\.\d+\..*",
    lora_targets=("query", "value"),
    ia3_feedforward=("output.dense",),
)
_ROBERTA_LIKE = ArchSpec(
    kind="encoder",
    head=("classifier",),
    main_head="classifier.out_proj.weight",
    sparta_targets=r".*\.encoder\.layer\.\d+\..*",
    lora_targets=("query", "value"),
    ia3_feedforward=("output.dense",),
)
_LLAMA_LIKE = ArchSpec(
    kind="decoder",
    head=("score",),
    main_head="score.weight",
    sparta_targets=r".*\.layers\.\d+\.self_attn\.(v_proj|o_proj)",
    frozen_modules=_DECODER_FROZEN,
    lora_targets=("q_proj", "v_proj"),
    ia3_feedforward=("down_proj",),
)

ARCHS: dict[str, ArchSpec] = {
    "bert": _BERT_LIKE,
    "roberta": _ROBERTA_LIKE,
    "xlm-roberta": _ROBERTA_LIKE,
    "electra": _ROBERTA_LIKE,
    "distilbert": ArchSpec(
        kind="encoder",
        head=("pre_classifier", "classifier"),
        main_head="classifier.weight",
        sparta_targets=r"distilbert\.transformer\.layer\.\d+\..*",
        lora_targets=("q_lin", "v_lin"),
        ia3_feedforward=("ffn.lin2",),
    ),
    "deberta-v2": ArchSpec(
        kind="encoder",
        head=("pooler", "classifier"),
        main_head="classifier.weight",
        sparta_targets=r".*\.encoder\.layer\.\d+\..*",
        lora_targets=("query_proj", "value_proj"),
        ia3_feedforward=("output.dense",),
    ),
    **{
        name: _LLAMA_LIKE
        for name in (
            "llama",
            "mistral",
            "qwen2",
            "qwen3",
            "gemma",
            "gemma2",
            "gemma3_text",
            "phi3",
            "olmo2",
            "smollm3",
        )
    },
    "t5": ArchSpec(
        kind="seq2seq",
        head=("classification_head",),
        main_head="classification_head.out_proj.weight",
        sparta_targets=r".*\.block\.\d+\.layer\.\d+\.(SelfAttention|EncDecAttention)\.(v|o)",
        lora_targets=("q", "v"),
        ia3_feedforward=("wo",),
    ),
}
ARCHS["mt5"] = ARCHS["t5"]


def arch_spec(model_or_type: nn.Module | str) -> ArchSpec:
    """Return the ArchSpec of a model (or a ``config.model_type`` string).

    Unknown families fall back to a spec guessed from the modules the model has, so new
    architectures work without a table entry when they follow the usual naming.

    >>> arch_spec("bert").main_head
    'classifier.weight'
    """
    if isinstance(model_or_type, str):
        if model_or_type not in ARCHS:
            raise ValueError(
                f"unknown model_type {model_or_type!r}; known: {', '.join(sorted(ARCHS))}"
            )
        return ARCHS[model_or_type]
    model_type = getattr(getattr(model_or_type, "config", None), "model_type", None)
    if model_type in ARCHS:
        spec = ARCHS[model_type]
        present = tuple(h for h in spec.head if _has_module(model_or_type, h))
        return spec if present == spec.head else _replace_head(spec, present)
    return _guess(model_or_type)


def _has_module(model: nn.Module, name: str) -> bool:
    try:
        model.get_submodule(name)
    except AttributeError:
        return False
    return True


def _replace_head(spec: ArchSpec, head: tuple[str, ...]) -> ArchSpec:
    from dataclasses import replace

    return replace(spec, head=head)


def _guess(model: nn.Module) -> ArchSpec:
    config = getattr(model, "config", None)
    names = {n for n, _ in model.named_children()}
    if "score" in names:
        return _LLAMA_LIKE
    head = tuple(n for n in ("pre_classifier", "classifier") if n in names)
    if not head:
        raise ValueError(
            f"cannot find a classification head (score / classifier) in "
            f"{type(model).__name__}; load the model with AutoModelForSequenceClassification"
        )
    prefix = getattr(model, "base_model_prefix", "")
    if (
        prefix
        and _has_module(model, f"{prefix}.pooler")
        and model.get_submodule(f"{prefix}.pooler")
    ):
        head = (f"{prefix}.pooler", *head)
    last = f"{head[-1]}.out_proj" if _has_module(model, f"{head[-1]}.out_proj") else head[-1]
    kind = "seq2seq" if getattr(config, "is_encoder_decoder", False) else "encoder"
    return ArchSpec(
        kind=kind,
        head=head,
        main_head=f"{last}.weight",
        sparta_targets=r".*(encoder|layers?|block)\.\d+\..*",
    )
