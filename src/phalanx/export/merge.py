"""Turn any adapter folder into one plain ``nn.Module``: (input_ids, attention_mask) -> logits.

The folder's method says how (registry capabilities): a method that ``can_merge`` folds its
weights into the base (``TextClassifier.merge``: SpaRTA writes its deltas and head in, peft
runs ``merge_adapter``, a full fine-tune is already plain). A ``prompt_style`` method has no
weights to merge; its virtual tokens do not depend on the input, so they are computed once
and folded in as a constant prefix of the input embeddings (exactly what peft does at every
forward).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

__all__ = ["OUTPUT_NAMES", "MergedClassifier", "ScoredModule", "merge_for_export"]

OUTPUT_NAMES = ("logits", "scores")
"""The exported graph's outputs: raw logits, and what ``classify`` returns (``ScoredModule``)."""

_PROMPT_PEFT_TYPES = ("PROMPT_TUNING", "P_TUNING")


class LogitsModule(nn.Module):
    """A ``*ForSequenceClassification`` seen as (input_ids, attention_mask) -> fp32 logits."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits.float()


class ScoredModule(nn.Module):
    """(input_ids, attention_mask) -> (logits, scores): the scores are ``problem.scores`` of
    the logits, the softmax (single_label), a sigmoid per label (multi_label; never a
    softmax) or the value in the data's units (regression: ``target_scale`` undone), so a
    user of the ONNX graph alone reads them as phalanx does."""

    def __init__(self, module: nn.Module, problem: Any):
        super().__init__()
        self.module = module
        self.problem = problem

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.module(input_ids, attention_mask)
        scores = self.problem.scores(logits)
        if scores is logits:  # regression on raw targets: a graph output of its own
            scores = logits.clone()
        return logits, scores


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


def merge_for_export(path: str | Path, *, dtype: str | None = "float32") -> MergedClassifier:
    """Load ``path`` (any phalanx adapter folder) and merge it into one plain module.

    Raises ValueError naming the method or architecture when it cannot be exported.
    """
    from ..generative.classifier import GenerativeClassifier
    from ..inference.classifier import load_classifier
    from ..registry import get_method

    path = Path(path)
    clf = load_classifier(path, device="cpu", dtype=dtype)
    method = get_method(clf.method)
    if isinstance(clf, GenerativeClassifier):
        raise ValueError(
            f"{path}: generative adapters (method {method.name!r}, task 'generative') score "
            "label words with a language model, one forward per label; export handles "
            "*ForSequenceClassification models only. Serve it with phalanx classify instead"
        )
    virtual = 0
    if method.prompt_style:
        clf._activate()
        module, virtual = _fold_prompt(clf.model, path)
    elif method.can_merge:
        clf.merge()
        module = LogitsModule(clf.hf_model)
    else:
        raise ValueError(
            f"{path}: method {method.name!r} can neither merge its weights into the model nor "
            "fold a prompt into the input embeddings, so it cannot be exported"
        )
    model = clf.hf_model
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
        method=method.name,
        virtual_tokens=virtual,
    )


@torch.no_grad()
def _fold_prompt(model: Any, path: Path) -> tuple[nn.Module, int]:
    """(module to export, virtual token count) for a ``PeftModel`` of a prompt method."""
    config = getattr(model, "active_peft_config", None)
    kind = getattr(
        getattr(config, "peft_type", None), "value", str(getattr(config, "peft_type", ""))
    )
    if kind not in _PROMPT_PEFT_TYPES:
        raise ValueError(
            f"{path}: {kind or type(model).__name__} prompts feed past key values into every "
            f"layer; only {' and '.join(_PROMPT_PEFT_TYPES)} prompts can be folded into an export"
        )
    base = model.get_base_model()
    if getattr(base.config, "is_encoder_decoder", False):
        raise ValueError(
            f"{path}: {type(base).__name__} is an encoder-decoder; its virtual tokens cannot be "
            "folded into the input embeddings"
        )
    prompt = model.get_prompt(batch_size=1)
    return PromptFoldedModule(base, prompt.float()), int(prompt.shape[1])
