"""``phalanx export``: an adapter folder -> an ONNX export folder (fp32 or int8)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .args import CliError
from .common import AddParser

__all__ = ["add"]

_HELP = "export an adapter to ONNX (optionally int8) for fast CPU inference"
_DESCRIPTION = (
    "Merge the adapter into its base (SpaRTA, head, LoRA, IA3, full; prompt methods by "
    "folding their virtual tokens), export to ONNX with dynamic batch and sequence axes, "
    "check the logits against PyTorch, and write the tokenizer, labels and template "
    "beside it. The folder runs with phalanx classify/evaluate and phalanx.export.Pipeline."
)
_EXAMPLES = """\
examples:
  phalanx export runs/demo/adapter --output runs/demo/onnx
  phalanx export runs/demo --output runs/demo/onnx-int8 --quantize int8
  phalanx export runs/demo --output runs/demo/onnx-static --quantize int8-static \\
      --calibration rotten_tomatoes --calibration-size 256
  phalanx classify runs/demo/onnx-int8 "a charming journey"
"""


def add(sub: argparse._SubParsersAction, add_parser: AddParser) -> None:
    """Register ``phalanx export``."""
    add_parser(sub, "export", _HELP, _DESCRIPTION, _EXAMPLES, run=_cmd_export, build=_arguments)


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("adapter", metavar="ADAPTER", nargs="?", help="adapter folder (or run folder)")
    p.add_argument("-o", "--output", metavar="DIR", help="export folder to write")
    p.add_argument(
        "--quantize",
        choices=["int8", "int8-dynamic", "int8-static", "int8-token"],
        help="int8 weights: int8 = int8-token (each token's activations scaled on their own, "
        "outlier channels in fp32: >= 99%% agreement with fp32); int8-dynamic is ~15%% "
        "faster and less faithful; int8-static calibrates on --calibration",
    )
    p.add_argument("--opset", type=int, metavar="N", help="ONNX opset version (default: 17)")
    p.add_argument(
        "--calibration",
        metavar="DATA",
        help="int8-static / int8-token: texts to calibrate on (built-in dataset, file or "
        "folder; default: the adapter's training dataset; int8-token falls back to random "
        "vocabulary words)",
    )
    p.add_argument(
        "--calibration-size", type=int, metavar="N", help="calibration texts (default: 256)"
    )
    p.add_argument("--text-column", metavar="NAME", help="calibration text column (text)")
    p.add_argument(
        "--exporter", choices=["torchscript", "dynamo"], help="torch exporter (torchscript)"
    )
    p.add_argument(
        "--overwrite",
        action=argparse.BooleanOptionalAction,
        help="replace a non-empty output folder",
    )


def _calibration_texts(
    args: argparse.Namespace, adapter: Path, *, required: bool = True
) -> list[str] | None:
    from ..data import load_data
    from ..folder import read_meta

    training = read_meta(adapter).get("training", {}) or {}
    source = getattr(args, "calibration", None) or training.get("dataset")
    if not source:
        if not required:
            return None
        raise CliError(
            "--quantize int8-static needs --calibration DATA (the adapter does not record "
            "its training dataset)"
        )
    size = getattr(args, "calibration_size", None) or 256
    if size < 1:
        raise CliError(f"--calibration-size must be >= 1, got {size}")
    column = getattr(args, "text_column", None) or training.get("text_column") or "text"
    try:
        splits = load_data(source, text_column=column, limit=size)
    except (OSError, ValueError, ImportError) as e:
        if required or getattr(args, "calibration", None):
            raise
        # int8-token only picks outlier channels; random vocabulary words do that too
        print(f"calibration data {source!r} unavailable ({e}); using random vocabulary words")
        return None
    texts = splits.train.texts[:size]
    if not texts:
        raise CliError(f"--calibration {source!r} has no training texts")
    return texts


def _cmd_export(args: argparse.Namespace) -> int:
    from ..export.onnx import export_onnx
    from ..folder import resolve_adapter

    output = getattr(args, "output", None)
    if not output:
        raise CliError("give the export folder: phalanx export ADAPTER --output DIR")
    adapter = resolve_adapter(getattr(args, "adapter", None))
    quantize = getattr(args, "quantize", None)
    from ..export.quantize import normalize_mode

    texts = None
    mode = normalize_mode(quantize)
    if mode == "int8-static":
        texts = _calibration_texts(args, adapter)
    elif mode == "int8-token":
        texts = _calibration_texts(args, adapter, required=False)
    out = export_onnx(
        adapter,
        output,
        opset=getattr(args, "opset", None) or 17,
        quantize=quantize,
        calibration_texts=texts,
        exporter=getattr(args, "exporter", None) or "torchscript",
        overwrite=bool(getattr(args, "overwrite", False)),
    )
    print(f"exported {adapter} -> {out} ({quantize or 'fp32'})")
    print(f'classify: phalanx classify {out} "some text"')
    return 0
