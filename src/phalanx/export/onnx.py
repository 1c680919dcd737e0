"""``export_onnx``: an adapter folder -> an ONNX export folder (optionally int8).

The TorchScript exporter (``torch.onnx.export(..., dynamo=False)``) with ``dynamic_axes``
is used by default: on these models it gives the same graphs as the dynamo exporter
15x faster (2-3 s instead of 40-55 s for a tiny BERT or Llama on 2 busy cores).
Every export is checked against PyTorch on a batch of another shape before it is kept.

The graph has two outputs: ``logits`` and ``scores`` (``ScoredModule``: what ``classify``
returns for the model's problem type: a softmax, a sigmoid per label, or the value); both
are checked, and the metadata records the ``problem`` (``Problem.to_meta()``).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..folder import atomic_folder, resolve_adapter, write_json
from ..folder.card import export_card, portable_config, portable_path, write_card
from ..inference.batching import empty_token_id, pad, tokenize
from ..problems import Problem
from .format import EXPORT_FORMAT, EXPORT_VERSION, META_FILE, MODEL_FILE
from .merge import OUTPUT_NAMES, MergedClassifier, ScoredModule, merge_for_export
from .output import EXPORT_FILES, check_export_output
from .parity import PARITY_TOLERANCE, parity_diff

__all__ = ["EXPORTERS", "export_onnx", "require_export_deps"]

log = logging.getLogger(__name__)

EXPORTERS = ("torchscript", "dynamo")
_PROBE = [
    "a charming journey",
    "It was a bad movie, slow and dull, and the acting was painful to watch.",
    "",
]


def require_export_deps() -> None:
    """Import onnx and onnxruntime or say which extra installs them."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as err:
        raise ImportError(
            f"exporting and running ONNX needs onnx and onnxruntime ({err.name} is missing): "
            "pip install 'phalanx[export]'"
        ) from None


def _encode(merged: MergedClassifier, texts: list[str], max_length: int) -> dict[str, np.ndarray]:
    """The same tokens and padding the classification API uses (an empty text gets one)."""
    tok = merged.tokenizer
    ids = tokenize(tok, texts, max_length)["input_ids"]
    return pad({"input_ids": ids}, tok.pad_token_id, tok.padding_side, return_tensors="np")


def problem_of(merged: MergedClassifier) -> Problem:
    """The problem type of the merged classifier (single_label for one that records none)."""
    problem = getattr(merged.classifier, "problem", None)
    return problem if isinstance(problem, Problem) else Problem()


def _scored(merged: MergedClassifier) -> ScoredModule:
    return ScoredModule(merged.module, problem_of(merged)).eval()


def _torch_export(merged: MergedClassifier, file: Path, opset: int, exporter: str) -> bool:
    """Export ``merged.module`` (logits and scores: ``ScoredModule``) to ``file``; returns
    whether the last layer was reduced to the first token (BERT-family heads read nothing
    else; see first_token.py)."""
    from .first_token import first_token_last_layer

    sample = _encode(merged, _PROBE[:2], 32)
    args = (torch.from_numpy(sample["input_ids"]), torch.from_numpy(sample["attention_mask"]))
    names = ["input_ids", "attention_mask"]
    kwargs: dict[str, Any] = {
        "input_names": names,
        "output_names": list(OUTPUT_NAMES),
        "opset_version": opset,
    }
    if exporter == "dynamo":
        dim = torch.export.Dim
        batch, seq = dim("batch"), dim("sequence")
        kwargs["dynamic_shapes"] = {n: {0: batch, 1: seq} for n in names}
        kwargs["dynamo"] = True
    else:
        axes = {0: "batch", 1: "sequence"}
        outputs = {n: {0: "batch"} for n in OUTPUT_NAMES}
        kwargs["dynamic_axes"] = {**{n: axes for n in names}, **outputs}
        kwargs["dynamo"] = False
        kwargs["do_constant_folding"] = True
    model = getattr(merged.module, "model", merged.module)
    try:
        with warnings.catch_warnings(), torch.no_grad(), first_token_last_layer(model) as first:
            warnings.simplefilter("ignore")  # tracer warnings about Python control flow
            torch.onnx.export(_scored(merged), args, str(file), **kwargs)
    except Exception as err:  # the exporters raise many types; name the model and the cause
        raise ValueError(
            f"{merged.architecture} (model type {merged.model_type!r}) does not export to ONNX "
            f"with the {exporter} exporter at opset {opset}: {type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else 'no message'}"
        ) from err
    return first


