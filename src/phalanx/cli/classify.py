"""``phalanx classify``: labels and class probabilities for texts or a file of texts."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from .args import CliError
from .common import (
    AddParser,
    adapter_options,
    add_adapter_options,
    add_column_options,
    check_output_file,
    load_for_cli,
)

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
  phalanx classify runs/demo --input reviews.csv --output predictions.csv   # trained columns
  phalanx classify runs/demo --input other.csv --text-column body --output predictions.csv
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
    add_column_options(p, "--input", label=False)
    p.add_argument(
        "--json", action="store_true",
        help="print JSON lines instead of a table: text, label, score, probabilities",
    )  # fmt: skip


def _cmd_classify(args: argparse.Namespace) -> int:
    texts = list(getattr(args, "texts", []) or [])
    source = getattr(args, "input", None)
    if texts and source:
        raise CliError("give texts on the command line or --input FILE, not both")
    if not texts and not source:
        raise CliError('nothing to classify: give texts ("a charming journey") or --input FILE')
    adapter_options(args)  # the options first: before slow imports
    output = getattr(args, "output", None)
    if output and Path(output).suffix.lower() not in (".csv", ".jsonl"):
        raise CliError(f"--output {output!r}: use a .csv or .jsonl file name")
    if output:
        check_output_file(args, output, {"--input file": source})
    clf = load_for_cli(args)
    from ..inference.files import FileInputs, classify_inputs, file_inputs

    if source:
        from ..export.classifier import check_utf8

        check_utf8(source)  # classifying replacement characters would give silent wrong labels
        inputs = file_inputs(
            clf,
            source,
            text_column=getattr(args, "text_column", None),
            text_pair_column=getattr(args, "text_pair_column", None),
        )
    else:
        inputs = FileInputs(texts, None, texts)
    if not inputs.items:
        raise CliError(f"{source}: no rows to classify")
    from ..inference.records import prediction_records

    records = prediction_records(classify_inputs(clf, inputs), clf.labels, decimals=6)
    rows = [{"text": text, **r} for text, r in zip(inputs.shown, records, strict=True)]
    if output:
        _write_rows(Path(output), rows)
        print(f"wrote {len(rows)} predictions to {output}")
    elif getattr(args, "json", False):
        for row in rows:
            print(json.dumps(row, ensure_ascii=False, allow_nan=False))  # NaN is no JSON
    else:
        _print_table(rows, clf.labels)
    return 0


def _print_table(rows: list[dict[str, Any]], labels: list[str]) -> None:
    """The records as a table: label, score, one column per label's probability, text."""
    width = max(len(n) for n in [*labels, "label"]) + 2
    names = ["score", *labels]
    widths = [max(len(n), 6) + 2 for n in names]
    print(
        f"{'label':<{width}}"
        + "".join(f"{n:>{w}}" for n, w in zip(names, widths, strict=True))
        + "  text"
    )
    for row in rows:
        values = [row["score"], *(row["probabilities"][n] for n in labels)]
        cells = "".join(f"{v:>{w}.3f}" for v, w in zip(values, widths, strict=True))
        print(f"{row['label']:<{width}}{cells}  {row['text']}")


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write the rows as JSON lines (one record each, nested) or as CSV: ``text``,
    ``label``, ``score``, then ``probabilities.<label>`` per label
    (``phalanx.inference.records.flat_record``)."""
    import csv

    from ..inference.records import flat_record

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        if path.suffix.lower() == ".csv":
            flat = [flat_record(row) for row in rows]
            writer = csv.DictWriter(f, fieldnames=list(flat[0]))
            writer.writeheader()
            writer.writerows(flat)
        else:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n")
    os.replace(tmp, path)
