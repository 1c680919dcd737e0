"""``CompareConfig``: the settings of ``phalanx compare`` (every method on the same run).

Besides its own fields it takes ``SHARED_OPTIONS`` from ``TrainConfig`` (same types,
defaults, docs and validation): every compared method trains on the same data, split,
problem type (single_label, multi_label or regression, with its label columns, loss and
thresholds), seed and budget; only the method, its options and (unless ``lr`` is given)
its default learning rate differ.

Example:
    >>> cfg = CompareConfig(methods=["sparta,lora"], dataset="reviews.csv", max_steps=10)
    >>> cfg.methods, cfg.train_config("lora").output
    (['sparta', 'lora'], 'runs/compare-minilm-l6-reviews/lora')
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..registry import get_method, method_names
from ..training.config import (
    PROBLEM_OPTIONS,
    TrainConfig,
    _slug,
    fields_from,
    refuse_unknown_options,
)
from ..validation import check_field_types

__all__ = ["SHARED_OPTIONS", "CompareConfig"]

#: the TrainConfig options every compared method shares, taken as they are
SHARED_OPTIONS = (
    "model",
    "dataset",
    "text_column",
    "text_pair_column",
    "label_column",
    "label_names",
    *PROBLEM_OPTIONS,
    "validation_fraction",
    "test_fraction",
    "limit",
    "task",
    "verbalizers",
    "input_template",
    "max_length",
    "epochs",
    "max_steps",
    "batch_size",
    "eval_batch_size",
    "lr",
    "warmup_ratio",
    "weight_decay",
    "grad_accum",
    "max_grad_norm",
    "layer_lr_decay",
    "early_stopping_patience",
    "best_metric",
    "eval_steps",
    "seed",
    "precision",
    "device",
    "overwrite",
    "save_total_limit",
    "logging_steps",
    "progress",
)


@dataclass
@fields_from(TrainConfig, *SHARED_OPTIONS)
class CompareConfig:
    """Settings of one comparison (``phalanx compare``; every field is a ``--flag``)."""

    methods: list[str] = field(default_factory=lambda: ["all"])
    """Methods to compare, comma- or space-separated, in this order; all = every registered
    method that can train the task."""
    method_options: dict[str, Any] = field(default_factory=dict)
    """Method options: METHOD.KEY=VALUE for one method (lora.r=16), KEY=VALUE for every
    compared method (a method that does not take it fails its row)."""
    output: str | None = None
    """Comparison folder: compare.csv, compare.json, compare.md, one run folder and one log
    per method; default runs/compare-<model>-<dataset>."""

    def __post_init__(self) -> None:
        if isinstance(self.methods, str):
            self.methods = [self.methods]
        if isinstance(self.label_columns, str):  # "billing,bug", as TrainConfig takes it
            self.label_columns = [c.strip() for c in self.label_columns.split(",") if c.strip()]
        check_field_types(self, "compare config")
        self.methods = self._expand_methods(self.methods)
        self.method_options = self._split_options(self.method_options)
        if self.output is None:
            self.output = str(Path("runs") / f"compare-{_slug(self.model)}-{_slug(self.dataset)}")
        # the shared options are validated once, by TrainConfig (its messages name the field);
        # a method's own options are checked when its row runs
        self.shared_config()

    def _expand_methods(self, given: list[str]) -> list[str]:
        """``["sparta,lora", "ia3"]`` -> ``["sparta", "lora", "ia3"]``; ``all`` -> the
        registered methods that can train ``task``; unknown names and repeats refused."""
        names = [n.strip() for item in given for n in item.split(",") if n.strip()]
        known = method_names()
        if names == ["all"]:
            names = [n for n in known if self.task != "generative" or get_method(n).generative]
        if not names:
            raise InputError(f"methods is empty; give some of {', '.join(known)}, or all")
        for name in names:
            if name not in known:
                raise InputError(
                    f"methods: unknown method {name!r}; choose among {', '.join(known)}, or all"
                )
            if names.count(name) > 1:
                raise InputError(f"methods: {name!r} is given twice")
        return names

    def _split_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """Check the METHOD. prefixes; ``lora: {r: 8}`` (YAML) becomes ``lora.r: 8``."""
        flat: dict[str, Any] = {}
        for key, value in options.items():
            key = str(key)
            if key in method_names() and isinstance(value, dict):
                flat.update({f"{key}.{k}": v for k, v in value.items()})
                continue
            flat[key] = value
        for key in flat:
            method, dot, _ = key.partition(".")
            if dot and method not in self.methods:
                raise InputError(
                    f"method_options {key!r}: {method!r} is not among the compared methods "
                    f"({', '.join(self.methods)})"
                )
        return flat

    def options_for(self, method: str) -> dict[str, Any]:
        """``method``'s options: the ones for every method, then its own (those win)."""
        common = {k: v for k, v in self.method_options.items() if "." not in k}
        prefix = method + "."
        own = {k[len(prefix) :]: v for k, v in self.method_options.items() if k.startswith(prefix)}
        return {**common, **own}

    def train_config(self, method: str) -> TrainConfig:
        """The TrainConfig of ``method``'s run, in ``<output>/<method>`` (InputError when
        the method refuses its options)."""
        return self._train_config(method, self.options_for(method))

    def shared_config(self) -> TrainConfig:
        """What every compared method shares: the first method's TrainConfig without its
        method options (data, split, seed, budget)."""
        return self._train_config(self.methods[0], {})

    def _train_config(self, method: str, options: dict[str, Any]) -> TrainConfig:
        shared = {name: getattr(self, name) for name in SHARED_OPTIONS}
        output = str(Path(str(self.output)) / method)
        return TrainConfig(**shared, method=method, method_options=options, output=output)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CompareConfig:
        """Build from a mapping; unknown keys are refused with the closest valid name."""
        refuse_unknown_options(cls, data, "compare")
        return cls(**data)
