"""The models a server holds: adapter folders (sharing one base per group) and exports.

Adapters whose folders name the same base model are loaded onto one copy of it: SpaRTA
adapters switch their sparse deltas and heads exactly before each batch, peft adapters use
peft's multi-adapter support. Each group of models sharing a base runs its batches on one
worker thread, so two adapters never switch the shared weights under each other.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.templates import render_inputs
from ..folder import resolve_folder
from ..hub import is_hub_id
from ..problems import Problem

__all__ = ["ModelRegistry", "ServedModel", "parse_model_spec", "problem_info", "resident_bytes"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass
class ServedModel:
    """One model as the server sees it: a name, labels, what it predicts (``problem``) and
    a ``classify`` callable."""

    name: str
    path: str
    kind: str
    """The method (``sparta``, ``lora``, ...) or ``export``."""
    labels: list[str]
    template: str | None
    group: str
    """Models of one group share a base and run on the same worker thread."""
    backend: Any = field(repr=False)
    """A ``TextClassifier`` or an export ``Pipeline``."""
    problem: Problem = field(default_factory=Problem)
    """single_label, multi_label or regression: the shape of its scores and records."""

    def render(self, items: Sequence[Any]) -> list[str]:
        """The texts the model will see (templates applied); raises on bad inputs."""
        return render_inputs(self.template, list(items))

    def classify(self, items: Sequence[Any]) -> np.ndarray:
        """Scores [N, C] as float32, in input order: class probabilities (single_label),
        independent per-label probabilities (multi_label), the value [N, 1] (regression)."""
        scores = self.backend.classify(list(items))  # both apply the template themselves
        if isinstance(scores, torch.Tensor):
            scores = scores.numpy()
        return np.asarray(scores, dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        """What ``/v1/models`` lists: names, labels, the problem type and its thresholds."""
        return {
            "name": self.name,
            "path": self.path,
            "kind": self.kind,
            "labels": self.labels,
            **problem_info(self.problem, self.labels),
            "input_template": self.template,
            "base_group": self.group,
        }


def problem_info(problem: Problem, labels: Sequence[str]) -> dict[str, Any]:
    """What a client needs to read a model's results: ``problem_type``, the decision
    ``thresholds`` (multi_label: one per label, in label order) and the regression
    ``target`` (the one label: the target column's name).

    >>> problem_info(Problem("multi_label", (0.3,)), ["a", "b"])
    {'problem_type': 'multi_label', 'thresholds': [0.3, 0.3]}
    >>> problem_info(Problem("regression"), ["score"])
    {'problem_type': 'regression', 'target': 'score'}
    """
    out: dict[str, Any] = {"problem_type": problem.type}
    if problem.type == "multi_label":
        out["thresholds"] = problem.threshold_vector(len(labels))
    elif problem.type == "regression":
        out["target"] = labels[0] if labels else "value"
    return out


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
        return cls.load(
            config.models,
            device=config.device,
            dtype=config.dtype,
            batch_size=config.batch_size,
            share_base=config.share_base,
            revision=revision,
        )

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
    ) -> ModelRegistry:
        """Load every ``NAME=PATH`` / ``PATH``: adapter folders, run folders or exports, or
        Hub repo ids holding one (``user/repo``, at ``revision``, downloaded once)."""
        if not specs:
            raise ValueError("give at least one adapter or export folder to serve")
        reg = cls()
        shared = _SharedBases(share_base, device, dtype)
        for spec in specs:
            name, path = parse_model_spec(spec)
            local = path.exists() or not is_hub_id(str(path))
            found = resolve_folder(path, revision=None if local else revision)
            if found.kind == "export":
                reg.add(_load_export(name, found.path, batch_size))
                continue
            folder = found.path
            clf, group = shared.load(folder)
            clf.batch_size = batch_size
            kind, problem = clf.method, getattr(clf, "problem", None) or Problem()
            reg.add(
                ServedModel(name, str(folder), kind, clf.labels, clf.template, group, clf, problem)
            )
            log.debug("loaded %s (%s, %s, %s) from %s", name, kind, problem.type, group, folder)
        return reg


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


def _load_export(name: str, path: Path, batch_size: int) -> ServedModel:
    from ..export import Pipeline

    pipe = Pipeline.create(task="text-classification", model_path=str(path), batch_size=batch_size)
    problem = getattr(pipe, "problem", None) or Problem()  # from the export's metadata
    labels = list(pipe.labels)
    return ServedModel(
        name, str(path), "export", labels, pipe.template, f"export:{name}", pipe, problem
    )


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
