"""``phalanx classify``: predictions for texts or a file of texts, for every problem type.

A single-label model prints each text's label, its score and every label's probability; a
multi-label model the labels at or above their thresholds and each label's own probability;
a regression model the value (``phalanx.inference.records``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from ..batch.predict import ON_ERROR
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
  phalanx classify runs/demo --input big.parquet --output scored.parquet --keep-columns id
  phalanx classify runs/demo --input big.csv --output scored.csv --resume    # after Ctrl-C
  phalanx classify runs/demo --input big.csv --output scored.csv --on-error skip
  phalanx classify runs/demo --input big.parquet --output out.parquet --engine ray
"""
ENGINES = ("local", "ray")


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
    _batch_arguments(p)


def _batch_arguments(p: argparse.ArgumentParser) -> None:
    """The options of a file streamed by chunks (``phalanx.batch``)."""
    g = p.add_argument_group("files (--input), streamed by chunks")
    g.add_argument("--chunk-size", type=int, metavar="N", help="rows per chunk (1024)")
    g.add_argument(
        "--workers", type=int, metavar="N",
        help="model copies classifying side by side, each with cores/N threads "
        "(default: one per core)",
    )  # fmt: skip
    g.add_argument(
        "--keep-columns", metavar="A,B", help="input columns copied to the output, in this order"
    )
    g.add_argument(
        "--keep-all-columns", action="store_true", help="copy every input column to the output"
    )
    g.add_argument(
        "--on-error", choices=ON_ERROR,
        help="a malformed row (bad line, missing text): stop there, keeping the chunks done "
        "for --resume (fail, the default), or write it with an error field (skip)",
    )  # fmt: skip
    g.add_argument(
        "--resume", action="store_true",
        help="carry on an interrupted run of the same --input, --output and options",
    )  # fmt: skip
    g.add_argument("--overwrite", action="store_true", help="replace an existing --output")
    g.add_argument(
        "--engine", choices=ENGINES,
        help="local (this machine, default) or ray (Ray Data: pip install 'phalanx[ray]')",
    )  # fmt: skip
    g.add_argument(
        "--ray-address", metavar="ADDR",
        help="--engine ray: the cluster to join (default: start a local one)",
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
    batch = _batch_options(args, source, output)
    revision = getattr(args, "revision", None)
    if revision is not None:  # a Hub repo id: its snapshot at that revision, read from here on
        from ..folder import resolve_folder

        args.adapter = str(resolve_folder(getattr(args, "adapter", None), revision=revision).path)
    if output:
        check_output_file(args, output, {"--input file": source})
    if source:
        return _classify_file(args, source, output, wanted, batch)
    clf = load_for_cli(args)
    from ..inference.files import problem_of

    problem = problem_of(clf)
    problem.check_matches(wanted, str(clf.adapter))
    if problem.type == "multi_label" and output and Path(output).suffix.lower() in _FLAT:
        from ..inference.records import join_labels

        join_labels(clf.labels)  # a label holding "|" cannot be a flat cell: before any work
    from ..inference.files import FileInputs, classify_inputs
    from ..inference.records import prediction_records

    inputs = FileInputs(texts, None, texts)
    scores = classify_inputs(clf, inputs)
    records = prediction_records(scores, clf.labels, decimals=6, problem=problem)
    rows = [{"text": text, **r} for text, r in zip(inputs.shown, records, strict=True)]
    if output:
        _write_rows(Path(output), rows)
        print(f"wrote {len(rows)} predictions to {output}")
    else:
        _print_rows(args, rows, problem.type, clf.labels)
    return 0


def _batch_options(args: argparse.Namespace, source: str | None, output: str | None) -> dict:
    """The streaming options, checked before any slow work (they need ``--input``)."""
    from .common import int_option

    names = ("chunk_size", "workers", "keep_columns", "keep_all_columns", "on_error", "resume",
             "overwrite", "engine", "ray_address")  # fmt: skip
    given = [n for n in names if getattr(args, n, None) not in (None, False)]
    if given and not source:
        flag = "--" + given[0].replace("_", "-")
        raise CliError(f"{flag} applies to a file: give --input FILE (and --output FILE)")
    engine = getattr(args, "engine", None) or "local"
    for name in ("resume", "overwrite", "engine", "ray_address"):
        if name in given and name != "engine" and not output:
            raise CliError(f"--{name.replace('_', '-')} needs --output FILE")
    if engine == "ray" and not output:
        raise CliError("--engine ray writes a file: give --output FILE")
    if getattr(args, "ray_address", None) and engine != "ray":
        raise CliError("--ray-address joins a Ray cluster: add --engine ray")
    keep = getattr(args, "keep_columns", None)
    keep_columns = None
    if keep is not None:
        keep_columns = [c.strip() for c in keep.split(",") if c.strip()]
        if not keep_columns:
            raise CliError("--keep-columns is empty; name the columns, e.g. --keep-columns id,date")
    return {
        "chunk_size": int_option(args, "chunk_size", 1024),
        "workers": int_option(args, "workers"),
        "keep_columns": keep_columns,
        "keep_all_columns": bool(getattr(args, "keep_all_columns", False)),
        "on_error": getattr(args, "on_error", None) or "fail",
        "engine": engine,
    }


def _classify_file(
    args: argparse.Namespace, source: str, output: str | None, wanted: str | None, batch: dict
) -> int:
    """``--input F``: streamed by chunks into ``--output`` (or printed, chunk by chunk)."""
    batch_size, max_length = adapter_options(args)
    model = getattr(args, "adapter", None)
    options = {
        "text_column": getattr(args, "text_column", None),
        "text_pair_column": getattr(args, "text_pair_column", None),
        "keep_columns": batch["keep_columns"],
        "keep_all_columns": batch["keep_all_columns"],
        "on_error": batch["on_error"],
        "batch_size": batch_size,
        "max_length": max_length,
    }
    if output and batch["engine"] == "ray":
        from ..batch.ray_engine import run_file

        report = run_file(
            model, source, output, workers=batch["workers"], chunk_size=batch["chunk_size"],
            address=getattr(args, "ray_address", None),
            overwrite=bool(getattr(args, "overwrite", False)), predictor_options=options,
        )  # fmt: skip
    elif output:
        from ..batch import classify_file

        report = classify_file(
            model, source, output, chunk_size=batch["chunk_size"], workers=batch["workers"],
            resume=bool(getattr(args, "resume", False)),
            overwrite=bool(getattr(args, "overwrite", False)), problem_type=wanted,
            progress=False if getattr(args, "quiet", False) else None, **options,
        )  # fmt: skip
    else:
        from ..batch.engine import stream_predictions

        predictor, chunks = stream_predictions(
            model, source, chunk_size=batch["chunk_size"], workers=batch["workers"],
            problem_type=wanted, **options,
        )  # fmt: skip
        first = True
        for rows in chunks:
            _print_rows(args, rows, predictor.problem.type, predictor.labels, header=first)
            first = False
        return 0
    print(f"wrote {report.rows} predictions to {output}")  # the result, as before
    print(report.summary(), file=sys.stderr)  # rows, time, rows/s, label distribution
    return 0


def _print_rows(
    args: argparse.Namespace, rows: list[dict[str, Any]], kind: str, labels: list[str],
    header: bool = True,
) -> None:  # fmt: skip
    """Rows on stdout: JSON lines (``--json``) or a table (its header once)."""
    if getattr(args, "json", False):
        for row in rows:
            print(json.dumps(row, ensure_ascii=False, allow_nan=False))  # NaN is no JSON
        return
    failed = [row for row in rows if row.get("error")]
    rows = [row for row in rows if not row.get("error")]
    if rows and kind == "multi_label":
        _print_multi_label(rows, labels, header)
    elif rows and kind == "regression":
        _print_values(rows, labels[0], header)
    elif rows:
        _print_table(rows, labels, header)
    for row in failed:
        print(f"error: {row['error']}", file=sys.stderr)


NO_LABEL = "(none)"
"""What the printed table shows for a multi-label text with no label at its threshold."""


def _print_multi_label(rows: list[dict[str, Any]], labels: list[str], header: bool = True) -> None:
    """The records as a table: the labels chosen (joined by ``|``), each label's own
    probability, the text."""
    chosen = ["|".join(row["labels"]) or NO_LABEL for row in rows]
    width = max(len(c) for c in [*chosen, "labels"]) + 2
    widths = [max(len(n), 6) + 2 for n in labels]
    heads = "".join(f"{n:>{w}}" for n, w in zip(labels, widths, strict=True))
    if header:
        print(f"{'labels':<{width}}{heads}  text")
    for row, names in zip(rows, chosen, strict=True):
        values = [row["probabilities"][n] for n in labels]
        cells = "".join(f"{v:>{w}.3f}" for v, w in zip(values, widths, strict=True))
        print(f"{names:<{width}}{cells}  {row['text']}")


def _print_values(rows: list[dict[str, Any]], target: str, header: bool = True) -> None:
    """The records as a table: the predicted value (headed by the target's name), text."""
    cells = [f"{row['value']:.4f}" for row in rows]
    width = max(len(c) for c in [*cells, target])
    if header:
        print(f"{target:>{width}}  text")
    for row, cell in zip(rows, cells, strict=True):
        print(f"{cell:>{width}}  {row['text']}")


def _print_table(rows: list[dict[str, Any]], labels: list[str], header: bool = True) -> None:
    """The records as a table: label, score, one column per label's probability, text."""
    width = max(len(n) for n in [*labels, "label"]) + 2
    names = ["score", *labels]
    widths = [max(len(n), 6) + 2 for n in names]
    if header:
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
