"""No file of a saved folder names the output directory by its absolute path.

A tiny run trains into ``tmp_path/out`` (given absolute, as a script would give it), is
exported (fp32, then int8 from the fp32 export) and compressed; every file of the run folder
(adapter, checkpoints, configs, metrics, cards), of the exports and of the compress output is
read as bytes and searched for ``str(tmp_path)`` and the output folder's absolute path.

What the user gave as inputs (the base model folder, the data file) lives outside
``tmp_path`` and may stay as given: loading the adapter on the same machine needs the base's
path (``phalanx.json``'s ``base_model``, peft's ``base_model_name_or_path``), evaluation and
calibration read the training data's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from phalanx import load_classifier
from phalanx.training import train
from phalanx.training.run import _BestCheckpoint
from tests.helpers import RECIPES, config, run_options

pytestmark = pytest.mark.usefixtures("one_thread")


def _files_naming(folder: Path, needles: list[str]) -> list[str]:
    """Every file under ``folder`` whose bytes hold one of ``needles``, with the needle."""
    found = []
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = file.read_bytes()
        found += [f"{file.relative_to(folder)}: {n}" for n in needles if n.encode() in data]
    return found


def _needles(tmp_path: Path, out: Path) -> list[str]:
    return sorted({str(tmp_path), str(tmp_path.resolve()), str(out), str(out.resolve())})


@pytest.mark.parametrize("method", ["sparta", "lora", "full"])
def test_run_adapter_and_exports_hold_no_absolute_output_path(method, tiny_base, toy_csv, tmp_path):
    pytest.importorskip("onnxruntime")
    from phalanx.export import export_onnx
    from phalanx.export.quantize import quantize_export

    base = tiny_base("bert")
    out = tmp_path / "out"
    assert out.is_absolute() and not str(base).startswith(str(tmp_path))
    result = train(config(base, toy_csv, out, method=method, epochs=2))
    exports = [export_onnx(out, tmp_path / "export"), export_onnx(out, out / "onnx")]
    if method == "sparta":
        exports.append(quantize_export(tmp_path / "export", tmp_path / "export-int8"))
    assert (out / "README.md").is_file() and (out / "adapter" / "README.md").is_file()
    assert list((out / "checkpoints").glob("checkpoint-*/trainer_state.json"))
    for folder in (out, *exports):
        assert (folder / "README.md").is_file()
        assert _files_naming(folder, _needles(tmp_path, out)) == []
    # what loading needs is still there: the folders load and predict as the trained model
    clf = load_classifier(out)
    texts = ["the movie was good and fun", "the movie was bad and dull"]
    assert clf.labels == list(result.model.config.id2label.values())
    for export in exports[:2]:
        got = load_classifier(export).classify(texts)
        torch.testing.assert_close(got, clf.classify(texts), rtol=1e-4, atol=1e-4)
    saved = json.loads((out / "adapter" / "phalanx.json").read_text())
    assert saved["training"]["output"] == "out"  # an absolute output: the folder's name
    assert saved["base_model"] == str(Path(base).resolve())  # an input: as loading needs it


def test_a_relative_output_is_recorded_as_given(tiny_base, toy_csv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train(config(tiny_base("bert"), toy_csv, Path("runs/rel"), epochs=1))
    saved = json.loads(Path("runs/rel/adapter/phalanx.json").read_text())
    assert saved["training"]["output"] == "runs/rel"
    assert "output: runs/rel\n" in Path("runs/rel/train_config.yaml").read_text()
    state = json.loads(next(Path("runs/rel/checkpoints").glob("*/trainer_state.json")).read_text())
    assert state["best_model_checkpoint"].startswith("runs/rel/checkpoints/checkpoint-")


def test_resuming_a_finished_run_finds_the_best_checkpoint_again(tiny_base, toy_csv, tmp_path):
    """The finished run's checkpoints name no best checkpoint; a resume finds it from
    ``best_global_step`` and ends with the same adapter and figures."""
    out = tmp_path / "out"
    first = train(config(tiny_base("bert"), toy_csv, out, epochs=2))
    for state in (out / "checkpoints").glob("checkpoint-*/trainer_state.json"):
        recorded = json.loads(state.read_text())
        assert recorded["best_model_checkpoint"] is None
        assert recorded["best_global_step"] == first.best_step
    again = train(config(tiny_base("bert"), toy_csv, out, epochs=2, resume=True))
    assert again.best_step == first.best_step
    assert dict(again.test) == dict(first.test)


def test_best_checkpoint_callback_restores_the_path_from_the_step(tmp_path):
    from types import SimpleNamespace

    (tmp_path / "checkpoint-10").mkdir()
    args = SimpleNamespace(output_dir=str(tmp_path))
    state = SimpleNamespace(best_model_checkpoint=None, best_global_step=10)
    _BestCheckpoint().on_train_begin(args, state, None)
    assert state.best_model_checkpoint == str(tmp_path / "checkpoint-10")
    state = SimpleNamespace(best_model_checkpoint=None, best_global_step=20)  # no such folder
    _BestCheckpoint().on_train_begin(args, state, None)
    assert state.best_model_checkpoint is None


def test_compress_output_holds_no_absolute_output_path(tiny_base, toy_csv, tmp_path):
    from phalanx.compress.run import compress

    recipe = RECIPES / "minilm_fp32_baseline.yaml"
    out = tmp_path / "out"
    compress(**run_options(tiny_base("bert"), toy_csv, out, recipe=str(recipe), max_steps=3))
    assert (out / "README.md").is_file()
    assert _files_naming(out, _needles(tmp_path, out)) == []
    meta = json.loads((out / "phalanx.json").read_text())
    assert meta["compress"]["config"]["output"] == "out"
