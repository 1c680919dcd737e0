"""Configs of the methods phalanx runs through Hugging Face ``peft``.

Each maps to a ``peft`` config with ``task_type=SEQ_CLS`` and the classification head in
``modules_to_save``, so the head is always trained and saved. Defaults for target modules
come from the architecture table (``phalanx.models.archs``). ``peft_type`` is the value peft
writes into ``adapter_config.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ...errors import InputError
from ..base import MethodConfig

__all__ = ["IA3MethodConfig", "LoraMethodConfig", "PTuningMethodConfig", "PromptTuningMethodConfig"]


def _positive(name: str, value: int | float) -> None:
    if value <= 0:
        raise InputError(f"{name} must be > 0, got {value}")


@dataclass
class LoraMethodConfig(MethodConfig):
    """LoRA: low-rank updates ``B @ A`` on the target Linear layers."""

    r: int = 8
    """Rank of the update."""
    lora_alpha: int = 16
    """Scale numerator: the update is multiplied by ``lora_alpha / r``."""
    lora_dropout: float = 0.1
    """Dropout on the LoRA input, in [0, 1)."""
    target_modules: list[str] | str | None = None
    """Module names (suffixes) or one regex; default: query/value projections."""
    bias: str = "none"
    """Which biases train: none, all or lora_only."""

    method_name: ClassVar[str] = "lora"
    peft_type: ClassVar[str] = "LORA"
    default_lr: ClassVar[float] = 1e-3

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive("r", self.r)
        _positive("lora_alpha", self.lora_alpha)
        if not 0 <= self.lora_dropout < 1:
            raise InputError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")
        if self.bias not in ("none", "all", "lora_only"):
            raise InputError(f"bias must be none, all or lora_only, got {self.bias!r}")

    def peft_config(self, spec, head: list[str], task_type: str = "SEQ_CLS") -> Any:
        from peft import LoraConfig

        return LoraConfig(
            task_type=task_type,
            r=self.r,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            bias=self.bias,
            modules_to_save=head or None,
            target_modules=self.target_modules or list(spec.lora_targets),
        )


@dataclass
class IA3MethodConfig(MethodConfig):
    """IA3: learned vectors that rescale keys, values and feed-forward activations."""

    target_modules: list[str] | None = None
    """Modules to rescale; default: key/value projections and the feed-forward output."""
    feedforward_modules: list[str] | None = None
    """The subset of ``target_modules`` whose *input* is rescaled."""

    method_name: ClassVar[str] = "ia3"
    peft_type: ClassVar[str] = "IA3"
    default_lr: ClassVar[float] = 5e-3

    def peft_config(self, spec, head: list[str], task_type: str = "SEQ_CLS") -> Any:
        from peft import IA3Config

        # None lets peft pick its per-architecture defaults (key, value, feed-forward output)
        return IA3Config(
            task_type=task_type,
            target_modules=self.target_modules,
            feedforward_modules=self.feedforward_modules,
            modules_to_save=head or None,
        )


@dataclass
class PTuningMethodConfig(MethodConfig):
    """P-tuning: virtual tokens produced by a small prompt encoder (MLP or LSTM)."""

    num_virtual_tokens: int = 20
    """How many virtual tokens are prepended."""
    encoder_hidden_size: int = 128
    """Hidden size of the prompt encoder."""
    encoder_reparameterization_type: str = "MLP"
    """MLP or LSTM."""

    method_name: ClassVar[str] = "ptuning"
    peft_type: ClassVar[str] = "P_TUNING"
    default_lr: ClassVar[float] = 3e-3

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive("num_virtual_tokens", self.num_virtual_tokens)
        _positive("encoder_hidden_size", self.encoder_hidden_size)
        if self.encoder_reparameterization_type not in ("MLP", "LSTM"):
            raise InputError(
                "encoder_reparameterization_type must be MLP or LSTM, got "
                f"{self.encoder_reparameterization_type!r}"
            )

    def peft_config(self, spec, head: list[str], task_type: str = "SEQ_CLS") -> Any:
        from peft import PromptEncoderConfig

        return PromptEncoderConfig(
            task_type=task_type,
            num_virtual_tokens=self.num_virtual_tokens,
            encoder_hidden_size=self.encoder_hidden_size,
            encoder_reparameterization_type=self.encoder_reparameterization_type,
            modules_to_save=head or None,
        )


@dataclass
class PromptTuningMethodConfig(MethodConfig):
    """Prompt tuning: trainable virtual-token embeddings prepended to the input."""

    num_virtual_tokens: int = 20
    """How many virtual tokens are prepended."""
    init_text: str | None = None
    """Initialise the virtual tokens from this text's embeddings (else randomly)."""

    method_name: ClassVar[str] = "prompt_tuning"
    peft_type: ClassVar[str] = "PROMPT_TUNING"
    default_lr: ClassVar[float] = 3e-3

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive("num_virtual_tokens", self.num_virtual_tokens)

    def peft_config(
        self, spec, head: list[str], task_type: str = "SEQ_CLS", tokenizer_name: str | None = None
    ) -> Any:
        from peft import PromptTuningConfig

        extra = {}
        if self.init_text:
            extra = dict(
                prompt_tuning_init="TEXT",
                prompt_tuning_init_text=self.init_text,
                tokenizer_name_or_path=tokenizer_name,
            )
        return PromptTuningConfig(
            task_type=task_type,
            num_virtual_tokens=self.num_virtual_tokens,
            modules_to_save=head or None,
            **extra,
        )
