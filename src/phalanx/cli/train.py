"""``phalanx train``: fine-tune a base model with a registered method."""

from __future__ import annotations

import argparse

from .common import AddParser, add_config_arguments, config_options, is_rank_zero

__all__ = ["add"]

_HELP = "fine-tune a model on a labelled text dataset"
_DESCRIPTION = (
    "Fine-tune a base model with a parameter-efficient method; evaluate each epoch on "
    "validation, keep the best epoch, evaluate it on test and save the adapter to "
    "<output>/adapter."
)
_EXAMPLES = """\
examples:
  phalanx train --method sparta --model minilm-l6 --dataset rotten_tomatoes
  phalanx train --config examples/demo.yaml --epochs 1
  phalanx train --dataset reviews.csv --text-column review --label-column stars \\
      --input-template 'Review: {sentence}' --output runs/reviews
  phalanx train --method-options density=0.005 dropout=0.1 --lr 3e-3 --overwrite
  phalanx train --config run.yaml --resume          # continue after Ctrl-C or a crash
  torchrun --nproc_per_node 2 -m phalanx train --config run.yaml   # data parallel
"""


def add(sub: argparse._SubParsersAction, add_parser: AddParser) -> None:
    """Register ``phalanx train``."""
    add_parser(sub, "train", _HELP, _DESCRIPTION, _EXAMPLES, run=_cmd_train, build=_arguments)


def _arguments(p: argparse.ArgumentParser) -> None:
    from ..registry import method_names
    from ..training.config import BEST_METRICS, DEVICES, PRECISIONS, TrainConfig

    choices = {
        "method": method_names(),
        "precision": PRECISIONS,
        "device": DEVICES,
        "best_metric": BEST_METRICS,
    }
    add_config_arguments(p, TrainConfig, choices)


def _cmd_train(args: argparse.Namespace) -> int:
    from ..training.config import TrainConfig

    config = TrainConfig.from_dict(config_options(args))  # checked before the slow imports
    from ..training import train

    result = train(config)
    if not is_rank_zero():
        return 0
    val = result.validation
    print()
    print(result.trainable_line)
    if val:
        print(
            f"best: epoch {val.get('epoch', 0):g} (step {val.get('step')}), validation accuracy "
            f"{100 * val['accuracy']:.2f}%, macro-F1 {val.get('macro_f1', float('nan')):.4f}"
        )
    print(f"test ({result.test.get('n', 0)} examples):")
    print(result.test)
    print(f"adapter: {result.adapter_path}")
    print(f'classify: phalanx classify {result.adapter_path} "some text"')
    return 0
