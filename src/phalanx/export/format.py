"""The export folder: ``model.onnx``, tokenizer files and ``phalanx_export.json``.

The metadata carries what inference needs without the adapter: labels, the problem type
(``problem``: ``Problem.to_meta()``; absent in exports written before problem types, which
are single_label), template, max length, architecture, padding side, quantization, and a
format version that readers check. ``read_export_meta`` is its one reader: it checks every
field's type before use.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import InputError, first_line, shown
from ..folder import (
    EXPORT_FORMAT,
    EXPORT_META_FILE,
    LABELS_FIELD,
    Field,
    check_fields,
    check_id2label,
    is_dict,
    is_export,
    is_int,
    is_names,
    is_str,
)
from ..problems import Problem

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "META_FILE",
    "MODEL_FILE",
    "REEXPORT",
    "check_onnx",
    "export_info",
    "export_problem",
    "is_export",
    "read_export_meta",
]

EXPORT_VERSION = 1
"""Bumped when a reader of the old version would misread the folder."""
META_FILE = EXPORT_META_FILE
MODEL_FILE = "model.onnx"
REEXPORT = "export the adapter again (phalanx export ADAPTER --output DIR)"
"""The fix every message about a broken export folder ends with."""

_FIELDS: dict[str, Field] = {
    "format_version": (is_int(1), "an integer >= 1"),
    "model_file": (is_str, "a file name inside the export folder"),
    "labels": LABELS_FIELD,
    "max_length": (is_int(1), "an integer >= 1"),
    "pad_token_id": (is_int(0), "a token id (an integer >= 0)"),
    "empty_token_id": (is_int(0), "a token id (an integer >= 0)"),
    "padding_side": (lambda v: v in ("left", "right"), '"left" or "right"'),
    "input_template": (is_str, "a string"),
    "quantization": (is_str, "a string"),
    "virtual_tokens": (is_int(0), "an integer >= 0"),
    "inputs": (is_names, "a list of input names"),
    "source": (is_dict, "an object"),
    "training": (is_dict, "an object"),
    "dataset": (is_dict, "an object"),
    "problem": (is_dict, 'an object such as {"type": "multi_label", "thresholds": [0.5]}'),
}
_REQUIRED = ("id2label", "max_length", "pad_token_id", "empty_token_id", "padding_side")


def _raw_meta(path: Path) -> Any:
    """The parsed metadata of folder ``path``; InputError naming the file when it does not
    parse."""
    meta = path / META_FILE
    try:
        return json.loads(meta.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as err:  # bad UTF-8 / JSON, a 5,000-digit number
        why = "nested too deeply" if isinstance(err, RecursionError) else str(err)
        raise InputError(f"{meta} is not valid JSON ({why}); {REEXPORT}") from None


def read_export_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata of an export folder this phalanx can run, every field it uses checked;
    InputError naming the file, the field and the fix otherwise.

    ``model_file`` must name a file inside the folder; ``id2label`` maps "0".."n-1" to the
    labels (and agrees with ``labels``).
    """
    p = Path(path)
    if not p.is_dir():
        raise FileNotFoundError(f"export folder {p} does not exist")
    if not (p / META_FILE).is_file():
        raise FileNotFoundError(
            f"{p} is not a phalanx export folder (no {META_FILE}); "
            "create one with: phalanx export ADAPTER --output DIR"
        )
    file = p / META_FILE
    data = _raw_meta(p)
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        what = f"format {data.get('format')!r}" if isinstance(data, dict) else "no JSON object"
        raise InputError(f"{file} is not phalanx export metadata ({what}); {REEXPORT}")
    version = data.get("format_version")
    if version != EXPORT_VERSION:
        raise InputError(
            f"export folder {p} has format version {version!r} but this phalanx reads version "
            f"{EXPORT_VERSION}; export the adapter again with this phalanx "
            "(phalanx export ADAPTER --output DIR)"
        )
    check_fields(data, _FIELDS, file, REEXPORT, required=_REQUIRED)
    labels = check_id2label(data["id2label"], file, REEXPORT)
    if data.get("labels") is not None and data["labels"] != labels:
        raise InputError(f"{file}: labels {data['labels']} disagree with id2label; {REEXPORT}")
    export_problem(data, p)  # a malformed problem entry fails here, naming the file
    data.setdefault("model_file", MODEL_FILE)
    model = _inside(p, data["model_file"], file)
    if not model.is_file():
        raise FileNotFoundError(f"export folder {p} lacks {data['model_file']}; {REEXPORT}")
    return data


