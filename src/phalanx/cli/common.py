"""What several subcommands share: the subcommand factory, adapter options, classifier loading.

Subcommand parsers are :class:`LazyParser`\\ s: their arguments are added the first time the
subcommand is parsed or its help is shown, so ``phalanx --help`` builds none of them and
imports no configuration module.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from typing import Any

from .args import CliError, add_dataclass_arguments, given, options_dict

__all__ = [
    "AddParser",
    "LazyParser",
    "add_adapter_options",
    "add_config_arguments",
    "add_parser",
    "config_options",
    "is_rank_zero",
    "load_for_cli",
]

Command = Callable[[argparse.Namespace], int]
"""What a subcommand runs: the parsed options -> the exit code."""
AddParser = Callable[..., argparse.ArgumentParser]
"""The type of :func:`add_parser`, which ``parser.py`` hands to each subcommand's ``add``."""


class LazyParser(argparse.ArgumentParser):
    """An argument parser that calls ``build(self)`` once, before its first parse or help."""

    def __init__(
        self,
        *args: Any,
        build: Callable[[argparse.ArgumentParser], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._build = build

    def ensure_built(self) -> None:
        """Add the deferred arguments (idempotent)."""
        build, self._build = self._build, None
        if build is not None:
            build(self)

    def parse_known_args(
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self.ensure_built()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self.ensure_built()
        return super().format_help()

    def format_usage(self) -> str:
        self.ensure_built()
        return super().format_usage()


def add_parser(
    sub: argparse._SubParsersAction,
    name: str,
    short_help: str,
    description: str,
    examples: str,
    *,
    run: Command,
    build: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.ArgumentParser:
    """Register subcommand ``name``: help, description, examples, ``--config`` and its command.

    ``build(parser)`` adds the subcommand's own arguments when they are first needed.
    """
    p = sub.add_parser(
        name,
        help=short_help,
        description=description,
        epilog=examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
        build=build,
    )
    p.add_argument("--config", metavar="FILE", help="YAML file of options (flags override it)")
    p.set_defaults(_parser=p, _run=run)
    return p


def add_config_arguments(p: argparse.ArgumentParser, cls: type, choices: dict[str, Any]) -> None:
    """One flag per field of the config dataclass ``cls`` (``-o`` for ``--output``)."""
    from ..training.config import field_docs

    add_dataclass_arguments(p, cls, field_docs(cls), choices=choices, short={"output": "-o"})


def config_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options given (flags, then the ``--config`` file), ``method_options`` as a dict."""
    options = given(args)
    if "method_options" in options:
        options["method_options"] = options_dict(options["method_options"])
    return options


def add_adapter_options(p: argparse.ArgumentParser) -> None:
    """The positional adapter and the inference options of classify and evaluate."""
    p.add_argument("adapter", metavar="ADAPTER", nargs="?", help="adapter folder (or run folder)")
    p.add_argument("--batch-size", type=int, metavar="N", help="inference batch size (32)")
    p.add_argument("--device", metavar="DEVICE", help="cpu, cuda, cuda:1, ... (default: cpu)")
    p.add_argument("--max-length", type=int, metavar="N", help="truncation (default: saved)")


def load_for_cli(args: argparse.Namespace) -> Any:
    """The classifier for ``args.adapter``: an adapter folder, a run folder or an ONNX export."""
    from ..export.format import is_export
    from ..folder import resolve_adapter
    from ..inference.classifier import load_classifier

    kwargs: dict[str, Any] = {"device": getattr(args, "device", "cpu")}
    if getattr(args, "max_length", None):
        kwargs["max_length"] = args.max_length
    if is_export(getattr(args, "adapter", None) or ""):  # ONNX Runtime through the Pipeline
        from ..export.classifier import ExportClassifier

        if str(kwargs.pop("device") or "cpu") != "cpu":
            raise CliError(f"{args.adapter} is an ONNX export: it runs on cpu, drop --device")
        clf = ExportClassifier(args.adapter, **kwargs)
    else:
        clf = load_classifier(resolve_adapter(getattr(args, "adapter", None)), **kwargs)
    if getattr(args, "batch_size", None):
        if args.batch_size < 1:
            raise CliError(f"--batch-size must be >= 1, got {args.batch_size}")
        clf.batch_size = args.batch_size
    return clf


def is_rank_zero() -> bool:
    """Whether this process reports results (always, except on ranks > 0 under torchrun)."""
    return int(os.environ.get("RANK", "0")) == 0