def check_parity(merged: MergedClassifier, file: Path, max_length: int) -> dict[str, float]:
    """Max difference of each output of the ONNX file (``logits``, ``scores``) vs PyTorch on
    texts of several lengths (``parity_diff``).
    An older graph with a ``logits`` output only is compared on that one."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(file), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs() if o.name in OUTPUT_NAMES]
    long = " ".join(_PROBE[1:2] * 12)  # longer than the traced sample: other shapes
    batch = _encode(merged, [*_PROBE, long], max_length)
    got = dict(zip(names, session.run(names, batch), strict=True))
    with torch.no_grad():
        want = _scored(merged)(
            *(torch.from_numpy(batch[k]) for k in ("input_ids", "attention_mask"))
        )
    wanted = dict(zip(OUTPUT_NAMES, (w.numpy() for w in want), strict=True))
    return {name: parity_diff(got[name], wanted[name], name == "scores") for name in names}


def export_onnx(
    adapter: str | Path,
    output: str | Path,
    *,
    opset: int = 17,
    quantize: str | None = None,
    calibration_texts: list[str] | None = None,
    exporter: str = "torchscript",
    overwrite: bool = False,
    calibration: str | None = None,
    calibration_size: int = 256,
) -> Path:
    """Export any phalanx adapter folder to ``output`` (model.onnx, tokenizer, metadata).

    Args:
        adapter: the adapter folder (SpaRTA, head, LoRA, IA3, full, P-tuning, prompt tuning),
            or a run folder holding one.
        output: the export folder to write (refused when not empty unless ``overwrite``,
            which replaces only ``EXPORT_FILES`` there; refused when it is, holds or lies
            inside the adapter or a local base model folder).
        opset: ONNX opset version (14 or newer).
        quantize: None (fp32), ``"int8"`` = ``"int8-token"`` (per-token activation scales,
            outlier channels from ``calibration_texts`` or random words; closest to fp32),
            ``"int8-dynamic"`` (fastest) or ``"int8-static"`` (needs ``calibration_texts``).
        exporter: ``"torchscript"`` (default) or ``"dynamo"`` (needs onnxscript).
        calibration: a dataset (file, folder, built-in) whose texts calibrate int8 when no
            ``calibration_texts`` are given: ``calibration_size`` of them, from the column
            the adapter was trained on (``phalanx.export.calibration.calibration_texts``
            reads other columns).

    Example:
        >>> export_onnx("runs/demo/adapter", "runs/demo/int8", quantize="int8")  # doctest: +SKIP
    """
    from .quantize import normalize_mode, quantize_onnx

    require_export_deps()
    if exporter not in EXPORTERS:
        raise ValueError(f"exporter {exporter!r} is unknown; choose one of {EXPORTERS}")
    if not isinstance(opset, int) or opset < 14:
        raise ValueError(f"opset {opset!r} is too old; use 14 or newer (default 17)")
    adapter = resolve_adapter(adapter, "export_onnx")
    mode = normalize_mode(quantize)
    if mode and calibration and not calibration_texts:
        from .calibration import calibration_texts as read_calibration

        calibration_texts = read_calibration(adapter, calibration, calibration_size)
    if mode == "int8-static" and not calibration_texts:
        raise ValueError(
            "static int8 quantization needs calibration texts (--calibration DATA); "
            "or use dynamic quantization (--quantize int8)"
        )
    check_export_output(output, adapter, overwrite)
    merged = merge_for_export(adapter)
    clf = merged.classifier
    with atomic_folder(output, overwrite=overwrite, owned=EXPORT_FILES) as tmp:
        model_file = tmp / MODEL_FILE
        first_token = _torch_export(merged, model_file, opset, exporter)
        diffs = check_parity(merged, model_file, clf.max_length)
        for name, diff in diffs.items():
            if not diff <= PARITY_TOLERANCE:
                raise ValueError(
                    f"{merged.architecture} did not export faithfully: ONNX {name} differ "
                    f"from PyTorch by {diff:.2e} (> {PARITY_TOLERANCE}) on inputs of another "
                    "shape; the exporter traced shape-specific control flow. Try --exporter "
                    "dynamo"
                )
        merged.tokenizer.save_pretrained(str(tmp))
        if mode:
            texts = None
            if calibration_texts:
                from ..data.templates import render_inputs

                texts = render_inputs(clf.template, calibration_texts)
            quantize_onnx(
                model_file, mode, merged.tokenizer, clf.max_length, texts, problem_of(merged)
            )
        meta = _metadata(merged, adapter, opset, exporter, mode, diffs, first_token)
        write_json(tmp / META_FILE, meta)
        write_card(tmp, export_card(meta, name=portable_path(output) or "export"))
    log.info("exported %s to %s (%s)", adapter, output, mode or "fp32")
    return Path(output)


def _metadata(
    merged: MergedClassifier,
    adapter: Any,
    opset: int,
    exporter: str,
    mode: str | None,
    diffs: dict[str, float],
    first_token: bool,
) -> dict[str, Any]:
    from .. import __version__

    clf, tok = merged.classifier, merged.tokenizer
    meta = getattr(clf, "meta", {}) or {}
    return {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_VERSION,
        "model_file": MODEL_FILE,
        "id2label": {str(k): v for k, v in clf.id2label.items()},
        "labels": clf.labels,
        "problem": problem_of(merged).to_meta(),
        "outputs": [n for n in OUTPUT_NAMES if n in diffs],
        "input_template": clf.template,
        "max_length": int(clf.max_length),
        "architecture": merged.architecture,
        "model_type": merged.model_type,
        "padding_side": tok.padding_side,
        "pad_token_id": int(tok.pad_token_id),
        "empty_token_id": empty_token_id(tok),
        "inputs": ["input_ids", "attention_mask"],
        "virtual_tokens": merged.virtual_tokens,
        "opset": opset,
        "exporter": exporter,
        "quantization": mode,
        "parity_max_abs_diff_fp32": diffs["logits"],
        "parity_max_diff_scores_fp32": diffs.get("scores"),
        "first_token_last_layer": first_token,
        "source": {
            # the adapter as given when relative, else its name: no absolute path
            "adapter": portable_path(adapter),
            "method": merged.method,
            "base_model": getattr(clf, "base_model_name", None),
            "metrics": meta.get("metrics"),
        },
        # phalanx evaluate / classify read the training run's columns and splits from here
        "training": portable_config(meta.get("training")),
        "dataset": {
            k: v for k, v in (meta.get("dataset") or {}).items() if k in ("source", "columns")
        },
        "phalanx_version": __version__,
    }
