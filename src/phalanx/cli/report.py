"""``phalanx report``: an evaluation report (HTML page, PNG figures, report.json) of a model,
or the comparison of several runs."""

from __future__ import annotations

import argparse
import sys

from .args import CliError
from .common import AddParser, add_column_options, int_option

__all__ = ["add"]

_HELP = "write an evaluation report (HTML, PNG figures, JSON) of a model or several runs"
_DESCRIPTION = (
    "Score a model (adapter, run or export folder) on labelled data (default: the test split "
    "of the dataset it was trained on, carved as in training) and write a self-contained "
    "report.html (figures embedded: it opens from disk with no network), one PNG per figure "
    "and report.json: the confusion matrix with label names, counts and row shares; "
    "per-class precision / recall / F1 / support with macro and weighted averages; a "
    "reliability diagram with the expected calibration error (15 equal-width bins of the "
    "top probability) and the score histogram; precision-recall and ROC curves per class; "
    "the training curves of a run folder's metrics.json (train loss, validation loss and "
    "metric per evaluation, the kept epoch marked); the most confident mistakes and the "
    "least confident correct predictions. A multi-label model gets the per-label table "
    "with its thresholds and curves per label, a regression model a predicted-vs-true "
    "scatter and the residuals. A part that does not apply (no history in an export) is "
    "left out with a note saying why. Several runs, or one folder phalanx compare wrote, "
    "are each reported into a sub-folder beside one table and one chart of the test metric "
    "against trainable parameters and size. Needs matplotlib (pip install "
    "'phalanx[report]')."
)
_EXAMPLES = """\
examples:
  phalanx report runs/demo                          # writes runs/demo-report/report.html
  phalanx report runs/demo --dataset other.csv -o report/
  phalanx report runs/demo --split validation --overwrite
  phalanx report runs/compare-reviews               # every run of a phalanx compare folder
  phalanx report runs/sparta runs/lora -o report-compare/
  phalanx report runs/demo/onnx-int8 --dataset rotten_tomatoes   # an export: no history
"""


def add(sub: argparse._SubParsersAction, add_parser: AddParser) -> None:
    """Register ``phalanx report``."""
    add_parser(sub, "report", _HELP, _DESCRIPTION, _EXAMPLES, run=_cmd_report, build=_arguments)


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "models", metavar="MODEL", nargs="*", help="adapter, run, export or compare folder(s)"
    )
    p.add_argument(
        "--dataset",
        metavar="DATA",
        help="labelled data to score: built-in name, file or folder (default: the training "
        "run's dataset)",
    )
    p.add_argument(
        "--split",
        choices=["train", "validation", "test", "all"],
        help="which split (default: test of the training data; a given single file: all)",
    )
    p.add_argument("-o", "--output", metavar="DIR", help="report folder (default: MODEL-report)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier report there")
    add_column_options(p, "--dataset")
    p.add_argument("--label-columns", metavar="A,B,...", help="multi-label: 0/1 columns")
    p.add_argument("--label-separator", metavar="TEXT", help="multi-label: text between labels")
    p.add_argument("--limit", type=int, metavar="N", help="at most N examples per split")
    p.add_argument("--examples", type=int, metavar="N", help="rows per example table (10)")
    p.add_argument("--batch-size", type=int, metavar="N", help="inference batch size (32)")
    p.add_argument("--device", metavar="DEVICE", help="cpu, cuda, cuda:1, ... (default: cpu)")


def _cmd_report(args: argparse.Namespace) -> int:
    models = list(getattr(args, "models", None) or [])
    if not models:
        raise CliError("give the model to report on: an adapter, run or export folder")
    options = {
        "limit": int_option(args, "limit"),
        "examples": int_option(args, "examples", 10, low=0),
        "batch_size": int_option(args, "batch_size"),
    }
    from ..report import report

    result = report(
        *models,
        dataset=getattr(args, "dataset", None),
        split=getattr(args, "split", None),
        output=getattr(args, "output", None),
        overwrite=bool(getattr(args, "overwrite", False)),
        device=getattr(args, "device", None),
        text_column=getattr(args, "text_column", None),
        text_pair_column=getattr(args, "text_pair_column", None),
        label_column=getattr(args, "label_column", None),
        label_columns=getattr(args, "label_columns", None),
        label_separator=getattr(args, "label_separator", None),
        **options,
    )
    for note in result.content.get("notes") or []:  # beside the result, as evaluate's warnings
        print(f"note: {note}", file=sys.stderr)
    print(f"report written to {result.html}")
    return 0
