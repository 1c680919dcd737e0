"""Which runtime serves an adapter folder, and the export cache behind ``--runtime onnx*``.

``phalanx serve ADAPTER --runtime onnx-int8`` exports the adapter once (``export_onnx``,
then ``quantize_export``: what ``phalanx export --quantize int8`` writes) into a cache
folder and serves that export from then on. The cache sits next to the adapter folder
(``<parent>/.phalanx-cache/<name>-<runtime>-<fingerprint>``), or in the user cache
(``$XDG_CACHE_HOME/phalanx/exports``, default ``~/.cache/phalanx/exports``) when that
folder is not writable or is a Hub snapshot. The fingerprint hashes the adapter's files and
the export options, so an adapter that changes (or another phalanx) gets a new export.

An int8 export also records its agreement with the fp32 export: the share of held-out texts
(the adapter's training data when it records it, else random vocabulary words) whose
decision is the same, as ``benchmarks/int8_agreement.py`` measures it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CACHE_DIR_NAME",
    "SERVE_RECORD",
    "CachedExport",
    "adapter_fingerprint",
    "cached_export",
    "choose_runtime",
    "user_cache_dir",
]

log = logging.getLogger(__name__)

CACHE_DIR_NAME = ".phalanx-cache"
"""The folder created beside an adapter folder to hold its exports."""
SERVE_RECORD = "phalanx_serve.json"
"""Written into each cached export: the fingerprint, options and int8 agreement."""
OPSET = 17
AGREEMENT_TEXTS = 256
"""Held-out texts the int8 / fp32 agreement is measured on."""


@dataclass(frozen=True)
class CachedExport:
    """An export folder in the cache and what the serve record says about it."""

    path: Path
    runtime: str
    agreement: float | None
    """int8 only: the share (0-1) of held-out texts whose decision equals fp32's."""
    agreement_texts: int | None
    reused: bool
    """False when this call wrote the export, True when an earlier one did."""


def choose_runtime(requested: str, group_size: int) -> str:
    """The runtime for one adapter: ``requested`` unless it is ``auto``, which picks int8
    ONNX for an adapter alone on its base and PyTorch for adapters sharing one (they batch
    mixed on one copy of the base; an export would copy the base per adapter).

    >>> choose_runtime("auto", 1), choose_runtime("auto", 3), choose_runtime("onnx", 3)
    ('onnx-int8', 'torch', 'onnx')
    """
    if requested != "auto":
        return requested
    return "onnx-int8" if group_size <= 1 else "torch"


