"""LoRA, IA3, P-tuning and prompt tuning through Hugging Face ``peft``, one registry entry each."""

from ...registry import Method, register_method
from .classifier import PeftClassifier
from .config import (
    IA3MethodConfig,
    LoraMethodConfig,
    PromptTuningMethodConfig,
    PTuningMethodConfig,
)
from .model import apply_peft, load_peft_onto, peft_type_of, save_peft_adapter

__all__ = [
    "IA3MethodConfig",
    "LoraMethodConfig",
    "PTuningMethodConfig",
    "PeftClassifier",
    "PromptTuningMethodConfig",
    "apply_peft",
    "save_peft_adapter",
]

# (config, description, prompt-style: virtual tokens instead of weight changes)
_ENTRIES = (
    (LoraMethodConfig, "LoRA (peft): low-rank updates on query/value + full head", False),
    (
        IA3MethodConfig,
        "IA3 (peft): learned rescaling of keys, values, feed-forward + full head",
        False,
    ),
    (
        PTuningMethodConfig,
        "P-tuning (peft): virtual tokens from a prompt encoder + full head",
        True,
    ),
    (PromptTuningMethodConfig, "prompt tuning (peft): trainable virtual tokens + full head", True),
)


def _detector(peft_type: str):
    def detect(path) -> bool:
        return peft_type_of(path) == peft_type

    return detect


for _cls, _text, _prompt in _ENTRIES:
    register_method(
        Method(
            name=_cls.method_name,
            config_cls=_cls,
            description=_text,
            apply=apply_peft,
            save=save_peft_adapter,
            load_classifier=PeftClassifier,
            detect=_detector(_cls.peft_type),
            shares_base=True,
            can_merge=not _prompt,
            prompt_style=_prompt,
            apply_to_lm=load_peft_onto,
        )
    )
