"""``phalanx evaluate``: metrics of an adapter on one split of a labelled dataset."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .args import CliError
from .classify import add_problem_type_option, check_problem_type
from .common import (
    AddParser,
    adapter_options,
    add_adapter_options,
    add_column_options,
    check_output_file,
    int_option,
    load_for_cli,
)

__all__ = ["add"]

_HELP = "evaluate an adapter on a labelled dataset"
_DESCRIPTION = (
    "Evaluate on one split of a dataset; print loss, accuracy, the confusion matrix with the "
    "label names, balanced accuracy, MCC and F1 (peft-sparta's layout), then per-class "
    "precision / recall / F1 / support, and write them to a JSON file (one snake_case key per "
    'metric). A data label equal to one of the adapter\'s label names (1 and "1" alike) is '
    "that label; a number is read as a class id only when no label name is a number. A "
    "multi-label model reads a list of labels per row, a text joined by --label-separator or "
    "one 0/1 column per label (--label-columns) and prints micro / macro / samples F1, subset "
    "accuracy, Hamming loss, mAP and a per-label table with its thresholds; a regression "
    "model reads a number per row and prints MSE, MAE, RMSE, R2, Pearson and Spearman. A "
    "label outside the model's set, or a target that is no number, is an error naming the "
    "row. The text / pair / label columns (and label columns, separator) default to those "
    "the model was trained on. A single file "
    "is scored whole unless --split says otherwise; a built-in dataset or a folder of split "
    "files is scored on its test split (carved by the training run's fractions and seed "
    "when it is the data the model was trained on). Fewer than 30 examples print a "
    "warning with their number."
)
_EXAMPLES = """\
examples:
  phalanx evaluate runs/demo/adapter --dataset rotten_tomatoes
  phalanx evaluate runs/demo --dataset rotten_tomatoes --split validation --output val.json
  phalanx evaluate runs/reviews --dataset other.csv              # every row, trained columns
  phalanx evaluate runs/demo --dataset labelled.csv --label-column sentiment
  phalanx evaluate runs/demo/onnx-int8 --dataset reviews.csv --split test
  phalanx evaluate runs/tickets --dataset new-tickets.jsonl        # multi-label lists
  phalanx evaluate runs/tickets --dataset flags.csv --label-columns billing,bug,urgent
  phalanx evaluate runs/ratings --dataset more-ratings.csv --label-column score  # regression
"""


def add(sub: argparse._SubParsersAction, add_parser: AddParser) -> None:
    """Register ``phalanx evaluate``."""
    add_parser(sub, "evaluate", _HELP, _DESCRIPTION, _EXAMPLES, run=_cmd_evaluate, build=_arguments)


def _arguments(p: argparse.ArgumentParser) -> None:
    add_adapter_options(p)
    p.add_argument("--dataset", metavar="DATA", help="built-in name, file, folder or HF dataset")
    p.add_argument(
        "--split",
        choices=["train", "validation", "test", "all"],
        help="which split (default: a single file is scored whole ('all' = every row); a "
        "built-in dataset or a folder of split files: test)",
    )
    add_column_options(p, "--dataset")
    p.add_argument(
        "--label-columns",
        metavar="A,B,...",
        help="multi-label: one 0/1 column per label, names joined by commas (default: the "
        "training run's, unless --label-column names one column holding the labels)",
    )
    p.add_argument(
        "--label-separator",
        metavar="TEXT",
        help="multi-label: the text between the labels of one cell (default: the training "
        "run's, else '|')",
    )
    add_problem_type_option(p)
    p.add_argument("--limit", type=int, metavar="N", help="at most N examples per split")
    p.add_argument("--output", metavar="FILE", help="metrics JSON (default: eval-DATA-SPLIT.json)")


def _cmd_evaluate(args: argparse.Namespace) -> int:
    dataset = getattr(args, "dataset", None)
    if not dataset:
        raise CliError("give --dataset (a built-in name, a file or a folder)")
    limit = int_option(args, "limit")  # the options first: before slow imports
    adapter_options(args)
    wanted = check_problem_type(args)
    from ..inference.files import (
        default_split,
        evaluation_data,
        evaluation_warnings,
        problem_of,
        score,
    )

    split = getattr(args, "split", None) or default_split(dataset)
    out = Path(getattr(args, "output", None) or f"eval-{Path(dataset).stem}-{split}.json")
    check_output_file(args, str(out), {"dataset": dataset})
    clf = load_for_cli(args)
    problem_of(clf).check_matches(wanted, str(clf.adapter))
    data = evaluation_data(
        clf,
        dataset,
        split=split,
        text_column=getattr(args, "text_column", None),
        text_pair_column=getattr(args, "text_pair_column", None),
        label_column=getattr(args, "label_column", None),
        label_columns=getattr(args, "label_columns", None),
        label_separator=getattr(args, "label_separator", None),
        limit=limit,
    )
    result = score(clf, data)
    print(result)
    warnings = evaluation_warnings(data)
    sys.stdout.flush()
    for warning in warnings:  # beside the figures, on stderr (stdout holds results only)
        print(warning, file=sys.stderr)
    payload = {"adapter": str(clf.adapter), "dataset": dataset, "split": split, **dict(result)}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    os.replace(tmp, out)  # this one file, whole or not at all
    print(f"metrics written to {out}")
    return 0
