"""The one list of methods: CLI choices, config loading, training, loading, export and
serving read it, and ask a method's capabilities instead of testing its name.

A new method is one package that calls ``register_method`` when imported, plus its entry in
``_METHOD_PACKAGES`` (or an import of it before use, as a plug-in).
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Method",
    "classifier_loader",
    "export_loader",
    "get_method",
    "method_for_folder",
    "method_names",
    "register_method",
    "registered",
    "unregister_method",
]

# packages that register methods when imported; imported lazily to keep `import phalanx` light
_METHOD_PACKAGES = (
    "phalanx.methods.sparta",
    "phalanx.methods.peft_backed",
    "phalanx.methods.head",
    "phalanx.methods.full",
)

# tasks whose folders load through one classifier whatever the method (phalanx.json "task");
# "module:attribute", imported on first use
_TASK_LOADERS = {"generative": "phalanx.generative.classifier:GenerativeClassifier"}
# what loads an export folder (phalanx.folder.resolve_folder's "export") as a classifier
_EXPORT_LOADER = "phalanx.export.classifier:ExportClassifier"


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
    """(path, **kwargs) -> TextClassifier; kwargs as ``TextClassifier``'s constructor,
    ``meta=`` (the parsed ``phalanx.json``) included."""
    detect: Callable[[Path], bool]
    """Whether a folder without ``phalanx.json`` holds an adapter of this method."""
    shares_base: bool = False
    """Its classifier can load onto a base model already in memory (``model=``)."""
    can_merge: bool = True
    """Its weights fold into a plain model (``TextClassifier.merge``: export, serving)."""
    prompt_style: bool = False
    """It adds virtual tokens to the input instead of changing weights (export folds them
    in as a constant prefix of the input embeddings)."""
    frozen_base: bool = True
    """The base weights stay frozen, so its folder needs the base (and pruning / quantizing
    the base needs ``full`` first); False: the folder holds the whole model."""
    apply_to_lm: Callable[..., Any] | None = None
    """(lm, folder, meta) -> ``lm`` carrying a ``task: generative`` folder's weights (``lm``:
    the base LM, or with ``frozen_base=False`` the LM loaded from the folder; ``meta``: its
    parsed phalanx.json); None: the method cannot adapt a language model that scores label
    words."""
    restrict_to_unpruned: Callable[[Any], int] | None = None
    """(wrapped model) -> how many adapter positions on pruned (exactly zero) base weights
    it dropped, so a pruned base stays pruned; None: the method cannot keep one pruned."""

    @property
    def generative(self) -> bool:
        """It can adapt a language model that scores label words (``task: generative``)."""
        return self.apply_to_lm is not None

    @property
    def default_lr(self) -> float:
        """The config class's ``default_lr`` (what worked on MiniLM / rotten_tomatoes)."""
        return float(getattr(self.config_cls, "default_lr", 1e-3))


_METHODS: dict[str, Method] = {}


def register_method(method: Method) -> Method:
    """Add ``method``; registering another method under a taken name is refused."""
    if method.name in _METHODS and _METHODS[method.name] is not method:
        raise ValueError(
            f"method {method.name!r} is registered twice; unregister_method({method.name!r}) "
            "first or choose another name"
        )
    _METHODS[method.name] = method
    return method


def unregister_method(name: str) -> Method:
    """Remove the method called ``name`` and return it (plug-ins, tests)."""
    if name not in _METHODS:
        raise ValueError(f"method {name!r} is not registered; registered: {', '.join(_METHODS)}")
    return _METHODS.pop(name)


@contextlib.contextmanager
def registered(method: Method) -> Iterator[Method]:
    """``method`` registered for the duration of a ``with`` block."""
    _load_all()
    register_method(method)
    try:
        yield method
    finally:
        unregister_method(method.name)


def _load_all() -> None:
    for pkg in _METHOD_PACKAGES:
        importlib.import_module(pkg)


def method_names() -> list[str]:
    """Every registered method's name, sorted."""
    _load_all()
    return sorted(_METHODS)


def get_method(name: str) -> Method:
    """The method called ``name``; ValueError listing the registered ones."""
    _load_all()
    if name not in _METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(sorted(_METHODS))}")
    return _METHODS[name]


def method_for_folder(path: Path, meta: dict[str, Any]) -> Method:
    """The method whose files are in ``path``; the metadata's ``method`` wins.

    ``meta`` is the folder's parsed metadata (``phalanx.folder.read_meta(path)``; ``{}``
    for a peft-sparta or peft folder without one).
    """
    _load_all()
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"adapter folder {path} does not exist")
    name = meta.get("method")
    if name in _METHODS:
        return _METHODS[name]
    if name:
        raise ValueError(
            f"{path}/phalanx.json names method {name!r}, which this phalanx does not have; "
            f"registered: {', '.join(sorted(_METHODS))} (a plug-in method must be imported "
            "before loading its folders)"
        )
    for method in _METHODS.values():
        if method.detect(path):
            return method
    raise FileNotFoundError(
        f"{path} holds no adapter phalanx can read (no phalanx.json and no files of "
        f"{', '.join(sorted(_METHODS))})"
    )


def classifier_loader(path: Path, meta: dict[str, Any]) -> Callable[..., Any]:
    """What loads ``path`` as a classifier: its task's classifier when the metadata
    (``meta``) names a task that has one (``generative``), else its method's
    ``load_classifier``."""
    target = _TASK_LOADERS.get(meta.get("task") or "")
    if target is None:
        return method_for_folder(path, meta).load_classifier
    return _imported(target)


def export_loader() -> Callable[..., Any]:
    """What loads an export folder as a classifier (``ExportClassifier``: ONNX Runtime)."""
    return _imported(_EXPORT_LOADER)


def _imported(target: str) -> Any:
    """The attribute named by ``"module:attribute"``, importing the module."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)
