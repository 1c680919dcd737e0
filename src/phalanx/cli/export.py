"""``phalanx export``: an adapter folder -> an ONNX export folder (fp32 or int8)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import shown
from .args import CliError
from .common import AddParser, add_column_options, int_option

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
  phalanx export runs/reviews -o runs/reviews/onnx-static --quantize int8-static \\
      --calibration more-reviews.csv     # texts of the column the adapter was trained on
  phalanx classify runs/demo/onnx-int8 "a charming journey"
"""


def add(sub: argparse._SubParsersAction, add_parser: AddParser) -> None:
    """Register ``phalanx export``."""
    add_parser(sub, "export", _HELP, _DESCRIPTION, _EXAMPLES, run=_cmd_export, build=_arguments)


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("adapter", metavar="ADAPTER", nargs="?", help="adapter or run folder")
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
    add_column_options(p, "--calibration", label=False)  # calibration reads no label
    p.add_argument(
        "--exporter", choices=["torchscript", "dynamo"], help="torch exporter (torchscript)"
    )
    p.add_argument(
        "--overwrite",
        action=argparse.BooleanOptionalAction,
        help="write into a non-empty output folder, replacing only an export's own files "
        "(model.onnx, phalanx_export.json, tokenizer files); others there stay",
    )


def _calibration_texts(
    args: argparse.Namespace, adapter: Path, size: int, *, required: bool = True
) -> list | None:
    """Calibration inputs: --calibration (default: the training dataset), by the training
    run's text column unless --text-column (no label column is read)."""
    from ..export.calibration import calibration_texts

    given = getattr(args, "calibration", None)
    try:
        texts = calibration_texts(
            adapter,
            given,
            size,
            text_column=getattr(args, "text_column", None),
            text_pair_column=getattr(args, "text_pair_column", None),
        )
    except (OSError, ValueError, ImportError) as e:
        if required or given:
            raise
        # int8-token only picks outlier channels; random vocabulary words do that too
        print(f"calibration data unavailable ({e}); using random vocabulary words", file=sys.stderr)
        return None
    if texts is None and required:
        raise CliError(
            "--quantize int8-static needs --calibration DATA (the adapter does not record "
            "its training dataset)"
        )
    return texts


def _cmd_export(args: argparse.Namespace) -> int:
    output = getattr(args, "output", None)
    if not output:
        raise CliError("give the export folder: phalanx export ADAPTER --output DIR")
    opset = int_option(args, "opset", 17, low=14)  # the options first: before slow imports
    size = int_option(args, "calibration_size", 256)
    overwrite = getattr(args, "overwrite", False)
    if not isinstance(overwrite, bool):  # a --config file's "false" is a truthy string
        raise CliError(f"overwrite must be true or false, got {shown(overwrite)}")
    from ..export.onnx import export_onnx
    from ..export.output import check_export_output
    from ..export.quantize import normalize_mode
    from ..folder import check_apart, resolve_adapter

    adapter = resolve_adapter(getattr(args, "adapter", None), "phalanx export")
    check_apart(output, {"--calibration data": getattr(args, "calibration", None)})
    check_export_output(output, adapter, overwrite)  # before the calibration data loads
    quantize = getattr(args, "quantize", None)
    texts = None
    mode = normalize_mode(quantize)
    if mode == "int8-static":
        texts = _calibration_texts(args, adapter, size)
    elif mode == "int8-token":
        texts = _calibration_texts(args, adapter, size, required=False)
    out = export_onnx(
        adapter,
        output,
        opset=opset,
        quantize=quantize,
        calibration_texts=texts,
        exporter=getattr(args, "exporter", None) or "torchscript",
        overwrite=overwrite,
    )
    print(f"exported {adapter} -> {out} ({quantize or 'fp32'})")
    print(f'classify: phalanx classify {out} "some text"')
    return 0
