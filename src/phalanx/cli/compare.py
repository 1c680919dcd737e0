"""``phalanx compare``: train several methods on the same data and tabulate the results."""

from __future__ import annotations

import argparse
import logging
import sys

from .common import AddParser, add_config_arguments, config_options

__all__ = ["add"]

log = logging.getLogger("phalanx.compare")

_HELP = "train several methods on the same data and tabulate them"
_DESCRIPTION = (
    "Train each method with the same data, split, seed and budget, one after the other, each "
    "in its own process (its peak memory is its own; a crash fails only its row), then print "
    "one table (trainable parameters, adapter size, validation and test metrics, training "
    "time, peak memory) and write it as compare.csv, compare.json and "
    "compare.md into the output folder, beside one run folder per method. The learning rate "
    "is each method's default unless --lr is given. The metrics follow the data's problem "
    "type: accuracy and macro-F1 (single-label), micro-F1, macro-F1 and mAP (multi-label), "
    "Spearman, Pearson and MSE (regression). Exit code 1 when a method failed."
)
_EXAMPLES = """\
examples:
  phalanx compare --dataset reviews.csv --text-column review --label-column stars \\
      --methods sparta,lora,ia3,head,full
  phalanx compare --methods all --limit 2000 --epochs 1 -o runs/compare-quick
  phalanx compare --config compare.yaml --max-steps 50       # flags win over the file
  phalanx compare --methods sparta,lora --method-options lora.r=16 sparta.density=0.005
  phalanx compare --dataset tickets.jsonl --problem-type multi_label --methods sparta,lora
  phalanx compare --dataset ratings.csv --label-column score --problem-type regression
"""


def add(sub: argparse._SubParsersAction, add_parser: AddParser) -> None:
    """Register ``phalanx compare``."""
    add_parser(sub, "compare", _HELP, _DESCRIPTION, _EXAMPLES, run=_cmd_compare, build=_arguments)


def _arguments(p: argparse.ArgumentParser) -> None:
    from ..compare.config import CompareConfig
    from ..training.config import BEST_METRICS, DEVICES, POS_WEIGHTS, PRECISIONS, TASKS

    choices = {
        "precision": PRECISIONS,
        "device": DEVICES,
        "best_metric": BEST_METRICS,
        "task": TASKS,
        "pos_weight": POS_WEIGHTS,
    }
    add_config_arguments(p, CompareConfig, choices)


def _cmd_compare(args: argparse.Namespace) -> int:
    log.info("phalanx compare: checking the options and the data ...")
    from ..compare import CompareConfig, compare
    from ..compare.table import to_text

    result = compare(CompareConfig.from_dict(config_options(args)), verbose=args.verbose)
    print()
    print(to_text(result), end="")
    print(f"table: {', '.join(str(p) for p in result.files.values())}")
    if result.failed:
        names = ", ".join(row.method for row in result.failed)
        print(
            f"phalanx compare: {len(result.failed)} of {len(result.rows)} methods failed "
            f"({names}); their rows give the reason, {result.output_dir}/<method>.log the rest",
            file=sys.stderr,
        )
        return 1
    return 0
