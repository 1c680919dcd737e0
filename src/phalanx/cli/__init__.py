"""The ``phalanx`` command line: one module per subcommand, heavy imports inside each command."""

from .parser import build_parser, main

__all__ = ["build_parser", "main"]
