"""Every command and API that takes a model takes an adapter folder, a run folder (holding
``adapter/``) or an export folder where that makes sense, as ``phalanx.folder.resolve_folder``
decides; folders phalanx writes get the user's umask (issue 19, point 9)."""

from __future__ import annotations

import importlib.util
import json
import os
import stat
from pathlib import Path

import pytest
import torch

from phalanx import load_classifier
from phalanx.cli.parser import main
from phalanx.errors import InputError
from phalanx.folder import atomic_folder, created_mode, resolve_adapter, resolve_folder
from tests.helpers import build_adapter, config, write_toy_csv

if not all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime")):
    pytest.skip("the export extra is not installed", allow_module_level=True)

TEXTS = ["the movie was good and fun", "the movie was bleak and dull"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def folders(tiny_base, tmp_path_factory) -> dict[str, Path]:
    """A run folder holding a SpaRTA adapter, the adapter itself and its fp32 export."""
    from phalanx.export import export_onnx

    root = tmp_path_factory.mktemp("kinds")
    adapter = build_adapter(tiny_base("bert"), "sparta", root / "run" / "adapter")
    export = export_onnx(adapter, root / "onnx")
    return {"adapter": adapter, "run": root / "run", "export": export, "root": root}


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------------------- the resolver


def test_resolve_folder_tells_adapter_run_and_export_apart(folders, tmp_path):
    adapter, run_dir, export = folders["adapter"], folders["run"], folders["export"]
    assert resolve_folder(adapter) == resolve_folder(str(adapter))
    assert (resolve_folder(adapter).kind, resolve_folder(adapter).run) == ("adapter", None)
    found = resolve_folder(run_dir)
    assert (found.kind, found.path, found.run) == ("adapter", adapter, run_dir)
    assert resolve_folder(export).kind == "export" and resolve_folder(export).path == export
    assert resolve_adapter(run_dir) == adapter
    # the export names its source by its run and folder name, never by an absolute path
    with pytest.raises(
        InputError, match=r"is an ONNX export folder; phalanx export needs .*\(run/adapter\)"
    ):
        resolve_adapter(export, "phalanx export")
    unfinished = tmp_path / "unfinished"
    (unfinished / "checkpoints").mkdir(parents=True)
    (unfinished / "checkpoints" / "train_config.yaml").write_text("epochs: 1\n")
    with pytest.raises(InputError, match="without a finished adapter") as err:
        resolve_folder(unfinished)
    assert f"phalanx train --config {unfinished}/checkpoints/train_config.yaml --resume" in str(
        err.value
    )
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"holds no adapter .* no run .* no export"):
        resolve_folder(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_folder(tmp_path / "missing")
    with pytest.raises(InputError, match="give the model"):
        resolve_folder(None)


# ----------------------------------------------------------------------------- Python API


def test_load_classifier_and_pipeline_take_every_kind(folders):
    from phalanx import SpaRTAforSequenceClassification
    from phalanx.export import Pipeline
    from phalanx.export.classifier import ExportClassifier

    want = load_classifier(folders["adapter"]).classify(TEXTS)
    for kind in ("adapter", "run", "export"):
        clf = load_classifier(folders[kind])
        assert isinstance(clf, ExportClassifier) == (kind == "export")
        torch.testing.assert_close(clf.classify(TEXTS), want, atol=1e-3, rtol=0)
        pipe = Pipeline.create(model_path=folders[kind])
        assert pipe.backend == ("onnxruntime" if kind == "export" else "pytorch")
        assert pipe(TEXTS[0])["label"] == clf.decide_class(TEXTS[:1])[0]
    assert SpaRTAforSequenceClassification(folders["run"]).adapter == str(folders["adapter"])
    with pytest.raises(InputError, match="runs on cpu"):
        load_classifier(folders["export"], device="cuda")
    with pytest.raises(InputError, match="dtype do not apply"):
        load_classifier(folders["export"], dtype="bfloat16")


def test_serve_loads_run_and_export_folders(folders):
    from phalanx.serve.models import ModelRegistry

    reg = ModelRegistry.load([str(folders["run"]), f"fast={folders['export']}"])
    assert reg.get("run").path == str(folders["adapter"]) and reg.get("run").kind == "sparta"
    assert reg.get("fast").kind == "export"


# ----------------------------------------------------------------------------- CLI


def test_info_describes_an_export_folder(folders, capsys):
    code, out, err = run(capsys, "info", folders["export"])
    assert code == 0, err
    for line in ("runtime:", "onnxruntime", "quantization:", "fp32", "labels:",
                 "negative, positive", "input template:", "size on disk:"):  # fmt: skip
        assert line in out
    assert "source adapter" in out and "run/adapter" in out
    info = json.loads(run(capsys, "info", folders["export"], "--json")[1])
    assert info["kind"] == "export" and info["quantization"] == "fp32"
    assert info["source_adapter"] == "run/adapter" and info["size_bytes"] > 0
    assert json.loads(run(capsys, "info", folders["run"], "--json")[1])["kind"] == "adapter"


def test_classify_and_evaluate_take_every_kind(folders, capsys, tmp_path):
    data = write_toy_csv(tmp_path / "toy.csv", n=12)
    for kind in ("adapter", "run", "export"):
        code, out, err = run(capsys, "classify", folders[kind], *TEXTS, "--json")
        assert code == 0 and len(out.splitlines()) == 2, err
        target = tmp_path / f"{kind}.json"
        code, _, err = run(capsys, "evaluate", folders[kind], "--dataset", data,
                           "--output", target)  # fmt: skip
        assert code == 0, err
        assert json.loads(target.read_text())["n"] == 12


def test_export_takes_a_run_folder_and_refuses_an_export_as_its_source(folders, capsys, tmp_path):
    code, _, err = run(capsys, "export", folders["run"], "-o", tmp_path / "onnx")
    assert code == 0, err
    meta = json.loads((tmp_path / "onnx" / "phalanx_export.json").read_text())
    assert meta["source"]["adapter"] == "run/adapter"  # its run's name and adapter/
    code, _, err = run(capsys, "export", folders["export"], "-o", tmp_path / "again")
    assert code == 2 and "exported from (run/adapter)" in err


# ----------------------------------------------------------------------------- umask


@pytest.fixture(params=[0o022, 0o077], ids=["umask022", "umask077"])
def umask(request):
    before = os.umask(request.param)
    yield request.param
    os.umask(before)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _modes_follow_the_umask(folder: Path, mask: int) -> None:
    assert _mode(folder) == 0o777 & ~mask, folder
    for path in folder.rglob("*"):
        assert _mode(path) == (0o777 if path.is_dir() else 0o666) & ~mask, path


def test_folders_and_files_get_the_users_umask(umask, tiny_base, folders, capsys, tmp_path):
    from phalanx.export import export_onnx

    assert created_mode() == 0o777 & ~umask and created_mode(False) == 0o666 & ~umask
    with atomic_folder(tmp_path / "plain") as tmp:
        (tmp / "a.txt").write_text("x")
    _modes_follow_the_umask(tmp_path / "plain", umask)
    adapter = build_adapter(tiny_base("bert"), "lora", tmp_path / "adapter")
    _modes_follow_the_umask(adapter, umask)
    _modes_follow_the_umask(export_onnx(adapter, tmp_path / "onnx"), umask)
    target = tmp_path / "out" / "eval.json"
    data = write_toy_csv(tmp_path / "toy.csv", n=12)
    code, _, err = run(capsys, "evaluate", adapter, "--dataset", data, "--output", target)
    assert code == 0, err
    _modes_follow_the_umask(tmp_path / "out", umask)
    predictions = tmp_path / "pred" / "p.csv"
    code, _, err = run(capsys, "classify", folders["export"], "--input", data,
                       "--output", predictions)  # fmt: skip
    assert code == 0, err
    _modes_follow_the_umask(tmp_path / "pred", umask)
    # a training run: its adapter, checkpoints (safetensors writes 0600), config and metrics
    from phalanx.training import train

    train(config(tiny_base("bert"), data, tmp_path / "run", epochs=1, batch_size=4))
    assert (tmp_path / "run" / "checkpoints").is_dir()
    _modes_follow_the_umask(tmp_path / "run", umask)
