"""The one list of methods: CLI choices, config loading and folder detection read it."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Method", "get_method", "method_for_folder", "method_names", "register_method"]

# packages that register methods when imported; imported lazily to keep `import phalanx` light
_METHOD_PACKAGES = (
    "phalanx.methods.sparta",
    "phalanx.methods.peft_backed",
    "phalanx.methods.head",
    "phalanx.methods.full",
)


@dataclass(frozen=True)
class Method:
    """A fine-tuning method as the rest of phalanx sees it."""

    name: str
    config_cls: type
    description: str
    apply: Callable[..., Any]
    """(model, config) -> model whose trainable parameters are the adapter's."""
    save: Callable[..., Path]
    """(wrapped model, path, *, base_model, meta, overwrite) -> path."""
    load_classifier: Callable[..., Any]
    """(path, **kwargs) -> TextClassifier."""
    detect: Callable[[Path], bool]
    """Whether a folder holds an adapter of this method."""
    shares_base: bool = False
    """Its classifier can load onto a base model already in memory (``model=``)."""
    can_merge: bool = True
    """Its weights fold into a plain model (export, serving without the adapter)."""
    prompt_style: bool = False
    """It adds virtual tokens to the input instead of changing weights."""
    generative: bool = True
    """It can adapt a language model that scores label words (``task: generative``)."""
    frozen_base: bool = True
    """The base weights stay frozen (so pruning / quantizing them needs ``full`` first)."""

    @property
    def default_lr(self) -> float:
        """The learning rate that worked on MiniLM / rotten_tomatoes for this method."""
        return float(getattr(self.config_cls, "default_lr", 1e-3))


_METHODS: dict[str, Method] = {}


def register_method(method: Method) -> Method:
    if method.name in _METHODS and _METHODS[method.name] is not method:
        raise ValueError(f"method {method.name!r} is registered twice")
    _METHODS[method.name] = method
    return method


def _load_all() -> None:
    for pkg in _METHOD_PACKAGES:
        importlib.import_module(pkg)


def method_names() -> list[str]:
    _load_all()
    return sorted(_METHODS)


def get_method(name: str) -> Method:
    _load_all()
    if name not in _METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(sorted(_METHODS))}")
    return _METHODS[name]


def method_for_folder(path: Path) -> Method:
    """The method whose files are in ``path`` (phalanx.json's ``method`` wins)."""
    import json

    _load_all()
    if not path.is_dir():
        raise FileNotFoundError(f"adapter folder {path} does not exist")
    meta = path / "phalanx.json"
    if meta.is_file():
        name = json.loads(meta.read_text()).get("method")
        if name in _METHODS:
            return _METHODS[name]
    for method in _METHODS.values():
        if method.detect(path):
            return method
    raise FileNotFoundError(
        f"{path} holds no adapter phalanx can read (no sparse_deltas.safetensors, "
        "adapter_config.json or phalanx.json)"
    )
