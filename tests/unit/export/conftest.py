"""Adapters on tiny random models, with non-zero adapter weights, and their exports."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.helpers import build_adapter

if not all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime")):
    collect_ignore_glob = ["test_*.py"]  # without the export extra: pip install 'phalanx[export]'


@pytest.fixture(scope="session")
def adapter_and_export(tiny_base, tmp_path_factory):
    """``(arch, method) -> (adapter folder, fp32 export folder)``, built once per session."""
    from phalanx.export import export_onnx

    cache: dict[tuple[str, str], tuple[Path, Path]] = {}

    def make(arch: str, method_name: str) -> tuple[Path, Path]:
        key = (arch, method_name)
        if key not in cache:
            root = tmp_path_factory.mktemp(f"export-{arch}-{method_name}")
            adapter = build_adapter(tiny_base(arch), method_name, root / "adapter")
            cache[key] = (adapter, export_onnx(adapter, root / "onnx"))
        return cache[key]

    return make
