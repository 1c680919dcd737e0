"""``phalanx info``: describe an adapter folder from its JSON files (the model is not loaded)."""

from __future__ import annotations

import argparse
import json

from ..folder import adapter_info, resolve_adapter
from .common import AddParser

__all__ = ["add"]

_HELP = "describe an adapter folder"
_DESCRIPTION = (
    "Method, base model, trainable parameters, labels, template, size on disk and the "
    "metrics recorded at training time (the model is not loaded)."
)
_EXAMPLES = """\
examples:
  phalanx info runs/demo/adapter
  phalanx info runs/demo --json
"""


def add(sub: argparse._SubParsersAction, add_parser: AddParser) -> None:
    """Register ``phalanx info``."""
    add_parser(sub, "info", _HELP, _DESCRIPTION, _EXAMPLES, run=_cmd_info, build=_arguments)


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("adapter", metavar="ADAPTER", nargs="?", help="adapter folder (or run folder)")
    p.add_argument("--json", action="store_true", help="print JSON")


def _cmd_info(args: argparse.Namespace) -> int:
    info = adapter_info(resolve_adapter(getattr(args, "adapter", None)))
    if getattr(args, "json", False):
        print(json.dumps(info, indent=2))
        return 0
    n = info["trainable_parameters"]
    lines = [
        ("adapter", info["adapter"]),
        ("method", info["method"]),
        ("base model", f"{info['base_model']} ({info['model_type']})"),
        ("trainable params", f"{n:,}" if isinstance(n, int) else "unknown"),
        ("labels", ", ".join(info["labels"])),
        ("input template", repr(info["input_template"]) if info["input_template"] else "none"),
        ("max length", info["max_length"] or "model default"),
        ("size on disk", _human(info["size_bytes"])),
    ]
    if info["dataset"]:
        lines.append(("trained on", info["dataset"]))
    metrics = info["metrics"]
    for split in ("validation", "test"):
        m = metrics.get(split) or {}
        if "accuracy" in m:
            f1 = m.get("macro_f1", m.get("macro-F1"))
            extra = f", macro-F1 {f1:.4f}" if f1 is not None else ""
            lines.append((f"{split} accuracy", f"{100 * m['accuracy']:.2f}%{extra}"))
    width = max(len(k) for k, _ in lines) + 1
    for key, value in lines:
        print(f"{key + ':':<{width}} {value}")
    return 0


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
