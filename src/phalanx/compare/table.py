"""The comparison table as text (the terminal), Markdown, CSV and JSON.

Its metric columns follow the data's problem type (``phalanx.compare.result``): accuracy and
macro-F1 (single-label), micro-F1, macro-F1 and mAP (multi-label), Spearman, Pearson and MSE
(regression), on validation then test.

CSV and JSON hold the raw figures (fractions, bytes, seconds; an empty cell / null where a
failed method has none); text and Markdown show them for reading (percent, MiB, minutes)
under a line naming the shared settings.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from .result import SPLITS, CompareResult, CompareRow, columns, headline_metrics, row_record

__all__ = [
    "HEADERS",
    "TABLE_FILES",
    "display_cells",
    "headers",
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
#: how a headline metric is shown: (header, format, scale)
METRIC_DISPLAY = {
    "accuracy": ("acc %", ".1f", 100),
    "macro_f1": ("macro-F1", ".3f", 1),
    "micro_f1": ("micro-F1", ".3f", 1),
    "mean_average_precision": ("mAP", ".3f", 1),
    "spearman": ("Spearman", ".3f", 1),
    "pearson": ("Pearson", ".3f", 1),
    "mse": ("MSE", ".4g", 1),
}
_SPLIT_TAGS = {"validation": "val", "test": "test"}
_LEFT = {"method", "note"}  # the other columns are numbers, aligned right


def headers(problem_type: str | None = None) -> tuple[str, ...]:
    """The columns shown to a reader (text and Markdown) for ``problem_type``'s metrics."""
    metrics = headline_metrics(problem_type)
    shown = (f"{_SPLIT_TAGS[s]} {METRIC_DISPLAY[m][0]}" for s in SPLITS for m in metrics)
    return ("method", "lr", "trainable", "adapter", *shown, "train time", "peak RSS", "note")


#: the columns shown to a reader for single-label data
HEADERS = headers("single_label")


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


def display_cells(row: CompareRow, problem_type: str | None = None) -> list[str]:
    """The cells of ``row`` under ``headers(problem_type)``."""
    figures = []
    for split in SPLITS:
        for m in headline_metrics(problem_type):
            _, spec, scale = METRIC_DISPLAY[m]
            figures.append(_fmt(row.value(split, m), spec, scale))
    return [
        row.method,
        _fmt(row.lr, "g"),
        _fmt(row.trainable_parameters, ","),
        human_bytes(row.adapter_bytes),
        *figures,
        human_seconds(row.train_seconds),
        human_bytes(row.peak_rss_bytes),
        "" if row.ok else f"failed: {row.error}",
    ]


def settings_line(result: CompareResult) -> str:
    """What every method shared: model, data (its split sizes), budget, seed, lr."""
    c = result.config
    sizes = result.data.get("sizes")
    kind = "" if result.problem_type == "single_label" else f"{result.problem_type}, "
    split = f" ({kind}{sizes['train']}/{sizes['validation']}/{sizes['test']} train/val/test)"
    budget = _count(c.max_steps, "step") if c.max_steps is not None else _count(c.epochs, "epoch")
    limit = f", limit {c.limit}" if c.limit is not None else ""
    lr = f"lr {c.lr:g}" if c.lr is not None else "each method's default lr"
    return (
        f"{c.model} on {c.dataset}{split if sizes else ''}: {budget}, batch {c.batch_size}, "
        f"max length {c.max_length}, seed {c.seed}{limit}, {lr}"
    )


def _count(n: float, noun: str) -> str:
    return f"{n:g} {noun}" + ("" if n == 1 else "s")


def _table(result: CompareResult) -> tuple[tuple[str, ...], list[list[str]]]:
    """(the headers, the cells of each row) of ``result``."""
    kind = result.problem_type
    return headers(kind), [display_cells(r, kind) for r in result.rows]


def to_text(result: CompareResult) -> str:
    """The table with aligned columns, under the settings line."""
    names, rows = _table(result)
    table = [list(names), *rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(names))]
    lines = [settings_line(result), ""]
    for line in table:
        cells = [
            cell.ljust(w) if name in _LEFT else cell.rjust(w)
            for name, cell, w in zip(names, line, widths, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def to_markdown(result: CompareResult) -> str:
    """A Markdown table under the settings line."""

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    names, cells = _table(result)
    aligns = ["---" if h in _LEFT else "---:" for h in names]
    rows = [line(c) for c in cells]
    return "\n".join([settings_line(result), "", line(list(names)), line(aligns), *rows]) + "\n"


def _records(result: CompareResult) -> list[dict[str, Any]]:
    return [row_record(row, result.problem_type) for row in result.rows]


def to_csv(result: CompareResult) -> str:
    """One line per method under ``columns(problem type)``: ``validation_<metric>`` and
    ``test_<metric>`` per headline metric (an empty cell where there is no value)."""
    buf = io.StringIO()
    fields = columns(result.problem_type)
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for record in _records(result):
        writer.writerow({k: "" if v is None else v for k, v in record.items()})
    return buf.getvalue()


def to_json(result: CompareResult) -> str:
    """``{"settings": the config, "data": split sizes, labels and problem type,
    "metrics": the headline metrics, "rows": [...]}`` (rows keyed as compare.csv)."""
    doc = {
        "settings": result.config.to_dict(),
        "data": result.data,
        "metrics": list(result.metrics),
        "rows": _records(result),
    }
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
