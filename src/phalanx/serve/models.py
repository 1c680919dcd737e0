"""The models a server holds: adapter folders (sharing one base per group) and exports.

Adapters whose folders name the same base model are loaded onto one copy of it: SpaRTA
adapters switch their sparse deltas and heads exactly before each batch, peft adapters use
peft's multi-adapter support; such models are ``exclusive``: the batcher never runs two
forwards of their group at once unless both leave the shared weights alone (mixed batches).

``runtime`` (``--runtime``) says how an adapter folder runs: ``torch``; ``onnx`` /
``onnx-int8``, exported once into a cache (``runtime.py``); ``auto``, int8 ONNX for an
adapter alone on its base and PyTorch for adapters sharing one. Under ``auto`` an adapter
that cannot be exported is served by PyTorch, with the reason logged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError
from ..folder import resolve_folder
from ..hub import is_hub_id
from ..problems import Problem
from .served import ServedModel, problem_info
from .workers import plan_workers, set_torch_threads

__all__ = ["ModelRegistry", "ServedModel", "parse_model_spec", "problem_info", "resident_bytes"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def parse_model_spec(spec: str) -> tuple[str, Path]:
    """``NAME=PATH`` or ``PATH`` (named after the folder) -> (name, path).

    >>> parse_model_spec("sentiment=runs/demo/adapter")
    ('sentiment', PosixPath('runs/demo/adapter'))
    """
    name, sep, path = spec.partition("=")
    if not sep or not _NAME.match(name):
        name, path = "", spec
    p = Path(path).expanduser()
    if not name:
        # runs/NAME/adapter is the trainer's layout: name it after the run, not "adapter"
        name = p.parent.name if p.name == "adapter" and p.parent.name else p.name
        name = re.sub(r"[^A-Za-z0-9._-]", "-", name)[:64] or "model"
    return name, p


class ModelRegistry:
    """Load the models to serve, sharing a base between adapters that name the same one.

    Example:
        >>> reg = ModelRegistry.load(["pos=runs/a/adapter", "runs/b"])  # doctest: +SKIP
        >>> reg.get("pos").classify(["a charming journey"])  # doctest: +SKIP
        array([[0.03, 0.97]], dtype=float32)
    """

    def __init__(self, models: Iterable[ServedModel] = ()):
        self.models: dict[str, ServedModel] = {}
        for m in models:
            self.add(m)

    def add(self, model: ServedModel) -> None:
        if model.name in self.models:
            raise ValueError(
                f"two models are named {model.name!r}; name them with NAME=PATH "
                f"(e.g. {model.name}-2={model.path})"
            )
        self.models[model.name] = model

    @property
    def default(self) -> str:
        """The first model: what a request without ``model`` gets."""
        if not self.models:
            raise ValueError("no models loaded; give at least one adapter or export folder")
        return next(iter(self.models))

    def get(self, name: str | None) -> ServedModel:
        """The model called ``name`` (None: the default); KeyError names the known ones."""
        key = self.default if name is None else name
        if key not in self.models:
            raise KeyError(f"unknown model {name!r}; known models: {', '.join(self.models)}")
        return self.models[key]

    def groups(self) -> dict[str, list[ServedModel]]:
        out: dict[str, list[ServedModel]] = {}
        for m in self.models.values():
            out.setdefault(m.group, []).append(m)
        return out

    @classmethod
    def from_config(cls, config: Any, *, revision: str | None = None) -> ModelRegistry:
        """The models a ``ServeConfig`` names, loaded as its options say."""
        workers, threads = plan_workers(config.workers, config.threads)
        if config.device == "cpu":
            set_torch_threads(threads)  # every worker's torch forward runs on this many
        reg = cls.load(
            config.models,
            device=config.device,
            dtype=config.dtype,
            batch_size=config.batch_size,
            share_base=config.share_base,
            revision=revision,
            runtime=config.runtime,
            workers=workers,
            threads=threads,
        )
        switching = config.adapter_batching == "switch" and any(
            m.exclusive for m in reg.models.values()
        )
        if config.device == "cpu" and switching and config.threads is None:
            # switched adapters run one forward at a time: give it every core instead
            set_torch_threads(workers * threads)
        return reg

    @classmethod
    def load(
        cls,
        specs: Sequence[str],
        *,
        device: str = "cpu",
        dtype: str | None = None,
        batch_size: int = 32,
        share_base: bool = True,
        revision: str | None = None,
        runtime: str = "torch",
        workers: int = 1,
        threads: int | None = None,
        spinning: bool = False,
    ) -> ModelRegistry:
        """Load every ``NAME=PATH`` / ``PATH``: adapter folders, run folders or exports, or
        Hub repo ids holding one (``user/repo``, at ``revision``, downloaded once).

        ``runtime``: torch, onnx, onnx-int8 or auto (see the module); ``workers``: ONNX
        Runtime sessions per export, ``threads`` intra-op threads each (None: ONNX
        Runtime's default), ``spinning``: ONNX Runtime's busy-waiting pool threads.
        """
        from .config import RUNTIMES

        if not specs:
            raise ValueError("give at least one adapter or export folder to serve")
        if runtime not in RUNTIMES:
            raise InputError(f"runtime {runtime!r} is unknown; choose one of {', '.join(RUNTIMES)}")
        found = []
        for spec in specs:
            name, path = parse_model_spec(spec)
            local = path.exists() or not is_hub_id(str(path))
            found.append((name, resolve_folder(path, revision=None if local else revision)))
        sizes = _group_sizes([f.path for _, f in found if f.kind != "export"], share_base)
        reg = cls()
        shared = _SharedBases(share_base, device, dtype)
        from .exports import load_cached, load_export, runtime_for

        onnx = {"batch_size": batch_size, "workers": workers, "threads": threads}
        onnx["spinning"] = spinning

        for name, f in found:
            if f.kind == "export":
                reg.add(load_export(name, f.path, **onnx))
                continue
            folder = f.path
            chosen = runtime_for(runtime, sizes.get(folder.resolve(), 1), device)
            if chosen != "torch":
                model = load_cached(name, folder, chosen, runtime, onnx)
                if model is not None:
                    reg.add(model)
                    continue
            clf, group = shared.load(folder)
            clf.batch_size = batch_size
            kind, problem = clf.method, getattr(clf, "problem", None) or Problem()
            reg.add(
                ServedModel(name, str(folder), kind, clf.labels, clf.template, group, clf, problem)
            )
            log.debug("loaded %s (%s, %s, %s) from %s", name, kind, problem.type, group, folder)
        _mark_exclusive(reg)
        return reg


def _group_sizes(folders: Sequence[Path], share: bool) -> dict[Path, int]:
    """Adapter folder -> how many of ``folders`` would share its base (1: none)."""
    from ..folder import read_meta
    from ..registry import classifier_loader

    keys: dict[Path, Any] = {}
    for folder in folders:
        try:
            meta = read_meta(folder)
            keys[folder.resolve()] = _base_key(folder, meta, classifier_loader(folder, meta))
        except Exception:  # the torch loader reports a broken folder, naming it
            keys[folder.resolve()] = None
    counts: dict[Any, int] = {}
    for key in keys.values():
        counts[key] = counts.get(key, 0) + 1
    return {f: counts[k] if share and k is not None else 1 for f, k in keys.items()}


def _mark_exclusive(reg: ModelRegistry) -> None:
    """Models of a group of several switch its shared weights: never two forwards at once.
    A lone adapter is activated now, so its concurrent forwards find it active."""
    for models in reg.groups().values():
        if len(models) > 1:
            for m in models:
                m.exclusive = m.runtime == "torch"
        elif models[0].runtime == "torch":
            activate = getattr(models[0].backend, "_activate", None)
            if callable(activate):
                activate()


class _SharedBases:
    """Loads adapters onto a base already in memory when one fits, else loads the base."""

    def __init__(self, share: bool, device: str, dtype: str | None):
        self.share = share
        self.kwargs: dict[str, Any] = {"device": device, "dtype": dtype}
        self.by_base: dict[tuple[str, str], list[tuple[Any, str]]] = {}
        self.count = 0

    def load(self, folder: Path) -> tuple[Any, str]:
        from ..folder import read_meta
        from ..registry import classifier_loader

        meta = read_meta(folder)
        loader = classifier_loader(folder, meta)
        key = _base_key(folder, meta, loader) if self.share else None
        for other, group in self.by_base.get(key, []) if key else []:
            try:
                return loader(folder, model=other, meta=meta, **self.kwargs), group
            except (ValueError, TypeError) as err:  # another peft type, a different base...
                log.info("%s cannot share the base of %s: %s", folder, other.adapter, err)
        clf = loader(folder, meta=meta, **self.kwargs)
        group = f"base{self.count}:{Path(key[1]).name if key else folder.name}"
        self.count += 1
        if key:
            self.by_base.setdefault(key, []).append((clf, group))
        return clf, group


def _base_key(folder: Path, meta: dict[str, Any], loader: Any) -> tuple[str, str] | None:
    """(loader, base model) of an adapter folder; None when it cannot share a base.

    Adapters share a base when their method ``shares_base`` and one loader puts both on it
    (SpaRTA and head folders share a plain model; peft folders a ``PeftModel``).
    """
    from ..assets import resolve_model
    from ..folder import base_model_of
    from ..registry import method_for_folder

    method = method_for_folder(folder, meta)
    if not method.shares_base or loader is not method.load_classifier:  # e.g. generative
        return None
    base = base_model_of(folder, meta)
    family = f"{loader.__module__}.{loader.__qualname__}"
    return (family, str(resolve_model(base))) if base else None


def resident_bytes(models: Iterable[ServedModel]) -> int:
    """Bytes of the distinct tensor storages the models hold (shared ones counted once).

    Walks each backend's attributes (modules, tensors, dicts, lists, tuples), so a shared
    base counts once however many adapters sit on it.
    """
    seen_obj: set[int] = set()
    storages: dict[int, int] = {}

    def visit(obj: Any) -> None:
        if id(obj) in seen_obj:
            return
        seen_obj.add(id(obj))
        if isinstance(obj, torch.Tensor):
            st = obj.untyped_storage()
            storages[st.data_ptr()] = max(storages.get(st.data_ptr(), 0), st.nbytes())
        elif isinstance(obj, torch.nn.Module):
            for t in (*obj.parameters(), *obj.buffers()):
                visit(t)
        elif isinstance(obj, dict):
            for v in obj.values():
                visit(v)
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                visit(v)
        elif hasattr(obj, "__dict__") and not isinstance(obj, type):
            for v in vars(obj).values():
                if isinstance(v, (torch.Tensor, torch.nn.Module, dict, list, tuple)):
                    visit(v)

    for m in models:
        visit(m.backend)
    return sum(storages.values())
