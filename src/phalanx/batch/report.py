"""``BatchReport``: what a batch job did, as every engine returns it and the CLI prints it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BatchReport"]


@dataclass
class BatchReport:
    """Rows written, rows that failed (``on_error="skip"``), seconds, and the predictions'
    distribution (single/multi-label: rows per label; regression: none)."""

    output: Path
    rows: int = 0
    errors: int = 0
    seconds: float = 0.0
    label_counts: Counter[str] = field(default_factory=Counter)
    resumed_rows: int = 0
    """Rows an earlier, interrupted run had already written (``--resume``)."""
    engine: str = "local"

    @property
    def rows_per_s(self) -> float:
        """Rows classified by this run per second (resumed rows not counted)."""
        done = self.rows - self.resumed_rows
        return done / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        """The final line: rows, time, rows/s and the label distribution.

        >>> r = BatchReport(Path("o.csv"), rows=3, seconds=1.5, label_counts=Counter(a=2, b=1))
        >>> r.summary()
        'wrote 3 rows to o.csv in 1.5 s (2.0 rows/s); labels: a 2 (66.7%), b 1 (33.3%)'
        """
        line = (
            f"wrote {self.rows} rows to {self.output} in {self.seconds:.1f} s "
            f"({self.rows_per_s:.1f} rows/s)"
        )
        if self.resumed_rows:
            line += f", {self.resumed_rows} of them from the interrupted run"
        if self.errors:
            line += f"; {self.errors} rows not classified (see their error field)"
        if self.label_counts:
            total = sum(self.label_counts.values()) or 1
            parts = [
                f"{k} {v} ({100 * v / total:.1f}%)" for k, v in self.label_counts.most_common()
            ]
            line += "; labels: " + ", ".join(parts)
        return line
