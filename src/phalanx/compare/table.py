"""The comparison table as text (the terminal), Markdown, CSV and JSON.

CSV and JSON hold the raw figures (fractions, bytes, seconds; an empty cell / null where a
failed method has none); text and Markdown show them for reading (percent, MiB, minutes)
under a line naming the shared settings.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path
from typing import Any

from .result import COLUMNS, CompareResult, CompareRow

__all__ = [
    "HEADERS",
    "TABLE_FILES",
    "display_cells",
    "human_bytes",
    "human_seconds",
    "settings_line",
    "to_csv",
    "to_json",
    "to_markdown",
    "to_text",
    "write_tables",
]

#: format -> file name in the comparison folder
TABLE_FILES = {"csv": "compare.csv", "json": "compare.json", "md": "compare.md"}
#: the columns shown to a reader (text and Markdown)
HEADERS = (
    "method",
    "lr",
    "trainable",
    "adapter",
    "val acc %",
    "val macro-F1",
    "test acc %",
    "test macro-F1",
    "train time",
    "peak RSS",
    "note",
)
_LEFT = {"method", "note"}  # the other columns are numbers, aligned right


def human_bytes(n: float | None) -> str:
    """``3_870_000`` -> ``'3.7 MiB'``."""
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.2f} GiB"


def human_seconds(s: float | None) -> str:
    """``75`` -> ``'1.2 min'``; under a minute in seconds, from 2 hours in hours."""
    if s is None:
        return "-"
    if s < 60:
        return f"{s:.1f} s"
    return f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


def _fmt(value: float | None, spec: str, scale: float = 1) -> str:
    return "-" if value is None else format(value * scale if scale != 1 else value, spec)


def display_cells(row: CompareRow) -> list[str]:
    """The cells of ``row`` under ``HEADERS``."""
    return [
        row.method,
        _fmt(row.lr, "g"),
        _fmt(row.trainable_parameters, ","),
        human_bytes(row.adapter_bytes),
        _fmt(row.validation_accuracy, ".1f", 100),
        _fmt(row.validation_macro_f1, ".3f"),
        _fmt(row.test_accuracy, ".1f", 100),
        _fmt(row.test_macro_f1, ".3f"),
        human_seconds(row.train_seconds),
        human_bytes(row.peak_rss_bytes),
        "" if row.ok else f"failed: {row.error}",
    ]


def settings_line(result: CompareResult) -> str:
    """What every method shared: model, data (its split sizes), budget, seed, lr."""
    c = result.config
    sizes = result.data.get("sizes")
    split = f" ({sizes['train']}/{sizes['validation']}/{sizes['test']} train/val/test)"
    budget = _count(c.max_steps, "step") if c.max_steps is not None else _count(c.epochs, "epoch")
    limit = f", limit {c.limit}" if c.limit is not None else ""
    lr = f"lr {c.lr:g}" if c.lr is not None else "each method's default lr"
    return (
        f"{c.model} on {c.dataset}{split if sizes else ''}: {budget}, batch {c.batch_size}, "
        f"max length {c.max_length}, seed {c.seed}{limit}, {lr}"
    )


def _count(n: float, noun: str) -> str:
    return f"{n:g} {noun}" + ("" if n == 1 else "s")


def to_text(result: CompareResult) -> str:
    """The table with aligned columns, under the settings line."""
    table = [list(HEADERS), *(display_cells(r) for r in result.rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
    lines = [settings_line(result), ""]
    for line in table:
        cells = [
            cell.ljust(w) if name in _LEFT else cell.rjust(w)
            for name, cell, w in zip(HEADERS, line, widths, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def to_markdown(result: CompareResult) -> str:
    """A Markdown table under the settings line."""

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    aligns = ["---" if h in _LEFT else "---:" for h in HEADERS]
    rows = [line(display_cells(r)) for r in result.rows]
    return "\n".join([settings_line(result), "", line(list(HEADERS)), line(aligns), *rows]) + "\n"


def _records(result: CompareResult) -> list[dict[str, Any]]:
    return [dataclasses.asdict(row) for row in result.rows]


def to_csv(result: CompareResult) -> str:
    """One line per method, the columns ``COLUMNS`` (an empty cell where there is no value)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for record in _records(result):
        writer.writerow({k: "" if v is None else v for k, v in record.items()})
    return buf.getvalue()


def to_json(result: CompareResult) -> str:
    """``{"settings": the config, "data": split sizes and labels, "rows": [...]}``."""
    doc = {"settings": result.config.to_dict(), "data": result.data, "rows": _records(result)}
    return json.dumps(doc, indent=2) + "\n"


def write_tables(result: CompareResult, folder: str | Path) -> dict[str, Path]:
    """Write compare.csv, compare.json and compare.md into ``folder``; format -> path."""
    folder = Path(folder)
    render = {"csv": to_csv, "json": to_json, "md": to_markdown}
    files = {}
    for kind, name in TABLE_FILES.items():
        files[kind] = folder / name
        files[kind].write_text(render[kind](result), encoding="utf-8")
    return files
