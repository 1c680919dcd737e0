"""Apply, save and detect the peft-backed methods (LoRA, IA3, P-tuning, prompt tuning)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import torch.nn as nn

from ...assets import BUILTIN_MODELS, resolve_model
from ...folder import (
    PEFT_CONFIG_FILE,
    adapter_meta,
    atomic_folder,
    read_json,
    write_json,
    write_meta,
)
from ...folder.card import BUILTIN_MODEL_HUB_IDS, adapter_card, portable_path, write_card
from ...models.archs import arch_spec
from ...models.fingerprint import base_fingerprint

__all__ = [
    "apply_peft",
    "head_modules_to_save",
    "is_peft_folder",
    "load_peft_onto",
    "peft_base_path",
    "peft_type_of",
    "save_peft_adapter",
]

log = logging.getLogger(__name__)


def head_modules_to_save(model: nn.Module) -> list[str]:
    """The head modules, as peft's ``modules_to_save`` (trained fully, saved with the adapter)."""
    return list(arch_spec(model).head)


def apply_peft(model: nn.Module, config: Any) -> nn.Module:
    """``peft.get_peft_model`` with the head trained and saved, whatever the method."""
    from peft import get_peft_model

    from ...registry import get_method

    spec = arch_spec(model)
    if (
        get_method(config.method_name).prompt_style
        and spec.kind == "seq2seq"
        and type(model).__name__.endswith("ForSequenceClassification")
    ):
        raise ValueError(
            f"{config.method_name} needs input embeddings, which {type(model).__name__} does not "
            "accept; use lora, ia3, sparta, head or full for it"
        )
    head = head_modules_to_save(model)
    task = "SEQ_CLS"
    if not type(model).__name__.endswith("ForSequenceClassification"):  # generative: an LM
        task = "SEQ_2_SEQ_LM" if model.config.is_encoder_decoder else "CAUSAL_LM"
    # peft extends the list in place
    peft_config = config.peft_config(spec, list(head), task_type=task)
    base_fp = base_fingerprint(model, head)
    with warnings.catch_warnings():
        # peft asks the model a deprecated transformers question; the user can do nothing
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing`", FutureWarning)
        wrapped = get_peft_model(model, peft_config)
    wrapped.phalanx_method = config.method_name
    wrapped.phalanx_config = config
    wrapped.base_fingerprint = base_fp
    for h in head:  # the classic peft pitfall: a head silently left frozen
        if not any(p.requires_grad for n, p in wrapped.named_parameters() if f".{h}." in f".{n}"):
            raise RuntimeError(f"the head module {h!r} would not train under {config.method_name}")
    return wrapped


def save_peft_adapter(
    model: nn.Module,
    path: str | Path,
    *,
    base_model: str,
    meta: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """A standard peft folder (adapter_config.json, adapter_model.safetensors) + phalanx.json
    + README.md (phalanx's model card, in place of peft's blank template).

    ``base_model_name_or_path`` names the base as plain peft can load it anywhere: a
    built-in's Hub id, a Hub id as it is, a local folder as given (``peft_base_path``), so
    ``peft.AutoPeftModelForSequenceClassification.from_pretrained(path)`` loads it (with
    ``num_labels`` / ``id2label`` for other than two labels: the card shows the call).
    """
    inner = model.get_base_model()
    full_meta = adapter_meta(
        inner.config,
        method=model.phalanx_method,
        method_config=model.phalanx_config.to_dict(),
        base_model=base_model,
        trainable_parameters=sum(p.numel() for p in model.parameters() if p.requires_grad),
        fields={
            "base_fingerprint": getattr(model, "base_fingerprint", None),
            "head_modules": head_modules_to_save(inner),
        },
        extra=meta,
    )
    peft_base = peft_base_path(base_model)
    card = adapter_card(
        full_meta,
        name=portable_path(path) or "adapter",
        peft=True,
        problem_type=inner.config.problem_type,
    )
    with atomic_folder(path, overwrite=overwrite) as tmp:
        model.save_pretrained(str(tmp))
        cfg = read_json(tmp / PEFT_CONFIG_FILE)
        cfg["base_model_name_or_path"] = peft_base
        write_json(tmp / PEFT_CONFIG_FILE, cfg)
        write_meta(tmp, full_meta)
        write_card(tmp, card)
    log.info("%s adapter saved to %s", model.phalanx_method, path)
    return Path(path)


def peft_base_path(base_model: str) -> str:
    """What ``adapter_config.json`` names as the base (``base_model_name_or_path``): a
    built-in's Hub id (its weights as published; GGUF built-ins: the converted folder phalanx
    trained on), a Hub id as it is (never its snapshot in this machine's cache), a local
    folder as given."""
    builtin = BUILTIN_MODELS.get(base_model)
    if builtin is not None:
        if builtin.is_gguf:
            return str(resolve_model(base_model))
        return BUILTIN_MODEL_HUB_IDS.get(base_model) or str(resolve_model(base_model))
    path = Path(base_model).expanduser()
    return str(path) if path.is_dir() else base_model


def is_peft_folder(path: Path) -> bool:
    """Whether ``path`` holds a peft adapter (of any kind)."""
    return (Path(path) / PEFT_CONFIG_FILE).is_file()


def peft_type_of(path: Path) -> str | None:
    """The folder's ``peft_type`` (``LORA``, ``IA3``, ...), None when it is no peft folder."""
    return (
        read_json(Path(path) / PEFT_CONFIG_FILE).get("peft_type") if is_peft_folder(path) else None
    )


def load_peft_onto(
    lm: nn.Module, path: str | Path, meta: dict[str, Any] | None = None
) -> nn.Module:
    """``lm`` wrapped with the peft adapter in ``path`` (generative folders)."""
    from peft import PeftModel

    return PeftModel.from_pretrained(lm, str(path))
