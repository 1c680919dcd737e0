"""``phalanx classify``: predictions for texts or a file of texts, for every problem type.

A single-label model prints each text's label, its score and every label's probability; a
multi-label model the labels at or above their thresholds and each label's own probability;
a regression model the value (``phalanx.inference.records``).
"""

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
    "Print each text's prediction, or classify a file (csv/tsv/json/jsonl/parquet) into a "
    "csv/tsv/json/jsonl/parquet file. A single-label model gives the label, its score and "
    "every label's probability; a multi-label model the labels at or above their "
    "thresholds (joined by '|' in csv/tsv/parquet) and each label's own probability; a "
    "regression model the value."
)
OUTPUT_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".parquet")
"""What ``--output`` writes: flat tables (csv, tsv, parquet) or records (json, jsonl)."""
_FLAT = (".csv", ".tsv", ".parquet")
_EXAMPLES = """\
examples:
  phalanx classify runs/demo/adapter "I enjoyed very much the movie." "It was a bad movie."
  phalanx classify runs/demo "a charming journey" --json
  phalanx classify runs/demo --input reviews.csv --output predictions.csv   # trained columns
  phalanx classify runs/demo --input other.csv --text-column body --output predictions.csv
  phalanx classify runs/demo --input reviews.jsonl --output predictions.jsonl --batch-size 64
  phalanx classify me/sentiment-sparta "a charming journey" --revision v1   # a Hub repo
"""


def add(sub: argparse._SubParsersAction, add_parser: AddParser) -> None:
    """Register ``phalanx classify``."""
    add_parser(sub, "classify", _HELP, _DESCRIPTION, _EXAMPLES, run=_cmd_classify, build=_arguments)


def _arguments(p: argparse.ArgumentParser) -> None:
    add_adapter_options(p)
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify")
    p.add_argument("--input", metavar="FILE", help="file of texts to classify")
    p.add_argument(
        "--output", metavar="FILE",
        help="write predictions here (.csv, .tsv, .json, .jsonl or .parquet)",
    )  # fmt: skip
    add_column_options(p, "--input", label=False)
    p.add_argument(
        "--json", action="store_true",
        help="print JSON lines instead of a table: the text and its prediction record",
    )  # fmt: skip
    add_problem_type_option(p)
    p.add_argument(
        "--revision", metavar="REV",
        help="branch, tag or commit when MODEL is a Hugging Face Hub repo id (default: main)",
    )  # fmt: skip


def add_problem_type_option(p: argparse.ArgumentParser) -> None:
    """``--problem-type``: refuse a model of another problem type (classify, evaluate)."""
    p.add_argument(
        "--problem-type",
        metavar="TYPE",
        help="refuse a model that is not of this type: single_label, multi_label or "
        "regression (default: whatever the model is)",
    )


def check_problem_type(args: argparse.Namespace) -> str | None:
    """``--problem-type`` in phalanx's spelling (None: not given), checked before loading."""
    wanted = getattr(args, "problem_type", None)
    if wanted is None:
        return None
    from ..problems import problem_type_name

    return problem_type_name(wanted)


def _cmd_classify(args: argparse.Namespace) -> int:
    texts = list(getattr(args, "texts", []) or [])
    source = getattr(args, "input", None)
    if texts and source:
        raise CliError("give texts on the command line or --input FILE, not both")
    if not texts and not source:
        raise CliError('nothing to classify: give texts ("a charming journey") or --input FILE')
    adapter_options(args)  # the options first: before slow imports
    wanted = check_problem_type(args)
    output = getattr(args, "output", None)
    if output and Path(output).suffix.lower() not in OUTPUT_SUFFIXES:
        raise CliError(f"--output {output!r}: use a {', '.join(OUTPUT_SUFFIXES)} file name")
    revision = getattr(args, "revision", None)
    if revision is not None:  # a Hub repo id: its snapshot at that revision, read from here on
        from ..folder import resolve_folder

        args.adapter = str(resolve_folder(getattr(args, "adapter", None), revision=revision).path)
    if output:
        check_output_file(args, output, {"--input file": source})
    clf = load_for_cli(args)
    from ..inference.files import problem_of

    problem = problem_of(clf)
    problem.check_matches(wanted, str(clf.adapter))
    if problem.type == "multi_label" and output and Path(output).suffix.lower() in _FLAT:
        from ..inference.records import join_labels

        join_labels(clf.labels)  # a label holding "|" cannot be a flat cell: before any work
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

    scores = classify_inputs(clf, inputs)
    records = prediction_records(scores, clf.labels, decimals=6, problem=problem)
    rows = [{"text": text, **r} for text, r in zip(inputs.shown, records, strict=True)]
    if output:
        _write_rows(Path(output), rows)
        print(f"wrote {len(rows)} predictions to {output}")
    elif getattr(args, "json", False):
        for row in rows:
            print(json.dumps(row, ensure_ascii=False, allow_nan=False))  # NaN is no JSON
    elif problem.type == "multi_label":
        _print_multi_label(rows, clf.labels)
    elif problem.type == "regression":
        _print_values(rows, clf.labels[0])
    else:
        _print_table(rows, clf.labels)
    return 0


NO_LABEL = "(none)"
"""What the printed table shows for a multi-label text with no label at its threshold."""


def _print_multi_label(rows: list[dict[str, Any]], labels: list[str]) -> None:
    """The records as a table: the labels chosen (joined by ``|``), each label's own
    probability, the text."""
    chosen = ["|".join(row["labels"]) or NO_LABEL for row in rows]
    width = max(len(c) for c in [*chosen, "labels"]) + 2
    widths = [max(len(n), 6) + 2 for n in labels]
    heads = "".join(f"{n:>{w}}" for n, w in zip(labels, widths, strict=True))
    print(f"{'labels':<{width}}{heads}  text")
    for row, names in zip(rows, chosen, strict=True):
        values = [row["probabilities"][n] for n in labels]
        cells = "".join(f"{v:>{w}.3f}" for v, w in zip(values, widths, strict=True))
        print(f"{names:<{width}}{cells}  {row['text']}")


def _print_values(rows: list[dict[str, Any]], target: str) -> None:
    """The records as a table: the predicted value (headed by the target's name), text."""
    cells = [f"{row['value']:.4f}" for row in rows]
    width = max(len(c) for c in [*cells, target])
    print(f"{target:>{width}}  text")
    for row, cell in zip(rows, cells, strict=True):
        print(f"{cell:>{width}}  {row['text']}")


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
    """Write the rows as records (JSON lines, or one JSON array: nested as ``--json``
    prints them) or as a flat table (csv, tsv, parquet): ``text``, then the record's flat
    columns (``phalanx.inference.records.flat_record``: ``label``, ``score``,
    ``probabilities.<label>``; ``labels`` joined by ``|``; ``value``)."""
    import csv

    from ..inference.records import flat_record

    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if suffix == ".parquet":
        from ..data.tables import pandas

        pandas().DataFrame([flat_record(row) for row in rows]).to_parquet(tmp, index=False)
        os.replace(tmp, path)
        return
    with tmp.open("w", newline="", encoding="utf-8") as f:
        if suffix in (".csv", ".tsv"):
            flat = [flat_record(row) for row in rows]
            delimiter = "\t" if suffix == ".tsv" else ","
            writer = csv.DictWriter(f, fieldnames=list(flat[0]), delimiter=delimiter)
            writer.writeheader()
            writer.writerows(flat)
        elif suffix == ".json":
            f.write(json.dumps(rows, ensure_ascii=False, allow_nan=False, indent=1) + "\n")
        else:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n")
    os.replace(tmp, path)
