"""LoRA, IA3, P-tuning and prompt tuning through Hugging Face ``peft``, one registry entry each."""

from ...registry import Method, register_method
from .classifier import PeftClassifier
from .config import (
    IA3MethodConfig,
    LoraMethodConfig,
    PromptTuningMethodConfig,
    PTuningMethodConfig,
)
from .model import apply_peft, is_peft_folder, save_peft_adapter

__all__ = [
    "IA3MethodConfig",
    "LoraMethodConfig",
    "PTuningMethodConfig",
    "PeftClassifier",
    "PromptTuningMethodConfig",
    "apply_peft",
    "save_peft_adapter",
]

_DESCRIPTIONS = {
    LoraMethodConfig: "LoRA (peft): low-rank updates on query/value + full head",
    IA3MethodConfig: "IA3 (peft): learned rescaling of keys, values, feed-forward + full head",
    PTuningMethodConfig: "P-tuning (peft): virtual tokens from a prompt encoder + full head",
    PromptTuningMethodConfig: "prompt tuning (peft): trainable virtual tokens + full head",
}

for _cls, _text in _DESCRIPTIONS.items():
    register_method(
        Method(
            name=_cls.method_name,
            config_cls=_cls,
            description=_text,
            apply=apply_peft,
            save=save_peft_adapter,
            load_classifier=PeftClassifier,
            detect=is_peft_folder,
        )
    )
