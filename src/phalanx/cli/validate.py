"""``phalanx validate``: check a training config or a compression recipe without running it."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .args import CliError
from .common import AddParser

__all__ = ["add"]

_HELP = "check a training config without running it"
_DESCRIPTION = (
    "Check a training config: option names, types and ranges, the method's options, "
    "that the model and dataset can be found and the columns exist."
)
_EXAMPLES = """\
examples:
  phalanx validate examples/demo.yaml
  phalanx validate run.yaml --no-data      # skip loading the dataset
  phalanx validate examples/recipes/minilm_gmp80_distill.yaml   # a compression recipe
"""


def add(sub: argparse._SubParsersAction, add_parser: AddParser) -> None:
    """Register ``phalanx validate``."""
    add_parser(sub, "validate", _HELP, _DESCRIPTION, _EXAMPLES, run=_cmd_validate, build=_arguments)


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="CONFIG", nargs="?", help="the YAML training config")
    p.add_argument(
        "--data",
        action=argparse.BooleanOptionalAction,
        help="load the dataset to check its columns and labels (default: yes)",
    )


def _cmd_validate(args: argparse.Namespace) -> int:
    from ..assets import resolve_model
    from ..compress.recipe import is_recipe
    from ..folder import check_apart
    from ..training.config import TrainConfig, load_yaml

    if not getattr(args, "file", None):
        raise CliError("give the config file to check: phalanx validate CONFIG.yaml")
    if is_recipe(args.file):  # a compression recipe (modifiers), not a training config
        from .compress import validate_recipe

        return validate_recipe(args.file)
    config = TrainConfig.from_dict(load_yaml(args.file))
    check_apart(config.output, {"model": config.model, "dataset": config.dataset})  # as train
    model_path = resolve_model(config.model)
    if os.path.isdir(model_path) and not os.path.isfile(os.path.join(model_path, "config.json")):
        raise CliError(f"model folder {model_path!r} has no config.json")
    options = {k: v for k, v in config.resolved()["method_options"].items() if v is not None}
    out = Path(config.output)
    busy = out.is_dir() and any(out.iterdir())
    note = " (not empty: refused without --overwrite or --resume)" if busy else ""
    if busy and (config.overwrite or config.resume):
        note = " (not empty: " + ("resumed)" if config.resume else "results replaced)")
    lines = [
        f"method: {config.method} {options}",
        f"model: {config.model} ({model_path})",
        f"learning rate: {config.resolved_lr():g}, epochs: {config.epochs:g}, "
        f"batch size: {config.batch_size}, max length: {config.max_length}",
        f"output: {config.output}{note}",
    ]
    if getattr(args, "data", True):
        from ..training.setup import load_splits

        splits = load_splits(config)
        lines.insert(
            2,
            f"data: {config.dataset}: {len(splits.train)} train / {len(splits.validation)} "
            f"validation / {len(splits.test)} test, labels {splits.label_names}",
        )
    print(f"{args.file}: OK")
    for line in lines:
        print(f"  {line}")
    return 0
