"""Problem types: one label per text, several labels per text, or a number per text.

transformers names them in ``config.problem_type``: ``single_label_classification``,
``multi_label_classification`` and ``regression``; phalanx calls them ``single_label``
(the default), ``multi_label`` and ``regression`` and accepts both spellings everywhere.

A ``Problem`` says how a model's logits become what a user reads:

- single_label: a softmax over the labels; the decision is the most likely label;
- multi_label: an independent sigmoid per label (never a softmax: two labels can both be
  near 1); the decision is every label whose probability reaches its threshold (one global
  threshold or one per label, tuned on validation and saved with the adapter);
- regression: one output, the value; when the targets were normalised for training, the
  saved ``target_scale`` (mean, std) is undone here, so every caller sees the data's units.

Labels as datasets hold them (``TextDataset.labels``): a class id (single_label), a sorted
tuple of class ids (multi_label) or a float in the data's units (regression).

>>> p = Problem("multi_label", thresholds=(0.5,))
>>> p.decide([[0.9, 0.7, 0.1]], ["a", "b", "c"])
[['a', 'b']]
>>> Problem("regression", target_scale=(2.0, 0.5)).scores([[1.0]]).tolist()
[[2.5]]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InputError, shown

__all__ = [
    "DEFAULT_THRESHOLD",
    "HF_PROBLEM_TYPES",
    "PROBLEM_TYPES",
    "Problem",
    "problem_type_name",
]

PROBLEM_TYPES = ("single_label", "multi_label", "regression")
HF_PROBLEM_TYPES = {
    "single_label": "single_label_classification",
    "multi_label": "multi_label_classification",
    "regression": "regression",
}
DEFAULT_THRESHOLD = 0.5
_SPELLINGS = {
    **{name: name for name in PROBLEM_TYPES},
    **{hf: name for name, hf in HF_PROBLEM_TYPES.items()},
}


def problem_type_name(value: Any) -> str:
    """phalanx's name of a problem type given in either spelling (``-`` for ``_`` too).

    >>> problem_type_name("multi_label_classification"), problem_type_name("multi-label")
    ('multi_label', 'multi_label')
    """
    key = str(value).strip().lower().replace("-", "_") if isinstance(value, str) else None
    if key not in _SPELLINGS:
        raise InputError(
            f"unknown problem type {shown(value)}; choose one of {', '.join(PROBLEM_TYPES)} "
            f"(or transformers' {', '.join(HF_PROBLEM_TYPES.values())})"
        )
    return _SPELLINGS[key]


def _backend(x: Any):
    """torch for tensors, numpy for the rest (the ONNX runtime has no torch)."""
    if type(x).__module__.startswith("torch"):
        import torch

        return torch
    import numpy

    return numpy


@dataclass(frozen=True)
class Problem:
    """What a model predicts and how its logits read (see the module docstring).

    ``thresholds``: multi_label only, one value (global) or one per label, each in (0, 1).
    ``target_scale``: regression only, ``(mean, std)`` of the training targets when they
    were normalised (``value = logit * std + mean``); None when trained on raw targets.
    """

    type: str = "single_label"
    thresholds: tuple[float, ...] | None = None
    target_scale: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", problem_type_name(self.type))
        if self.thresholds is not None:
            if self.type != "multi_label":
                raise InputError(f"thresholds apply to multi_label models, not {self.type}")
            values = tuple(float(t) for t in self.thresholds)
            bad = [t for t in values if not 0.0 < t < 1.0]
            if not values or bad:
                raise InputError(
                    f"thresholds must be probabilities in (0, 1), got {shown(self.thresholds)}"
                )
            object.__setattr__(self, "thresholds", values)
        if self.target_scale is not None:
            if self.type != "regression":
                raise InputError(f"target_scale applies to regression models, not {self.type}")
            mean, std = (float(v) for v in self.target_scale)
            if not (math.isfinite(mean) and math.isfinite(std) and std > 0):
                raise InputError(
                    f"target_scale must be a finite (mean, std) with std > 0, got "
                    f"{shown(self.target_scale)}"
                )
            object.__setattr__(self, "target_scale", (mean, std))

    # -- names ---------------------------------------------------------------------------
    @property
    def hf_name(self) -> str:
        """transformers' ``config.problem_type`` spelling."""
        return HF_PROBLEM_TYPES[self.type]

    @property
    def is_classification(self) -> bool:
        return self.type != "regression"

    def num_outputs(self, labels: Sequence[str]) -> int:
        """Logit columns a head over ``labels`` has (regression: one per target)."""
        return len(labels)

    # -- logits -> scores -> decisions ---------------------------------------------------
    def scores(self, logits: Any) -> Any:
        """What ``classify`` returns for logits [N, C] (a tensor or an array): softmax
        probabilities, per-label sigmoid probabilities, or values in the data's units."""
        xp = _backend(logits)
        if xp.__name__ == "numpy":
            logits = xp.asarray(logits, dtype=xp.float64 if _is_f64(logits) else xp.float32)
        if self.type == "single_label":
            if xp.__name__ == "numpy":
                shifted = logits - logits.max(axis=-1, keepdims=True)
                e = xp.exp(shifted)
                return e / e.sum(axis=-1, keepdims=True)
            return logits.softmax(-1)
        if self.type == "multi_label":
            if xp.__name__ == "numpy":
                # split by sign: exp never overflows (logits of +-1000 stay exact 1 / 0)
                out = xp.empty_like(logits)
                pos = logits >= 0
                out[pos] = 1.0 / (1.0 + xp.exp(-logits[pos]))
                e = xp.exp(logits[~pos])
                out[~pos] = e / (1.0 + e)
                return out
            return logits.sigmoid()
        if self.target_scale is None:
            return logits
        mean, std = self.target_scale
        return logits * std + mean

    def threshold_vector(self, num_labels: int) -> list[float]:
        """One threshold per label (a global one repeated; 0.5 when none was tuned)."""
        ts = self.thresholds or (DEFAULT_THRESHOLD,)
        if len(ts) == 1:
            return [ts[0]] * num_labels
        if len(ts) != num_labels:
            raise InputError(f"{len(ts)} thresholds for {num_labels} labels; give 1 or one each")
        return list(ts)

    def decide(self, scores: Any, labels: Sequence[str]) -> list[Any]:
        """The decision per row of ``scores`` (what ``scores`` returned): a label, the list
        of labels at or above their thresholds (possibly empty), or the value."""
        rows = scores.tolist() if hasattr(scores, "tolist") else [list(r) for r in scores]
        if self.type == "single_label":
            return [labels[max(range(len(r)), key=r.__getitem__)] for r in rows]
        if self.type == "multi_label":
            ts = self.threshold_vector(len(labels))
            return [[lab for lab, p, t in zip(labels, r, ts, strict=True) if p >= t] for r in rows]
        return [float(r[0]) for r in rows]

    # -- metadata ------------------------------------------------------------------------
    def to_meta(self) -> dict[str, Any]:
        """The ``problem`` entry of ``phalanx.json`` (and of an export's metadata)."""
        out: dict[str, Any] = {"type": self.type}
        if self.thresholds is not None:
            out["thresholds"] = list(self.thresholds)
        if self.target_scale is not None:
            out["target_scale"] = {"mean": self.target_scale[0], "std": self.target_scale[1]}
        return out

    @classmethod
    def from_meta(
        cls, meta: Mapping[str, Any] | None, config: Mapping[str, Any] | None = None
    ) -> Problem:
        """The problem a folder records: ``phalanx.json``'s ``problem`` entry, else the
        transformers config's ``problem_type``, else single_label (every folder written
        before problem types existed)."""
        entry = (meta or {}).get("problem")
        if entry is None:
            hf = (config or {}).get("problem_type")
            return cls(hf) if hf else cls()
        if not isinstance(entry, Mapping) or "type" not in entry:
            raise InputError(f"the 'problem' entry of the metadata is malformed: {shown(entry)}")
        scale = entry.get("target_scale")
        if isinstance(scale, Mapping):
            scale = (scale.get("mean"), scale.get("std"))
        thresholds = entry.get("thresholds")
        return cls(entry["type"], tuple(thresholds) if thresholds else None, scale)

    def check_matches(self, wanted: Any, where: str) -> None:
        """Refuse a problem type the caller asked for that is not the folder's."""
        if wanted is None:
            return
        name = problem_type_name(wanted)
        if name != self.type:
            raise InputError(
                f"{where} is a {self.type} model, not {name}: drop the problem type or load "
                f"a {name} model"
            )


def _is_f64(x: Any) -> bool:
    return getattr(getattr(x, "dtype", None), "name", "") == "float64"
