"""What a path given for a model is (adapter, run or export folder), and what it holds."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import InputError
from .checks import read_config, read_meta, tensor_header
from .meta import base_model_of, is_export, labels_of
from .names import CONFIG_FILE, EXPORT_META_FILE, META_FILE, PEFT_CONFIG_FILE

__all__ = ["ModelFolder", "adapter_info", "resolve_adapter", "resolve_folder", "saved_columns"]


@dataclass(frozen=True)
class ModelFolder:
    """What a path given for a model turned out to be (``resolve_folder``)."""

    kind: Literal["adapter", "export"]
    path: Path
    """The folder to read: the adapter folder (a run folder's ``adapter/``) or the export."""
    run: Path | None = None
    """The run folder the adapter was found in, when the path was one."""


def resolve_folder(
    path: str | os.PathLike | None,
    *,
    exports: bool = True,
    command: str = "",
    revision: str | None = None,
) -> ModelFolder:
    """What ``path`` is: an adapter folder, a run folder holding ``adapter/`` (its adapter),
    or, when ``exports``, an export folder.

    ``path`` may also be a Hugging Face Hub repo id (``user/repo``) that is not a local path:
    its snapshot at ``revision`` (default: main) is downloaded into the Hub cache and read
    like a local folder (``phalanx.hub.hub_folder``; a local path of the same spelling wins).
    A run whose training did not finish says how to resume it; an export where only an
    adapter will do (``exports=False``) names the adapter it came from. ``command`` names
    the command in those messages (``"phalanx export"``).
    """
    from ..hub import hub_folder, hub_revision_error

    if path is None or not str(path):
        kinds = "an adapter, run or export folder" if exports else "an adapter or run folder"
        raise InputError(f"give the model: {kinds} (e.g. runs/NAME or runs/NAME/adapter)")
    p = Path(path).expanduser()
    shown = repr(str(path))
    if p.is_dir():
        if revision is not None:
            raise hub_revision_error(path, revision)
    else:
        snapshot = None if p.exists() else hub_folder(str(path), revision)
        if snapshot is None:
            raise FileNotFoundError(f"model folder {str(path)!r} does not exist")
        p, shown = snapshot, f"the Hub repo {str(path)!r}"
        if revision:
            shown += f" at revision {revision!r}"
    if is_export(p):
        if not exports:
            raise InputError(_export_not_adapter(p, command))
        return ModelFolder("export", p)
    if any((p / f).is_file() for f in (META_FILE, CONFIG_FILE, PEFT_CONFIG_FILE)):
        return ModelFolder("adapter", p)
    if (p / "adapter").is_dir():
        return ModelFolder("adapter", resolve_folder(p / "adapter", exports=False).path, p)
    if (p / "checkpoints").is_dir():
        saved = p / "checkpoints" / "train_config.yaml"  # what train writes before it starts
        how = (
            f"phalanx train --config {saved} --resume"
            if saved.is_file()
            else f"phalanx train --output {path} --resume (with the run's other options)"
        )
        raise InputError(
            f"{shown} is a run folder without a finished adapter (training did not "
            f"complete); continue it with: {how}"
        )
    raise InputError(
        f"{shown} holds no adapter (no {META_FILE} / {CONFIG_FILE}), no run (no "
        f"adapter/ folder) and no export (no {EXPORT_META_FILE})"
    )


def _export_not_adapter(path: Path, command: str) -> str:
    """Why an export folder cannot stand in for an adapter, naming the adapter it came from."""
    try:
        source = json.loads((path / EXPORT_META_FILE).read_text(encoding="utf-8"))["source"]
        origin = f" ({source['adapter']})" if isinstance(source.get("adapter"), str) else ""
    except (OSError, ValueError, RecursionError, KeyError, TypeError, AttributeError):
        origin = ""
    what = command or "this"
    return (
        f"{path} is an ONNX export folder; {what} needs the adapter or run folder it was "
        f"exported from{origin}"
    )


def resolve_adapter(
    path: str | os.PathLike | None, command: str = "", *, revision: str | None = None
) -> Path:
    """An adapter folder, or a run folder's ``adapter/`` (``resolve_folder`` without
    exports; a Hub repo id too, at ``revision``)."""
    return resolve_folder(path, exports=False, command=command, revision=revision).path


def saved_columns(meta: Mapping[str, Any]) -> dict[str, str | None]:
    """The text / text_pair / label columns of the run that trained a model, from its
    ``phalanx.json`` or an export's metadata (``dataset.columns``, else the resolved training
    config's ``*_column``); None where nothing is recorded.

    >>> saved_columns({"dataset": {"columns": {"text": "review", "label": "stars"}}})
    {'text': 'review', 'text_pair': None, 'label': 'stars'}
    """
    dataset = meta.get("dataset")
    columns = dataset.get("columns") if isinstance(dataset, dict) else None
    training = meta.get("training") if isinstance(meta.get("training"), dict) else {}
    out: dict[str, str | None] = {}
    for key in ("text", "text_pair", "label"):
        if isinstance(columns, dict) and (key in columns or key == "text_pair"):
            value = columns.get(key)
        else:
            value = training.get(f"{key}_column")
        out[key] = value if isinstance(value, str) and value else None
    return out


def adapter_info(path: Path) -> dict[str, Any]:
    """What ``phalanx info`` shows, read from the folder's JSON files only."""
    from ..registry import method_for_folder

    meta = read_meta(path)
    config = read_config(path)
    method = method_for_folder(path, meta)
    for weights in sorted(path.glob("*.safetensors")):
        tensor_header(weights)  # a cut-short or garbled file is named here already
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return {
        "kind": "adapter",
        "adapter": str(path),
        "method": method.name,
        "base_model": base_model_of(path, meta, config),
        "model_type": meta.get("model_type") or config.get("model_type"),
        "trainable_parameters": meta.get("trainable_parameters"),
        "labels": labels_of(path, meta, config) or [],
        "problem": _problem_entry(meta, config),
        "input_template": meta.get("input_template"),
        "max_length": meta.get("max_length"),
        "size_bytes": size,
        "method_config": meta.get("method_config"),
        "metrics": meta.get("metrics", {}),
        "dataset": meta.get("dataset", {}).get("source"),
        "columns": saved_columns(meta),
    }


def _problem_entry(meta: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """The folder's problem (type, thresholds, target scale) as ``phalanx.json`` records it."""
    from ..problems import Problem

    return Problem.from_meta(meta, config).to_meta()
