"""``ServedModel``: one model as the server sees it (name, labels, problem, runtime, forward)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..data.templates import render_inputs
from ..problems import Problem
from .runners import OnnxRunner, TorchRunner, runner_for

__all__ = ["ServedModel", "problem_info"]


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
    """Models of one group share a base and one batcher (its workers run their forwards)."""
    backend: Any = field(repr=False)
    """A ``TextClassifier`` or an export ``Pipeline``."""
    problem: Problem = field(default_factory=Problem)
    """single_label, multi_label or regression: the shape of its scores and records."""
    runtime: str = "torch"
    """torch, onnx or onnx-int8: what runs the forward."""
    agreement: float | None = None
    """onnx-int8: the share of held-out texts whose decision equals the fp32 export's."""
    export_path: str | None = None
    """The (cached) export folder an onnx runtime serves."""
    exclusive: bool = False
    """Its forwards switch weights shared with other models of its group."""
    runner: TorchRunner | OnnxRunner | None = field(default=None, repr=False)
    """Forward over token ids (None: ``classify`` tokenizes itself)."""

    def __post_init__(self) -> None:
        if self.runner is None:
            self.runner = runner_for(self.backend)

    def render(self, items: Sequence[Any]) -> list[str]:
        """The texts the model will see (templates applied); raises on bad inputs."""
        return render_inputs(self.template, list(items))

    def encode(self, items: Sequence[Any]) -> list[list[int]] | None:
        """Token ids per item (templates applied, truncated, unpadded); None for a backend
        that tokenizes inside ``classify``."""
        if self.runner is None:
            return None
        return self.runner.encode(self.render(items))

    def classify_ids(self, ids: list[list[int]]) -> np.ndarray:
        """``classify`` of the items ``encode`` gave ``ids`` for (needs a runner)."""
        if self.runner is None:
            raise TypeError(f"model {self.name} has no runner; call classify(items)")
        return self.runner.scores(ids)

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
            "runtime": self.runtime,
            **({"int8_agreement": self.agreement} if self.runtime == "onnx-int8" else {}),
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
