"""int8 quantization of an exported model through ONNX Runtime's quantization tools.

- dynamic: int8 weights, activations quantized on the fly per batch (no data needed; the
  fastest, but one range per batch flips 2-4% of MiniLM predictions against fp32);
- static: activation ranges calibrated on a subset of texts (QDQ format);
- token (what "int8" means): one activation scale per token, outlier channels in fp32
  (``pertoken.py``): >= 99% agreement with fp32 on MiniLM, about 15% slower than dynamic.

Only MatMul/Gemm are quantized: they hold nearly all the compute of a transformer, and
quantizing LayerNorm/Softmax/Add inputs costs accuracy without saving time on CPU. The
graph's ``scores`` output (softmax / sigmoid / value of the logits) stays fp32 and is
checked, after quantization, to still be the problem's scores of the int8 logits.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "QUANTIZE_MODES",
    "check_scores_output",
    "normalize_mode",
    "quantize_export",
    "quantize_onnx",
]

log = logging.getLogger(__name__)

QUANTIZE_MODES = ("int8", "int8-dynamic", "int8-static", "int8-token")
_ALIASES = {
    "int8": "int8-token",
    "dynamic": "int8-dynamic",
    "int8-dynamic": "int8-dynamic",
    "static": "int8-static",
    "int8-static": "int8-static",
    "token": "int8-token",
    "int8-token": "int8-token",
}
_OPS = ["MatMul", "Gemm"]
CALIBRATION_BATCH = 16


def normalize_mode(quantize: str | None) -> str | None:
    """None / "none" / "fp32" -> None; "int8" -> "int8-token" (the faithful default);
    "int8-dynamic" and "int8-static" stay."""
    if quantize is None or str(quantize).lower() in ("none", "fp32", ""):
        return None
    mode = _ALIASES.get(str(quantize).lower())
    if mode is None:
        raise ValueError(
            f"quantization {quantize!r} is unknown; choose one of {', '.join(QUANTIZE_MODES)}"
        )
    return mode


class _Calibration:
    """``CalibrationDataReader``: length-sorted batches of the calibration texts."""

    def __init__(self, texts: list[str], tokenizer: Any, max_length: int):
        from ..inference.batching import length_batches, pad, tokenize

        ids = tokenize(tokenizer, texts, max_length)["input_ids"]
        self._batches = [
            pad(
                {"input_ids": [ids[i] for i in rows]},
                tokenizer.pad_token_id,
                tokenizer.padding_side,
                return_tensors="np",
            )
            for rows in length_batches([len(s) for s in ids], CALIBRATION_BATCH)
        ]
        self._iter: Iterator[dict[str, np.ndarray]] = iter(self._batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = iter(self._batches)


def quantize_onnx(
    model_file: str | Path,
    mode: str,
    tokenizer: Any = None,
    max_length: int = 128,
    calibration_texts: list[str] | None = None,
    problem: Any = None,
) -> None:
    """Quantize ``model_file`` in place (``mode``: int8-dynamic, int8-static or int8-token;
    int8-token picks its fp32 outlier channels on ``calibration_texts``, or on random
    vocabulary words when none are given). With ``problem`` (and a tokenizer) the result's
    ``scores`` output is checked against ``problem.scores`` of its logits."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    model_file = Path(model_file)
    mode = normalize_mode(mode) or "int8-token"
    with tempfile.TemporaryDirectory(dir=model_file.parent) as work:
        out = Path(work) / "model.int8.onnx"
        if mode == "int8-token":
            from .pertoken import quantize_per_token, synthetic_texts

            if tokenizer is None:
                raise ValueError("int8-token quantization needs the tokenizer")
            texts = calibration_texts or synthetic_texts(tokenizer)
            shutil.copy2(model_file, out)
            quantize_per_token(out, _Calibration(texts, tokenizer, max_length)._batches)
        elif mode == "int8-dynamic":
            # per-channel weight scales: on a MiniLM SpaRTA adapter they lifted int8/fp32
            # agreement on rotten_tomatoes from 95.0% to 97.3% (per-tensor scales)
            quantize_dynamic(
                str(model_file),
                str(out),
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=_OPS,
            )
        else:
            if not calibration_texts or tokenizer is None:
                raise ValueError("static int8 quantization needs calibration texts")
            reader = _Calibration(calibration_texts, tokenizer, max_length)
            CalibrationDataReader.register(_Calibration)  # an ABC; keeps onnxruntime lazy
            quantize_static(
                str(model_file),
                str(out),
                reader,
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=_OPS,
                calibrate_method=CalibrationMethod.MinMax,
            )
        if problem is not None and tokenizer is not None:
            check_scores_output(out, problem, tokenizer, max_length)
        os.replace(out, model_file)
    log.info("quantized %s (%s)", model_file, mode)


