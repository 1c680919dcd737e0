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

from ..validation import check_int_range
from .args import CliError, add_dataclass_arguments, given, options_dict

__all__ = [
    "AddParser",
    "LazyParser",
    "adapter_options",
    "add_adapter_options",
    "add_column_options",
    "add_config_arguments",
    "add_parser",
    "check_output_file",
    "config_options",
    "int_option",
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
    p.add_argument("adapter", metavar="MODEL", nargs="?", help="adapter, run or export folder")
    p.add_argument("--batch-size", type=int, metavar="N", help="inference batch size (32)")
    p.add_argument("--device", metavar="DEVICE", help="cpu, cuda, cuda:1, ... (default: cpu)")
    p.add_argument("--max-length", type=int, metavar="N", help="truncation (default: saved)")


def add_column_options(p: argparse.ArgumentParser, of: str, label: bool = True) -> None:
    """``--text-column`` / ``--text-pair-column`` (and ``--label-column``) of the file ``of``
    names; each defaults to the column the model was trained on."""
    trained = "(default: the model's training column)"
    p.add_argument(
        "--text-column", metavar="NAME", help=f"column of {of} holding the text {trained}"
    )
    p.add_argument(
        "--text-pair-column",
        metavar="NAME",
        help=f"column of {of} holding a second text (default: the training run's, if any)",
    )
    if label:
        p.add_argument(
            "--label-column", metavar="NAME", help=f"column of {of} holding the label {trained}"
        )


def int_option(
    args: argparse.Namespace,
    name: str,
    default: int | None = None,
    *,
    low: int = 1,
    high: int | None = None,
) -> int | None:
    """``args.<name>`` (a flag or a ``--config`` value) checked to be a whole number in
    ``[low, high]``, else a one-line error naming the flag; ``default`` when not given.

    0 is a value like any other: it is refused when below ``low``, never replaced by the
    default.
    """
    value = getattr(args, name, None)
    if value is None:
        return default
    return check_int_range("--" + name.replace("_", "-"), value, low, high)


def adapter_options(args: argparse.Namespace) -> tuple[int | None, int | None]:
    """``--batch-size`` and ``--max-length`` checked (whole numbers >= 1; None: not given)."""
    return int_option(args, "batch_size"), int_option(args, "max_length")


def check_output_file(args: argparse.Namespace, output: str, inputs: dict[str, Any]) -> None:
    """Refuse, before any slow work, an ``--output`` file that is a folder, or that is or
    lies inside the adapter (or export) folder or one of the other ``inputs`` (name -> path).
    The command then replaces that one file and nothing else."""
    from ..folder import check_apart, resolve_folder

    if os.path.isdir(output):
        raise CliError(f"--output {output} is a folder; give a file name")
    adapter = resolve_folder(getattr(args, "adapter", None)).path
    check_apart(output, {"adapter": adapter, **inputs}, "--output")


def load_for_cli(args: argparse.Namespace) -> Any:
    """The classifier for ``args.adapter``: an adapter folder, a run folder or an ONNX export
    (``phalanx.folder.resolve_folder`` tells them apart)."""
    batch_size, max_length = adapter_options(args)  # before the slow imports
    from ..folder import resolve_folder
    from ..inference.classifier import load_classifier

    found = resolve_folder(getattr(args, "adapter", None))  # a bad path fails before imports
    kwargs: dict[str, Any] = {"device": getattr(args, "device", None) or "cpu"}
    if max_length is not None:
        kwargs["max_length"] = max_length
    clf = load_classifier(found.path, **kwargs)
    if batch_size is not None:
        clf.batch_size = batch_size
    return clf


def is_rank_zero() -> bool:
    """Whether this process reports results (always, except on ranks > 0 under torchrun)."""
    return int(os.environ.get("RANK", "0")) == 0
