"""Turn any adapter folder into one plain ``nn.Module``: (input_ids, attention_mask) -> logits.

Each method's own merge is used: a SpaRTA / head classifier writes its deltas and head into
the base when it activates, peft folds LoRA / IA3 into the base weights (``merge_adapter``), a full
fine-tune is already plain. Prompt methods have no weights to merge; their virtual tokens
do not depend on the input, so they are computed once and folded in as a constant prefix
of the input embeddings (exactly what peft does at every forward).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

__all__ = ["MergedClassifier", "merge_for_export"]

_PROMPT_METHODS = ("PROMPT_TUNING", "P_TUNING")


class LogitsModule(nn.Module):
    """A ``*ForSequenceClassification`` seen as (input_ids, attention_mask) -> fp32 logits."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits.float()


class PromptFoldedModule(nn.Module):
    """Virtual tokens as a constant prefix of the input embeddings (peft's forward, frozen)."""

    def __init__(self, model: nn.Module, prompt: torch.Tensor):
        super().__init__()
        self.model = model
        self.register_buffer("prompt", prompt.detach().clone())

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        embeds = self.model.get_input_embeddings()(input_ids)
        batch = input_ids.shape[0]
        prompt = self.prompt.to(embeds.dtype).expand(batch, -1, -1)
        prefix = torch.ones(
            (batch, prompt.shape[1]), dtype=attention_mask.dtype, device=attention_mask.device
        )
        out = self.model(
            inputs_embeds=torch.cat([prompt, embeds], dim=1),
            attention_mask=torch.cat([prefix, attention_mask], dim=1),
        )
        return out.logits.float()


@dataclass
class MergedClassifier:
    """What the exporter needs: the module, the tokenizer and the facts for the metadata."""

    module: nn.Module
    tokenizer: Any
    classifier: Any
    """The loaded phalanx classifier (its outputs are the parity reference)."""
    architecture: str
    model_type: str
    method: str
    virtual_tokens: int = 0


def _method_name(clf: Any, path: Path) -> str:
    meta = getattr(clf, "meta", {}) or {}
    return str(meta.get("method") or getattr(clf, "method", "") or path.name)


def merge_for_export(path: str | Path, *, dtype: str | None = "float32") -> MergedClassifier:
    """Load ``path`` (any phalanx adapter folder) and merge it into one plain module.

    Raises ValueError naming the method or architecture when it cannot be exported.
    """
    from ..generative.classifier import GenerativeClassifier
    from ..inference.classifier import load_classifier

    path = Path(path)
    clf = load_classifier(path, device="cpu", dtype=dtype)
    method = _method_name(clf, path)
    if isinstance(clf, GenerativeClassifier):
        raise ValueError(
            f"{path}: generative adapters (method {method!r}, task 'generative') score label "
            "words with a language model, one forward per label; export handles "
            "*ForSequenceClassification models only. Serve it with phalanx classify instead"
        )
    clf._activate()
    model = clf.model
    virtual = 0
    if hasattr(model, "peft_config"):
        model, module, virtual = _merge_peft(model, path)
    else:
        module = LogitsModule(model)
    architecture = type(model).__name__
    if not architecture.endswith("ForSequenceClassification"):
        raise ValueError(
            f"{path}: the merged model is a {architecture}, not a *ForSequenceClassification; "
            "export needs a classification head"
        )
    return MergedClassifier(
        module=module.eval(),
        tokenizer=clf.tokenizer,
        classifier=clf,
        architecture=architecture,
        model_type=str(model.config.model_type),
        method=method,
        virtual_tokens=virtual,
    )


@torch.no_grad()
def _merge_peft(model: Any, path: Path) -> tuple[nn.Module, nn.Module, int]:
    """(plain base, module to export, virtual token count) for a loaded ``PeftModel``."""
    config = model.active_peft_config
    kind = config.peft_type.value if hasattr(config.peft_type, "value") else str(config.peft_type)
    if not config.is_prompt_learning:
        # merge_adapter, not merge_and_unload: unloading fails on IA3's wrapped BERT pooler;
        # merged peft layers only call their base layer, so the traced graph is plain
        model.merge_adapter()
        base = model.get_base_model()
        return base, LogitsModule(base), 0
    if kind not in _PROMPT_METHODS:
        raise ValueError(
            f"{path}: peft method {kind} feeds past key values into every layer; only "
            f"{' and '.join(_PROMPT_METHODS)} prompts can be folded into an export"
        )
    base = model.get_base_model()
    if getattr(base.config, "is_encoder_decoder", False):
        raise ValueError(
            f"{path}: {type(base).__name__} is an encoder-decoder; its virtual tokens cannot be "
            "folded into the input embeddings"
        )
    prompt = model.get_prompt(batch_size=1)
    return base, PromptFoldedModule(base, prompt.float()), int(prompt.shape[1])