def export_problem(meta: dict[str, Any], path: str | os.PathLike) -> Problem:
    """The problem type of an export (its ``problem`` entry; single_label when it has none),
    checked against its labels; InputError naming the file and the fix otherwise."""
    file = Path(path) / META_FILE
    try:
        problem = Problem.from_meta(meta)
        labels = meta.get("labels") or list((meta.get("id2label") or {}).values())
        if problem.type == "multi_label":
            problem.threshold_vector(len(labels))  # one threshold, or one per label
    except InputError as err:
        raise InputError(f"{file}: {err}; {REEXPORT}") from None
    if problem.type == "regression" and len(labels) != 1:
        raise InputError(
            f"{file}: a regression export has one output (one label, the target), but its "
            f"labels are {shown(labels)}; {REEXPORT}"
        )
    return problem


def _inside(folder: Path, name: str, file: Path) -> Path:
    """``folder / name`` when it stays inside ``folder`` (links and ``..`` resolved; in a
    Hugging Face cache snapshot, a link into the repo's own ``blobs/`` is inside)."""
    target = folder / name
    root = folder.resolve()
    inside = target.resolve().is_relative_to(root)
    if not inside and root.parent.name == "snapshots":  # models--org--name/snapshots/<commit>
        lexical = os.path.normpath(target).startswith(os.path.normpath(folder) + os.sep)
        inside = lexical and target.resolve().is_relative_to(root.parent.parent / "blobs")
    if Path(name).is_absolute() or not inside:
        raise InputError(
            f"{file}: model_file {name!r} points outside the export folder {folder}; an "
            f"export's files stay inside it: {REEXPORT}"
        )
    return target


def check_onnx(path: str | os.PathLike, meta: dict[str, Any]) -> None:
    """The export's graph parses and has a ``logits`` output (skipped without onnx); exports
    since problem types also have ``scores`` (older ones do not, and still run)."""
    try:
        import onnx
    except ImportError:
        return
    file = Path(path) / meta["model_file"]
    try:
        graph = onnx.load(str(file), load_external_data=False).graph
    except Exception as err:  # protobuf's DecodeError and friends
        raise InputError(
            f"{file} is not an ONNX model ({first_line(err)}): it was cut short or garbled; "
            f"{REEXPORT}"
        ) from None
    if "logits" not in [o.name for o in graph.output]:
        raise InputError(f"{file} has no logits output: it was cut short or garbled; {REEXPORT}")


def export_info(path: str | os.PathLike) -> dict[str, Any]:
    """What ``phalanx info`` shows for an export folder (its metadata and graph checked):
    the runtime, quantization, labels, template, source adapter, training data and size."""
    from ..folder import saved_columns

    p = Path(path)
    meta = read_export_meta(p)
    check_onnx(p, meta)
    source = meta.get("source") or {}
    dataset = meta.get("dataset") or {}
    return {
        "kind": "export",
        "adapter": str(p),
        "runtime": "onnxruntime (CPU)",
        "quantization": meta.get("quantization") or "fp32",
        "source_adapter": source.get("adapter"),
        "method": f"ONNX export of {source.get('method') or 'an adapter'} "
        f"({meta.get('quantization') or 'fp32'})",
        "base_model": source.get("base_model"),
        "model_type": meta.get("model_type"),
        "trainable_parameters": None,
        "labels": check_id2label(meta["id2label"], p / META_FILE, REEXPORT),
        "problem": export_problem(meta, p).to_meta(),
        "input_template": meta.get("input_template"),
        "max_length": meta["max_length"],
        "size_bytes": sum(f.stat().st_size for f in p.rglob("*") if f.is_file()),
        "method_config": None,
        "metrics": source.get("metrics") or {},
        "dataset": dataset.get("source") or (meta.get("training") or {}).get("dataset"),
        "columns": saved_columns(meta),
        "opset": meta.get("opset"),
        "phalanx_version": meta.get("phalanx_version"),
    }