def adapter_fingerprint(folder: Path, options: dict[str, Any]) -> str:
    """sha256 of the adapter's files (names and contents) and the export ``options``."""
    h = hashlib.sha256(json.dumps(options, sort_keys=True).encode())
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = f.relative_to(folder)
        if rel.parts[0].startswith("."):  # .cache, .git: not the adapter
            continue
        h.update(str(rel).encode() + b"\0")
        with open(f, "rb") as fh:
            h.update(hashlib.file_digest(fh, "sha256").digest())
    return h.hexdigest()


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/phalanx/exports`` (default ``~/.cache/phalanx/exports``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "phalanx" / "exports"


def _is_hub_snapshot(folder: Path) -> bool:
    parts = folder.resolve().parts
    return any(
        p == "snapshots" and i > 0 and parts[i - 1].startswith("models--")
        for i, p in enumerate(parts)
    )


def _cache_roots(folder: Path) -> list[Path]:
    """Where exports of ``folder`` may live, first choice first."""
    roots = [] if _is_hub_snapshot(folder) else [folder.resolve().parent / CACHE_DIR_NAME]
    return [*roots, user_cache_dir()]


def _writable_root(folder: Path) -> Path:
    for root in _cache_roots(folder):
        try:
            root.mkdir(parents=True, exist_ok=True)
            probe = tempfile.mkdtemp(prefix=".probe-", dir=root)
            os.rmdir(probe)
            return root
        except OSError as err:
            log.info("cannot write exports into %s (%s); trying the next cache", root, err)
    raise PermissionError(
        f"no cache folder is writable for exports of {folder}: tried "
        f"{', '.join(map(str, _cache_roots(folder)))}; set XDG_CACHE_HOME to a writable folder "
        "or export it yourself (phalanx export ADAPTER --output DIR) and serve that"
    )


def _entry_name(folder: Path, runtime: str, fingerprint: str) -> str:
    return f"{folder.resolve().name}-{runtime}-{fingerprint[:16]}"


def _read_record(path: Path, fingerprint: str) -> dict[str, Any] | None:
    try:
        record = json.loads((path / SERVE_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("fingerprint") == fingerprint else None


def _options(runtime: str) -> dict[str, Any]:
    from .. import __version__
    from ..export.format import EXPORT_VERSION

    quantize = "int8-token" if runtime == "onnx-int8" else None
    return {
        "runtime": runtime,
        "quantize": quantize,
        "opset": OPSET,
        "export_version": EXPORT_VERSION,
        "phalanx": __version__,
    }


def cached_export(folder: Path, runtime: str) -> CachedExport:
    """The export of adapter ``folder`` for ``runtime`` (onnx or onnx-int8), from the cache
    or written into it now; raises what the export raises when the adapter cannot export."""
    if runtime not in ("onnx", "onnx-int8"):
        raise ValueError(f"cached_export needs runtime onnx or onnx-int8, got {runtime!r}")
    prints = {rt: adapter_fingerprint(folder, _options(rt)) for rt in ("onnx", "onnx-int8")}
    for root in _cache_roots(folder):
        path = root / _entry_name(folder, runtime, prints[runtime])
        record = _read_record(path, prints[runtime])
        if record is not None:
            log.info("serving the cached %s export of %s: %s", runtime, folder, path)
            return _cached(path, runtime, record, reused=True)
    root = _writable_root(folder)
    log.info("exporting %s to %s once (%s); later starts reuse it", folder, root, runtime)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=root) as work:
        staged = _export(folder, Path(work), runtime)
        out = None
        for rt, stage in staged.items():  # the fp32 export is kept too: --runtime onnx
            record = {"fingerprint": prints[rt], "adapter": str(folder.resolve()), **stage[1]}
            (stage[0] / SERVE_RECORD).write_text(json.dumps(record, indent=2), encoding="utf-8")
            final = root / _entry_name(folder, rt, prints[rt])
            if _read_record(final, prints[rt]) is None:
                shutil.rmtree(final, ignore_errors=True)  # a broken earlier attempt
                # another server may have written it meanwhile: theirs is as good
                with contextlib.suppress(OSError):
                    os.replace(stage[0], final)
            if rt == runtime:
                out = _cached(final, rt, record, reused=False)
    assert out is not None  # _export always stages the runtime asked for
    return out


def _cached(path: Path, runtime: str, record: dict[str, Any], reused: bool) -> CachedExport:
    agreement = record.get("agreement")
    return CachedExport(
        path,
        runtime,
        float(agreement) if isinstance(agreement, (int, float)) else None,
        record.get("agreement_texts"),
        reused,
    )


def _export(folder: Path, work: Path, runtime: str) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Export ``folder`` under ``work``: the fp32 export, and for onnx-int8 its int8 copy
    with the agreement of the two; runtime -> (folder, record fields)."""
    from ..export import export_onnx, quantize_export

    fp32 = export_onnx(folder, work / "onnx", opset=OPSET)
    staged: dict[str, tuple[Path, dict[str, Any]]] = {"onnx": (fp32, {"runtime": "onnx"})}
    if runtime == "onnx-int8":
        calibrate, held_out = _texts(folder, fp32)
        int8 = quantize_export(fp32, work / "onnx-int8", "int8", calibrate)
        agreement = decision_agreement(fp32, int8, held_out)
        log.info("int8 export of %s agrees with fp32 on %.2f%% of %d texts", folder,
                 100 * agreement, len(held_out))  # fmt: skip
        staged["onnx-int8"] = (
            int8,
            {"runtime": "onnx-int8", "agreement": agreement, "agreement_texts": len(held_out)},
        )
    return staged


def _texts(folder: Path, export: Path) -> tuple[list[Any] | None, list[Any]]:
    """(calibration texts or None, held-out texts for the agreement): the training data's,
    as ``phalanx export`` calibrates, else random vocabulary words."""
    from ..export.calibration import CALIBRATION_SIZE, calibration_texts

    try:
        texts = calibration_texts(folder, None, CALIBRATION_SIZE + AGREEMENT_TEXTS)
    except Exception as err:  # a dataset that moved, no network: calibrate on random words
        log.info("the training data of %s is unavailable (%s); using random words", folder, err)
        texts = None
    if texts and len(texts) > CALIBRATION_SIZE:
        return texts[:CALIBRATION_SIZE], texts[CALIBRATION_SIZE:]
    from transformers import AutoTokenizer

    from ..export.pertoken import synthetic_texts

    tok = AutoTokenizer.from_pretrained(str(export))  # the export holds the tokenizer
    return texts, synthetic_texts(tok, n=AGREEMENT_TEXTS, seed=7)


def decision_agreement(fp32: Path, int8: Path, texts: list[Any]) -> float:
    """The share of ``texts`` whose decision (top label; multi-label: the label set;
    regression: the value within 1% of its range) is the same from both exports."""
    from ..export import Pipeline

    a = Pipeline.create(model_path=str(fp32), num_threads=1)
    b = Pipeline.create(model_path=str(int8), num_threads=1)
    sa, sb = a.classify(texts), b.classify(texts)
    kind = a.problem.type
    if kind == "multi_label":
        th = np.asarray(a.problem.threshold_vector(len(a.labels)))
        same = ((sa >= th) == (sb >= th)).all(axis=1)
    elif kind == "regression":
        spread = max(float(np.ptp(sa)), 1e-6)
        same = np.abs(sa - sb)[:, 0] <= 0.01 * spread
    else:
        same = sa.argmax(-1) == sb.argmax(-1)
    return float(np.mean(same)) if len(same) else 1.0
