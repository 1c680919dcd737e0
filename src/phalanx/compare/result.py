"""What a comparison produced: one ``CompareRow`` per method, gathered in a ``CompareResult``.

The table's headline metrics follow the data's problem type (``HEADLINE_METRICS``): accuracy
and macro-F1 for single-label data, micro-F1, macro-F1 and mean average precision for
multi-label data, Spearman, Pearson and MSE for regression; each on validation and test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import CompareConfig

__all__ = [
    "COLUMNS",
    "HEADLINE_METRICS",
    "SPLITS",
    "CompareResult",
    "CompareRow",
    "columns",
    "headline_metrics",
    "row_record",
]

#: the metrics a comparison tables, per problem type, in column order
HEADLINE_METRICS = {
    "single_label": ("accuracy", "macro_f1"),
    "multi_label": ("micro_f1", "macro_f1", "mean_average_precision"),
    "regression": ("spearman", "pearson", "mse"),
}
#: the evaluated splits, in column order (a row's ``validation`` and ``test``)
SPLITS = ("validation", "test")


def headline_metrics(problem_type: str | None) -> tuple[str, ...]:
    """The headline metrics of ``problem_type`` (None: single_label)."""
    from ..problems import problem_type_name

    return HEADLINE_METRICS[problem_type_name(problem_type or "single_label")]


@dataclass
class CompareRow:
    """One method's line of the table; a failed one has its ``error`` and no figures."""

    method: str
    status: str = "ok"
    """ok or failed."""
    lr: float | None = None
    trainable_parameters: int | None = None
    adapter_bytes: int | None = None
    """Size of the adapter folder on disk."""
    validation: dict[str, float | None] = field(default_factory=dict)
    """The headline metrics on validation (the selected epoch's): name -> value."""
    test: dict[str, float | None] = field(default_factory=dict)
    """The headline metrics on test: name -> value."""
    train_seconds: float | None = None
    peak_rss_bytes: int | None = None
    """Maximum resident memory of the method's child process."""
    steps: int | None = None
    run_folder: str | None = None
    error: str | None = None
    """Why the method failed: one line (its child's last error line)."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def value(self, split: str, name: str) -> float | None:
        """``name`` on ``split`` (validation or test); None when the row has none."""
        return getattr(self, split).get(name)


_BEFORE = ("method", "status", "lr", "trainable_parameters", "adapter_bytes")
_AFTER = ("train_seconds", "peak_rss_bytes", "steps", "run_folder", "error")


def columns(problem_type: str | None = None) -> tuple[str, ...]:
    """The columns of compare.csv (and keys of compare.json's rows) for ``problem_type``:
    ``<split>_<metric>`` per headline metric between the run's figures."""
    metrics = headline_metrics(problem_type)
    return (*_BEFORE, *(f"{s}_{m}" for s in SPLITS for m in metrics), *_AFTER)


def row_record(row: CompareRow, problem_type: str | None = None) -> dict[str, Any]:
    """``row`` flat, under ``columns(problem_type)`` (None where it has no value)."""
    flat = {name: getattr(row, name) for name in (*_BEFORE, *_AFTER)}
    for split in SPLITS:
        for m in headline_metrics(problem_type):
            flat[f"{split}_{m}"] = row.value(split, m)
    return {name: flat[name] for name in columns(problem_type)}


@dataclass
class CompareResult:
    """The rows of a comparison (in the order of ``config.methods``) and the table files."""

    config: CompareConfig
    rows: list[CompareRow]
    output_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    """Format (csv, json, md) -> the file holding the table."""
    data: dict[str, Any] = field(default_factory=dict)
    """The shared data: its split sizes, label names and problem type."""

    @property
    def failed(self) -> list[CompareRow]:
        return [row for row in self.rows if not row.ok]

    @property
    def problem_type(self) -> str:
        """The data's problem type (single_label unless the data says otherwise)."""
        return str(self.data.get("problem_type") or "single_label")

    @property
    def metrics(self) -> tuple[str, ...]:
        """The headline metrics of the table."""
        return headline_metrics(self.problem_type)


#: the columns of a single-label comparison (compare.csv, compare.json's rows)
COLUMNS = columns("single_label")
