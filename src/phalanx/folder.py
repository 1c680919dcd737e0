"""The adapter-folder contract: finding, describing and atomically writing adapter folders."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["adapter_info", "atomic_folder", "resolve_adapter", "write_json"]


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces ``path`` in one rename.

    Example:
        >>> with atomic_folder("out/adapter") as tmp:  # doctest: +SKIP
        ...     (tmp / "config.json").write_text("{}")
    """
    final = Path(path)
    if final.exists() and not final.is_dir():
        raise FileExistsError(f"{final} exists and is not a folder")
    if final.is_dir() and any(final.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{final} exists and is not empty; choose another folder or pass overwrite=True "
            "(--overwrite on the command line)"
        )
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
        old = None
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_json(path: str | os.PathLike, data: Any) -> None:
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def resolve_adapter(path: str | None) -> Path:
    """An adapter folder, or a run folder holding ``adapter/``."""
    if not path:
        raise ValueError("give the adapter folder (e.g. runs/NAME/adapter)")
    p = Path(path).expanduser()
    if not p.is_dir():
        raise FileNotFoundError(f"adapter folder {path!r} does not exist")
    if not any((p / f).is_file() for f in ("phalanx.json", "config.json", "adapter_config.json")):
        if (p / "adapter").is_dir():
            return p / "adapter"
        if (p / "checkpoints").is_dir():
            raise ValueError(
                f"{path!r} is a run folder without a finished adapter (training did not "
                "complete); continue it with: phalanx train --output "
                f"{path} --resume"
            )
        raise ValueError(f"{path!r} holds no adapter (no phalanx.json / config.json)")
    return p


def adapter_info(path: Path) -> dict[str, Any]:
    """What ``phalanx info`` shows, read from the folder's JSON files only."""
    from .registry import method_for_folder

    method = method_for_folder(path)
    meta = (
        json.loads((path / "phalanx.json").read_text()) if (path / "phalanx.json").is_file() else {}
    )
    config = (
        json.loads((path / "config.json").read_text()) if (path / "config.json").is_file() else {}
    )
    labels = meta.get("labels") or [
        config["id2label"][k] for k in sorted(config.get("id2label", {}), key=int)
    ]
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return {
        "adapter": str(path),
        "method": method.name,
        "base_model": meta.get("base_model")
        or config.get("sparta_pretrained_model")
        or config.get("_name_or_path"),
        "model_type": meta.get("model_type") or config.get("model_type"),
        "trainable_parameters": meta.get("trainable_parameters"),
        "labels": labels,
        "input_template": meta.get("input_template"),
        "max_length": meta.get("max_length"),
        "size_bytes": size,
        "method_config": meta.get("method_config"),
        "metrics": meta.get("metrics", {}),
        "dataset": meta.get("dataset", {}).get("source"),
    }
