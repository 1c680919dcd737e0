"""--runtime: which runtime serves an adapter, the export cache, and what /v1/models shows."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from phalanx.errors import InputError
from phalanx.serve import ModelRegistry
from phalanx.serve.runtime import CACHE_DIR_NAME, SERVE_RECORD, cached_export
from tests.helpers import SENTENCES

pytest.importorskip("onnxruntime", reason="needs the export extra: pip install 'phalanx[export]'")


@pytest.fixture
def copies(adapters, tmp_path, monkeypatch) -> dict[str, Path]:
    """The adapters copied into a folder of their own (the cache is written beside them);
    the user cache points into the test's folder too."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    root = tmp_path / "runs"
    for name in ("pos", "topic"):
        shutil.copytree(adapters[name], root / name)
    return {name: root / name for name in ("pos", "topic")}


@pytest.fixture(scope="module")
def int8_pos(adapters, tmp_path_factory):
    """``pos`` copied and exported to int8 once for the module: (folder, first export)."""
    root = tmp_path_factory.mktemp("int8-runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(root / "user-cache"))
        shutil.copytree(adapters["pos"], root / "pos")
        return root / "pos", cached_export(root / "pos", "onnx-int8")


def _exports(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*") if (p / SERVE_RECORD).is_file())


def test_auto_serves_a_lone_adapter_as_int8_and_adapters_sharing_a_base_with_torch(
    copies, int8_pos
):
    folder, _ = int8_pos
    lone = ModelRegistry.load([str(folder)], runtime="auto")
    assert lone.get("pos").runtime == "onnx-int8"
    assert lone.get("pos").kind == "sparta" and lone.get("pos").path == str(folder)
    shared = ModelRegistry.load([str(copies["pos"]), str(copies["topic"])], runtime="auto")
    assert [m.runtime for m in shared.models.values()] == ["torch", "torch"]
    assert shared.get("pos").backend.model is shared.get("topic").backend.model  # one base
    assert all(m.exclusive for m in shared.models.values())  # they switch the shared base


def test_explicit_runtimes_are_served_as_asked(copies):
    reg = ModelRegistry.load([str(copies["pos"]), str(copies["topic"])], runtime="onnx")
    assert [m.runtime for m in reg.models.values()] == ["onnx", "onnx"]
    assert reg.get("pos").group != reg.get("topic").group  # an export holds its own base
    torch_reg = ModelRegistry.load([str(copies["pos"])], runtime="torch")
    assert torch_reg.get("pos").runtime == "torch"


def test_torch_and_onnx_runtimes_give_the_same_scores(copies):
    torch_model = ModelRegistry.load([str(copies["topic"])], runtime="torch").get("topic")
    onnx_model = ModelRegistry.load([str(copies["topic"])], runtime="onnx").get("topic")
    want = torch_model.classify(SENTENCES)
    np.testing.assert_allclose(onnx_model.classify(SENTENCES), want, atol=1e-4)
    # the batcher's path: tokenized first, then the forward on the ids
    ids = onnx_model.encode(SENTENCES)
    np.testing.assert_allclose(onnx_model.classify_ids(ids), want, atol=1e-4)
    np.testing.assert_allclose(torch_model.classify_ids(torch_model.encode(SENTENCES)), want)


def test_the_export_is_written_once_and_reused(int8_pos):
    folder, first = int8_pos
    assert not first.reused and first.path.parent == folder.parent / CACHE_DIR_NAME
    stamp = (first.path / "model.onnx").stat().st_mtime_ns
    again = cached_export(folder, "onnx-int8")
    assert again.reused and again.path == first.path
    assert (again.path / "model.onnx").stat().st_mtime_ns == stamp  # not exported again
    # the fp32 export made on the way is kept for --runtime onnx
    assert cached_export(folder, "onnx").reused
    assert len(_exports(folder.parent / CACHE_DIR_NAME)) == 2


def test_a_changed_adapter_is_exported_again(copies):
    first = cached_export(copies["pos"], "onnx")
    (copies["pos"] / "notes.txt").write_text("retrained")
    second = cached_export(copies["pos"], "onnx")
    assert not second.reused and second.path != first.path


def test_an_adapter_folder_that_cannot_hold_the_cache_uses_the_user_cache(copies, tmp_path):
    (copies["pos"].parent / CACHE_DIR_NAME).write_text("a file where the cache folder would go")
    cached = cached_export(copies["pos"], "onnx")
    assert cached.path.parent == tmp_path / "user-cache" / "phalanx" / "exports"
    assert cached_export(copies["pos"], "onnx").reused


def test_a_hub_snapshot_is_exported_into_the_user_cache(copies, tmp_path):
    snapshot = tmp_path / "hub" / "models--user--pos" / "snapshots" / "abc123"
    shutil.copytree(copies["pos"], snapshot)
    cached = cached_export(snapshot, "onnx")
    assert cached.path.parent == tmp_path / "user-cache" / "phalanx" / "exports"
    assert not (snapshot.parent / CACHE_DIR_NAME).exists()


def test_models_list_their_runtime_and_the_int8_agreement(int8_pos):
    folder, first = int8_pos
    reg = ModelRegistry.load([f"a={folder}"], runtime="onnx-int8")
    described = reg.get("a").describe()
    assert described["runtime"] == "onnx-int8" and described["int8_agreement"] == first.agreement
    assert 0.5 <= described["int8_agreement"] <= 1.0
    fp32 = ModelRegistry.load([str(folder)], runtime="torch").get("pos").describe()
    assert fp32["runtime"] == "torch" and "int8_agreement" not in fp32


def test_an_adapter_that_cannot_export(copies, monkeypatch, caplog):
    import phalanx.export

    def refuse(*args, **kwargs):
        raise ValueError("generative adapters score label texts and do not export")

    monkeypatch.setattr(phalanx.export, "export_onnx", refuse)
    with pytest.raises(InputError) as err:  # asked for: an error naming the model and fix
        ModelRegistry.load([f"mine={copies['pos']}"], runtime="onnx-int8")
    assert "model mine" in str(err.value) and "--runtime torch" in str(err.value)
    with caplog.at_level("WARNING"):  # auto: PyTorch, saying why
        reg = ModelRegistry.load([f"mine={copies['pos']}"], runtime="auto")
    assert reg.get("mine").runtime == "torch"
    assert "do not export" in caplog.text and "mine" in caplog.text
