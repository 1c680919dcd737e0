"""``phalanx info``: describe an adapter folder from its JSON files (the model is not loaded)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..folder import adapter_info, resolve_folder
from ..metric_names import METRIC_LABELS, metric_keys
from .common import AddParser

__all__ = ["add"]

_HELP = "describe an adapter, run or export folder"
_DESCRIPTION = (
    "Method, base model, trainable parameters, labels, template, size on disk, the training "
    "data's columns and the metrics recorded at training time; for an export also its "
    "runtime, quantization and source adapter (the model is not loaded)."
)
_EXAMPLES = """\
examples:
  phalanx info runs/demo/adapter
  phalanx info runs/demo --json
  phalanx info runs/demo/onnx-int8
"""


def add(sub: argparse._SubParsersAction, add_parser: AddParser) -> None:
    """Register ``phalanx info``."""
    add_parser(sub, "info", _HELP, _DESCRIPTION, _EXAMPLES, run=_cmd_info, build=_arguments)


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("adapter", metavar="MODEL", nargs="?", help="adapter, run or export folder")
    p.add_argument("--json", action="store_true", help="print JSON")


def _cmd_info(args: argparse.Namespace) -> int:
    found = resolve_folder(getattr(args, "adapter", None))
    if found.kind == "export":
        from ..export.format import export_info

        info = export_info(found.path)
    else:
        info = adapter_info(found.path)
    info["metrics"] = _current_keys(info.get("metrics") or {})
    if getattr(args, "json", False):
        print(json.dumps(info, indent=2))
        return 0
    n = info["trainable_parameters"]
    if info.get("kind") == "export":
        lines = [
            ("export", info["adapter"]),
            ("runtime", info["runtime"]),
            ("quantization", info["quantization"]),
            ("source adapter", info["source_adapter"] or "unknown"),
            ("method", info["method"]),
        ]
    else:
        lines = [("adapter", info["adapter"]), ("method", info["method"])]
    lines.append(("base model", f"{info['base_model']} ({info['model_type']})"))
    if info.get("kind") != "export":
        lines.append(("trainable params", f"{n:,}" if isinstance(n, int) else "unknown"))
    problem = info.get("problem") or {"type": "single_label"}
    lines.append(("problem type", _problem_line(problem)))
    lines += [
        ("labels" if problem["type"] != "regression" else "target", ", ".join(info["labels"])),
        ("input template", repr(info["input_template"]) if info["input_template"] else "none"),
        ("max length", info["max_length"] or "model default"),
        ("size on disk", _human(info["size_bytes"])),
    ]
    if info["dataset"]:
        lines.append(("trained on", info["dataset"]))
    columns = {k: v for k, v in (info.get("columns") or {}).items() if v}
    if columns:
        lines.append(("columns", ", ".join(f"{k} = {v}" for k, v in columns.items())))
    metrics = info["metrics"]
    for split in ("validation", "test"):
        m = metrics.get(split) or {}
        if "accuracy" in m:
            f1 = m.get("macro_f1")
            extra = f", {METRIC_LABELS['macro_f1']} {f1:.4f}" if f1 is not None else ""
            lines.append((f"{split} accuracy", f"{100 * m['accuracy']:.2f}%{extra}"))
        shown = [k for k in _HEADLINES.get(problem["type"], ()) if k in m]
        if shown:
            text = ", ".join(f"{METRIC_LABELS.get(k, k)} {m[k]:.4f}" for k in shown)
            lines.append((split, text))
    width = max(len(k) for k, _ in lines) + 1
    for key, value in lines:
        print(f"{key + ':':<{width}} {value}")
    return 0


#: the recorded metrics ``info`` shows per problem type (single_label: accuracy line above)
_HEADLINES = {
    "multi_label": ("micro_f1", "macro_f1", "mean_average_precision"),
    "regression": ("mse", "mae", "spearman", "pearson"),
}


def _problem_line(problem: dict[str, Any]) -> str:
    """``multi_label (thresholds 0.35)``, ``regression (targets normalised: mean 0.1, std
    1.9)``, ``single_label``."""
    text = problem["type"]
    if problem.get("thresholds"):
        ts = problem["thresholds"]
        text += f" (threshold{'s' if len(ts) > 1 else ''} {', '.join(f'{t:.2f}' for t in ts)})"
    scale = problem.get("target_scale")
    if scale:
        text += f" (targets normalised: mean {scale['mean']:.4g}, std {scale['std']:.4g})"
    return text


def _current_keys(metrics: dict[str, Any]) -> dict[str, Any]:
    """Recorded metrics under today's keys (older adapters wrote ``macro-F1``, ...)."""
    return {k: metric_keys(v) if isinstance(v, dict) else v for k, v in metrics.items()}


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
