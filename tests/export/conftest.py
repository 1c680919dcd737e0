"""Adapters on tiny random models, with non-zero adapter weights, and their exports."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

if not all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime")):
    collect_ignore_glob = ["test_*.py"]  # without the export extra: pip install 'phalanx[export]'

OPTIONS = {
    "sparta": {"density": 0.1},
    "lora": {"r": 4},
    "ia3": {},
    "ptuning": {"num_virtual_tokens": 4, "encoder_hidden_size": 16},
    "prompt_tuning": {"num_virtual_tokens": 4},
    "head": {},
    "full": {},
}
ID2LABEL = {0: "negative", 1: "positive"}


def build_adapter(base: Path, method_name: str, out: Path, meta: dict | None = None) -> Path:
    """Save an adapter whose trainable weights moved away from their init (not a no-op)."""
    from phalanx import get_method
    from phalanx.loading import load_base_classifier

    method = get_method(method_name)
    model = load_base_classifier(str(base), ID2LABEL)
    wrapped = method.apply(model, method.config_cls.from_dict(OPTIONS[method_name]))
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in wrapped.parameters():
            if p.requires_grad:
                p.add_(0.2 * torch.randn(p.shape, generator=gen).to(p.dtype))
    method.save(wrapped, out, base_model=str(base), meta={"max_length": 64, **(meta or {})})
    return out


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
