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
  phalanx train --dataset tickets.jsonl --problem-type multi_label   # label lists
  phalanx train --dataset ratings.csv --label-column stars --problem-type regression
  phalanx train --method-options density=0.005 dropout=0.1 --lr 3e-3 --overwrite
  phalanx train --config run.yaml --resume          # continue after Ctrl-C or a crash
  torchrun --nproc_per_node 2 -m phalanx train --config run.yaml   # data parallel
"""


def add(sub: argparse._SubParsersAction, add_parser: AddParser) -> None:
    """Register ``phalanx train``."""
    add_parser(sub, "train", _HELP, _DESCRIPTION, _EXAMPLES, run=_cmd_train, build=_arguments)


def _arguments(p: argparse.ArgumentParser) -> None:
    from ..registry import method_names
    from ..training.config import BEST_METRICS, DEVICES, POS_WEIGHTS, PRECISIONS, TrainConfig

    choices = {
        "method": method_names(),
        "precision": PRECISIONS,
        "device": DEVICES,
        "best_metric": BEST_METRICS,
        "pos_weight": POS_WEIGHTS,
    }
    add_config_arguments(p, TrainConfig, choices)


#: the validation figures the "best:" line shows, per problem type: (key, label, percent)
_BEST_LINE = {
    "single_label": (("accuracy", "validation accuracy", True), ("macro_f1", "macro-F1", False)),
    "multi_label": (("micro_f1", "validation micro-F1", False), ("macro_f1", "macro-F1", False)),
    "regression": (("mse", "validation MSE", False), ("spearman", "Spearman", False)),
}


def _best(result) -> str:
    """The selected epoch's headline validation figures."""
    parts = []
    for key, label, percent in _BEST_LINE[result.problem.type]:
        value = result.validation.get(key, float("nan"))
        parts.append(f"{label} {100 * value:.2f}%" if percent else f"{label} {value:.4f}")
    return ", ".join(parts)


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
        print(f"best: epoch {val.get('epoch', 0):g} (step {val.get('step')}), {_best(result)}")
    if result.problem.thresholds:
        shown = ", ".join(f"{t:.2f}" for t in result.problem.thresholds)
        print(f"decision thresholds (tuned on validation, {result.config.thresholds}): {shown}")
    print(f"test ({result.test.get('n', 0)} examples):")
    print(result.test)
    print(f"adapter: {result.adapter_path}")
    print(f'classify: phalanx classify {result.adapter_path} "some text"')
    return 0
