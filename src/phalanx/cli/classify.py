"""``phalanx classify``: labels and class probabilities for texts or a file of texts."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from .args import CliError
from .common import AddParser, add_adapter_options, load_for_cli

__all__ = ["add"]

_HELP = "classify texts with a trained adapter"
_DESCRIPTION = (
    "Print each text's predicted label and class probabilities, or classify a file "
    "(csv/tsv/json/jsonl/parquet) into a CSV or JSONL file."
)
_EXAMPLES = """\
examples:
  phalanx classify runs/demo/adapter "I enjoyed very much the movie." "It was a bad movie."
  phalanx classify runs/demo "a charming journey" --json
  phalanx classify runs/demo --input reviews.csv --text-column review --output predictions.csv
  phalanx classify runs/demo --input reviews.jsonl --output predictions.jsonl --batch-size 64
"""


def add(sub: argparse._SubParsersAction, add_parser: AddParser) -> None:
    """Register ``phalanx classify``."""
    add_parser(sub, "classify", _HELP, _DESCRIPTION, _EXAMPLES, run=_cmd_classify, build=_arguments)


def _arguments(p: argparse.ArgumentParser) -> None:
    add_adapter_options(p)
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify")
    p.add_argument("--input", metavar="FILE", help="file of texts to classify")
    p.add_argument("--output", metavar="FILE", help="write predictions here (.csv or .jsonl)")
    p.add_argument("--text-column", metavar="NAME", help="column of --input holding the text")
    p.add_argument("--json", action="store_true", help="print JSON lines instead of a table")


def _inputs_from_file(path: str, column: str | None, template: str | None) -> tuple[list, list]:
    """(items for the classifier, texts to echo): dicts when the template needs several fields."""
    from ..data import read_table
    from ..data.templates import template_fields
    from ..export.classifier import check_utf8

    check_utf8(path)  # classifying replacement characters would give silent wrong labels
    table = read_table(path)
    fields = list(dict.fromkeys(template_fields(template))) if template else []
    if column is None and len(fields) > 1:
        missing = [f for f in fields if f not in table]
        if missing:
            raise CliError(
                f"{path}: the adapter's template needs columns {fields}; {missing[0]!r} is "
                f"missing (available: {list(table)})"
            )
        items = [
            dict(zip(fields, row, strict=True))
            for row in zip(*(table[f] for f in fields), strict=True)
        ]
        return items, [" | ".join(str(v) for v in it.values()) for it in items]
    column = column or ("text" if "text" in table else fields[0] if fields else "text")
    if column not in table:
        raise CliError(
            f"{path}: no column {column!r}; available columns: {list(table)}. Pass --text-column"
        )
    texts = ["" if v is None else str(v) for v in table[column]]
    return texts, texts


def _cmd_classify(args: argparse.Namespace) -> int:
    texts = list(getattr(args, "texts", []) or [])
    source = getattr(args, "input", None)
    if texts and source:
        raise CliError("give texts on the command line or --input FILE, not both")
    if not texts and not source:
        raise CliError('nothing to classify: give texts ("a charming journey") or --input FILE')
    output = getattr(args, "output", None)
    if output and Path(output).suffix.lower() not in (".csv", ".jsonl"):
        raise CliError(f"--output {output!r}: use a .csv or .jsonl file name")
    clf = load_for_cli(args)
    if source:
        items, shown = _inputs_from_file(source, getattr(args, "text_column", None), clf.template)
    else:
        items, shown = texts, texts
    if not items:
        raise CliError(f"{source}: no rows to classify")
    probs = clf.classify(items)
    labels = clf.labels
    rows = []
    for text, p in zip(shown, probs.tolist(), strict=True):
        best = max(range(len(p)), key=p.__getitem__)
        rows.append(
            {
                "text": text,
                "label": labels[best],
                **{f"prob_{n}": round(v, 6) for n, v in zip(labels, p, strict=True)},
            }
        )
    if output:
        _write_rows(Path(output), rows)
        print(f"wrote {len(rows)} predictions to {output}")
    elif getattr(args, "json", False):
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
    else:
        width = max(len(n) for n in labels) + 2
        print(
            f"{'label':<{width}}" + "".join(f"{n:>{max(len(n), 6) + 2}}" for n in labels) + "  text"
        )
        for row in rows:
            cells = "".join(f"{row[f'prob_{n}']:>{max(len(n), 6) + 2}.3f}" for n in labels)
            print(f"{row['label']:<{width}}{cells}  {row['text']}")
    return 0


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        if path.suffix.lower() == ".csv":
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        else:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
