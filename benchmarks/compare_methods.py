"""Train every method on one model and dataset; tabulate accuracy, size, time and memory.

A thin caller of ``phalanx compare`` (``phalanx.compare``) with this script's defaults:
minilm-l6 on rotten_tomatoes, 3 epochs, batch 32, max length 64, seed 42, the methods
below, output runs/compare (each method's run folder replaced). Each method runs in a fresh
process (so peak memory is its own) with the same data split, seed, epochs, batch size and
max length; learning rates are each method's default (from its registry entry) unless
--lr is given. Every other ``phalanx compare`` flag works too (``--help`` lists them).

    python benchmarks/compare_methods.py                        # minilm-l6, rotten_tomatoes
    python benchmarks/compare_methods.py --methods sparta,lora --limit 2000 --epochs 1
    python benchmarks/compare_methods.py --model smollm2-135m --methods sparta,lora
    python benchmarks/compare_methods.py --dataset reviews.csv --text-column review \\
        --label-column stars --output runs/compare-reviews
"""

from __future__ import annotations

import sys

from phalanx.cli import main

DEFAULT_METHODS = "sparta,lora,ia3,head,ptuning,prompt_tuning,full"
# flags typed after these win (argparse keeps the last value)
DEFAULTS = [
    "--model", "minilm-l6", "--dataset", "rotten_tomatoes", "--methods", DEFAULT_METHODS,
    "--epochs", "3", "--max-length", "64", "--batch-size", "32", "--seed", "42",
    "--output", "runs/compare", "--overwrite",
]  # fmt: skip
GLOBAL_FLAGS = ("-v", "--verbose", "-q", "--quiet")  # they go before the subcommand


def run(argv: list[str]) -> int:
    """``phalanx compare`` with this script's defaults, then ``argv``; the exit code."""
    front = [a for a in argv if a in GLOBAL_FLAGS]
    rest = [a for a in argv if a not in GLOBAL_FLAGS]
    return main([*front, "compare", *DEFAULTS, *rest])


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1:]))