def check_scores_output(model_file: str | Path, problem: Any, tokenizer: Any, max_length: int):
    """Refuse a graph whose ``scores`` output is not ``problem.scores`` of its ``logits`` on
    a few random-word texts (a graph without ``scores``, an older export, passes)."""
    import onnxruntime as ort

    from .parity import PARITY_TOLERANCE, parity_diff
    from .pertoken import synthetic_texts

    session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    if {"logits", "scores"} - {o.name for o in session.get_outputs()}:
        return
    texts = ["", *synthetic_texts(tokenizer, n=7, seed=1)]
    for batch in _Calibration(texts, tokenizer, max_length)._batches:
        logits, scores = session.run(["logits", "scores"], batch)
        want = np.asarray(problem.scores(logits.astype(np.float64)))
        diff = parity_diff(scores, want, relative=True)
        if not diff <= PARITY_TOLERANCE:
            raise ValueError(
                f"{model_file}: after int8 quantization the scores output differs from the "
                f"{problem.type} scores of the logits by {diff:.2e} (> {PARITY_TOLERANCE}); "
                "export without --quantize, or try another int8 mode"
            )


def quantize_export(
    export_dir: str | Path,
    output: str | Path,
    quantize: str = "int8",
    calibration_texts: list[str] | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """A quantized copy of an fp32 export folder (no PyTorch model is loaded).

    >>> quantize_export("runs/demo/onnx", "runs/demo/onnx-int8")  # doctest: +SKIP
    """
    from ..folder import atomic_folder, write_json
    from ..folder.card import export_card, portable_config, portable_path, write_card
    from .format import META_FILE, export_problem, read_export_meta
    from .output import EXPORT_FILES, check_export_output

    meta = read_export_meta(export_dir)
    check_export_output(output, export_dir, overwrite, "input export")
    if meta.get("quantization"):
        raise ValueError(
            f"{export_dir} is already quantized ({meta['quantization']}); quantize an fp32 export"
        )
    mode = normalize_mode(quantize)
    if mode is None:
        raise ValueError(f"quantize_export needs an int8 mode, got {quantize!r}")
    from transformers import AutoTokenizer

    src = Path(export_dir)
    with atomic_folder(output, overwrite=overwrite, owned=EXPORT_FILES) as tmp:
        for f in src.iterdir():
            if f.is_file():
                shutil.copy2(f, tmp / f.name)
        texts = None
        if calibration_texts:
            from ..data.templates import render_inputs

            texts = render_inputs(meta.get("input_template"), calibration_texts)
        tok = AutoTokenizer.from_pretrained(str(src), padding_side=meta["padding_side"])
        if tok.pad_token_id is None:
            tok.pad_token_id = meta["pad_token_id"]
        problem = export_problem(meta, src)
        quantize_onnx(tmp / meta["model_file"], mode, tok, meta["max_length"], texts, problem)
        new_meta = {**meta, "quantization": mode}
        if "training" in new_meta:
            new_meta["training"] = portable_config(new_meta["training"])
        write_json(tmp / META_FILE, new_meta)
        write_card(tmp, export_card(new_meta, name=portable_path(output) or "export"))
    return Path(output)
