"""Serving export folders: one ONNX Runtime session per worker, and adapters served from
the export cache (``runtime.py``) when ``--runtime`` asks for ONNX.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ..errors import InputError, first_line
from ..problems import Problem
from .runners import OnnxRunner, onnx_session
from .served import ServedModel

__all__ = ["load_cached", "load_export", "runtime_for"]

log = logging.getLogger(__name__)


def runtime_for(requested: str, group_size: int, device: str) -> str:
    from .runtime import choose_runtime

    if requested == "auto" and device != "cpu":
        return "torch"  # the exports run on ONNX Runtime's CPU provider
    return choose_runtime(requested, group_size)


def load_cached(
    name: str, folder: Path, chosen: str, requested: str, onnx: dict[str, Any]
) -> ServedModel | None:
    """The adapter served from its cached export; None (PyTorch) when it cannot export
    under ``auto``; an InputError naming the model and the fix under an explicit runtime."""
    from .runtime import cached_export

    try:
        cached = cached_export(folder, chosen)
        model = load_export(name, cached.path, **onnx)
    except Exception as err:  # export refusals: ValueError, ImportError, OSError, ...
        why = f"{type(err).__name__}: {first_line(err)}"
        if requested == "auto":
            log.warning("%s: serving with PyTorch, as %s cannot be served: %s", name, chosen, why)
            return None
        raise InputError(
            f"model {name} ({folder}) cannot be served with --runtime {chosen}: {why}; serve "
            "it with --runtime torch (or auto, which falls back to PyTorch)"
        ) from err
    from ..folder import read_meta
    from ..registry import method_for_folder

    model.path, model.kind = str(folder), method_for_folder(folder, read_meta(folder)).name
    model.agreement = cached.agreement if chosen == "onnx-int8" else None
    return model


def load_export(
    name: str,
    path: Path,
    batch_size: int,
    workers: int = 1,
    threads: int | None = None,
    spinning: bool = False,
) -> ServedModel:
    """An export folder on ``workers`` ONNX Runtime sessions of ``threads`` threads each."""
    from ..export import Pipeline, read_export_meta
    from .runtime import SERVE_RECORD

    pipe = Pipeline.create(
        task="text-classification", model_path=str(path), batch_size=batch_size, num_threads=1
    )
    meta = read_export_meta(path)
    n = threads or 0  # 0: ONNX Runtime's default (one per core)
    sessions = [onnx_session(path, meta["model_file"], n, spinning) for _ in range(workers)]
    pipe._run = lambda batch: sessions[0].run(["logits"], batch)[0]  # drops its own session
    problem = getattr(pipe, "problem", None) or Problem()  # from the export's metadata
    runtime = "onnx-int8" if meta.get("quantization") else "onnx"
    try:  # a cached export records its int8 agreement; one made by phalanx export does not
        agreement = json.loads((path / SERVE_RECORD).read_text(encoding="utf-8"))["agreement"]
    except (OSError, ValueError, KeyError, TypeError):
        agreement = None
    return ServedModel(
        name,
        str(path),
        "export",
        list(pipe.labels),
        pipe.template,
        f"export:{name}",
        pipe,
        problem,
        runtime=runtime,
        agreement=agreement if isinstance(agreement, (int, float)) else None,
        export_path=str(path),
        runner=OnnxRunner(pipe, sessions),
    )
