"""What a comparison produced: one ``CompareRow`` per method, gathered in a ``CompareResult``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import CompareConfig

__all__ = ["COLUMNS", "CompareResult", "CompareRow"]


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
    validation_accuracy: float | None = None
    validation_macro_f1: float | None = None
    test_accuracy: float | None = None
    test_macro_f1: float | None = None
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


@dataclass
class CompareResult:
    """The rows of a comparison (in the order of ``config.methods``) and the table files."""

    config: CompareConfig
    rows: list[CompareRow]
    output_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    """Format (csv, json, md) -> the file holding the table."""
    data: dict[str, Any] = field(default_factory=dict)
    """The shared data: its split sizes and label names."""

    @property
    def failed(self) -> list[CompareRow]:
        return [row for row in self.rows if not row.ok]


#: the fields of a row, in table order (the columns of compare.csv, the keys of compare.json)
COLUMNS = tuple(f.name for f in dataclasses.fields(CompareRow))
