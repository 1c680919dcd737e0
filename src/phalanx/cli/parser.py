"""The ``phalanx`` command line: the top-level parser, logging and one-line user errors.

Every subcommand also reads its options from a YAML file (``--config FILE``); flags typed on
the command line win over the file. User errors print one line and exit with code 2.
Subcommands live one per module and import heavy libraries only when they run.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap
from collections.abc import Callable, Sequence

from . import (
    assets,
    classify,
    compare,
    compress,
    evaluate,
    export,
    info,
    push,
    report,
    serve,
    train,
    validate,
)
from .args import CliError, merge_config_file
from .common import LazyParser, add_parser

__all__ = ["build_parser", "main"]

log = logging.getLogger("phalanx.cli")

# in the order `phalanx --help` lists them
_SUBCOMMANDS = (
    train, classify, evaluate, report, info, export, compress, compare, push, serve, validate,
    assets,
)  # fmt: skip

_EPILOG = """\
quick start:
  phalanx assets download
  phalanx train --model minilm-l6 --dataset rotten_tomatoes --epochs 1
  phalanx classify runs/sparta-minilm-l6-rotten_tomatoes/adapter "a charming journey"
run 'phalanx COMMAND --help' for a command's options and examples.
"""


def _top_parser() -> argparse.ArgumentParser:
    """The parser of the global options alone (what ``--version`` needs)."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="phalanx",
        description="Parameter-efficient fine-tuning of transformer text classifiers.",
        epilog=textwrap.dedent(_EPILOG),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"phalanx {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging, tracebacks")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and results")
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand (their options are added on first use)."""
    parser = _top_parser()
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=LazyParser)
    for module in _SUBCOMMANDS:
        module.add(sub, add_parser)
    return parser


def _asks_version(argv: Sequence[str]) -> bool:
    """Whether ``--version`` comes among the global options, before any subcommand."""
    for arg in argv:
        if not arg.startswith("-"):
            return False
        if arg == "--version":
            return True
    return False


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
    _quiet_transformers(verbose)


def _quiet_transformers(verbose: bool) -> None:
    """Transformers' verbosity and weight-loading bars, without importing transformers.

    The environment variables take effect when a command first imports it; a process that
    already imported it (a test calling ``main``) is configured directly.
    """
    os.environ["TRANSFORMERS_VERBOSITY"] = "info" if verbose else "error"
    if not verbose:
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # training keeps its own bar
    if "transformers" not in sys.modules:
        return
    from transformers.utils import logging as hf_logging

    if verbose:
        hf_logging.set_verbosity_info()
    else:
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()


_USER_ERRORS = (CliError, ValueError, FileNotFoundError, FileExistsError, KeyError, ImportError)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``phalanx`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if _asks_version(argv):
        _top_parser().parse_args(argv)  # prints the version and exits
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
    except BrokenPipeError:
        # the reader went away (`phalanx classify ... | head`): stop quietly, as cat does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
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
