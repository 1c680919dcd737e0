"""Push a folder, load it back by repo id: same predictions as the local folder.

The Hub here is ``standin.StandInHub``, a small local HTTP server that stands in for the
Hugging Face Hub (no test reaches the real one); the client is the real ``huggingface_hub``.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import torch

from phalanx import load_classifier
from phalanx.cli.parser import main
from tests.helpers import SENTENCES, build_adapter, train_adapter

pytestmark = pytest.mark.usefixtures("one_thread")

HAS_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime"))


def _cached(path: str | Path, hub_cache: Path) -> bool:
    return Path(path).resolve().is_relative_to(hub_cache.resolve())


def _same_predictions(a, b) -> None:
    assert a.labels == b.labels
    assert torch.equal(a.classify(SENTENCES), b.classify(SENTENCES))
    assert a.predict_records(SENTENCES) == b.predict_records(SENTENCES)


def test_a_sparta_adapter_round_trips_and_pickles_stay_on_the_hub(hub, tiny_base, tmp_path):
    adapter = tmp_path / "sparta"
    train_adapter(tiny_base("bert"), adapter, density=0.05, seed=3)
    (adapter / "notes.bin").write_bytes(b"pickles are never downloaded")
    local = load_classifier(adapter)
    url = local.push_to_hub("me/sparta")
    assert url.startswith(hub.endpoint + "/me/sparta/commit/")
    assert sorted(hub.files("me/sparta")) == sorted([".gitattributes", *_names(adapter)])

    loaded = load_classifier("me/sparta")
    assert _cached(loaded.adapter, tmp_path / "hf-home" / "hub")
    assert not (Path(loaded.adapter) / "notes.bin").exists()  # allow_patterns: no pickles
    assert loaded.method == local.method == "sparta"
    _same_predictions(local, loaded)


def test_a_lora_run_folder_round_trips_without_its_checkpoints(hub, tiny_base, tmp_path, capsys):
    run = tmp_path / "run"
    build_adapter(tiny_base("bert"), "lora", run / "adapter")
    (run / "metrics.json").write_text(json.dumps({"test": {"accuracy": 0.5}}))
    (run / "checkpoints" / "checkpoint-4").mkdir(parents=True)
    (run / "checkpoints" / "checkpoint-4" / "optimizer.pt").write_bytes(b"state")
    assert main(["push", str(run), "me/lora-run", "--message", "first run"]) == 0
    assert capsys.readouterr().out.strip().startswith(hub.endpoint + "/me/lora-run/commit/")
    pushed = set(hub.files("me/lora-run"))
    assert "metrics.json" in pushed and "adapter/adapter_config.json" in pushed
    assert not [p for p in pushed if p.startswith("checkpoints/")]  # training state stays

    loaded = load_classifier("me/lora-run")  # a run folder on the Hub: its adapter/
    assert Path(loaded.adapter).name == "adapter" and loaded.method == "lora"
    _same_predictions(load_classifier(run), loaded)


@pytest.mark.skipif(not HAS_ONNX, reason="needs the export extra (onnx, onnxruntime)")
def test_an_export_round_trips_through_pipeline_and_the_server_registry(hub, tiny_base, tmp_path):
    from phalanx.export import Pipeline, export_onnx
    from phalanx.serve.models import ModelRegistry

    adapter = build_adapter(tiny_base("bert"), "sparta", tmp_path / "adapter")
    export = export_onnx(adapter, tmp_path / "onnx")
    assert main(["push", str(export), "me/onnx"]) == 0

    local = Pipeline.create(model_path=export)
    remote = Pipeline.create(model_path="me/onnx")
    assert remote.backend == "onnxruntime" and _cached(remote.model_path, tmp_path / "hf-home")
    assert local(SENTENCES) == remote(SENTENCES)
    assert (local.classify(SENTENCES) == remote.classify(SENTENCES)).all()
    _same_predictions(load_classifier(export), load_classifier("me/onnx"))

    registry = ModelRegistry.load(["me/onnx", "ad=" + str(adapter)])
    assert list(registry.models) == ["onnx", "ad"]  # named after the repo, as after a folder
    served = registry.get("onnx").classify(SENTENCES)
    assert (served == local.classify(SENTENCES)).all()


def test_revisions_branches_and_pull_requests(hub, tiny_base, tmp_path):
    base = tiny_base("bert")
    first, second, third = (tmp_path / n for n in ("first", "second", "third"))
    for seed, folder in enumerate((first, second, third)):
        train_adapter(base, folder, density=0.05, seed=seed + 10)
    a, b, c = (load_classifier(f) for f in (first, second, third))
    assert not torch.equal(a.classify(SENTENCES), b.classify(SENTENCES))

    a.push_to_hub("me/versions")
    commit = hub.repos["me/versions"].refs["main"]
    assert main(["push", str(second), "me/versions", "--revision", "v2"]) == 0
    pr = c.push_to_hub("me/versions", create_pr=True)
    assert pr == f"{hub.endpoint}/me/versions/discussions/1"

    assert sorted(hub.repos["me/versions"].refs) == ["main", "refs/pr/1", "v2"]
    _same_predictions(a, load_classifier("me/versions"))
    _same_predictions(b, load_classifier("me/versions", revision="v2"))
    _same_predictions(c, load_classifier("me/versions", revision="refs/pr/1"))
    _same_predictions(a, load_classifier("me/versions", revision=commit))
    from phalanx.export import Pipeline

    pipe = Pipeline.create(model_path="me/versions", revision="v2")
    assert pipe(SENTENCES) == Pipeline.create(model_path=second)(SENTENCES)


def test_a_base_model_named_by_repo_id_is_fetched_the_same_way(
    hub, tiny_base, tmp_path, monkeypatch
):
    from huggingface_hub import constants

    from phalanx.folder import read_meta
    from phalanx.hub import hub_snapshot, push_folder

    push_folder(tiny_base("bert"), "someone/tiny-bert")  # a base model on the Hub
    adapter = build_adapter("someone/tiny-bert", "sparta", tmp_path / "adapter")
    assert read_meta(adapter)["base_model"] == "someone/tiny-bert"
    local = load_classifier(adapter)
    push_folder(adapter, "me/on-a-hub-base")

    fresh = tmp_path / "other-machine" / "hub"  # nothing cached: both repos come down
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(fresh))
    hub_snapshot.cache_clear()
    del hub.requests[:]
    loaded = load_classifier("me/on-a-hub-base")
    fetched = {path for method, path in hub.requests if method == "GET" and "/resolve/" in path}
    assert any(p.startswith("/someone/tiny-bert/resolve/") for p in fetched)
    assert any(p.startswith("/me/on-a-hub-base/resolve/") for p in fetched)
    assert not [p for p in fetched if p.endswith((".bin", ".pt", ".pth", ".pkl"))]
    assert sorted(p.name for p in fresh.iterdir() if p.name.startswith("models--")) == [
        "models--me--on-a-hub-base",
        "models--someone--tiny-bert",
    ]
    _same_predictions(local, loaded)


def test_a_local_folder_wins_over_a_repo_id_of_the_same_spelling(
    hub, tiny_base, tmp_path, monkeypatch
):
    from phalanx.errors import InputError
    from phalanx.export import Pipeline

    train_adapter(tiny_base("bert"), tmp_path / "hubbed", density=0.05, seed=1)
    load_classifier(tmp_path / "hubbed").push_to_hub("me/same")
    monkeypatch.chdir(tmp_path)
    train_adapter(tiny_base("bert"), tmp_path / "me" / "same", density=0.05, seed=2)
    del hub.requests[:]
    mine = load_classifier("me/same")
    assert Path(mine.adapter).resolve() == (tmp_path / "me" / "same").resolve()
    assert load_classifier("./me/same").adapter == mine.adapter
    with pytest.raises(InputError, match="is a local folder; revision 'v2' applies to a Hug"):
        load_classifier("me/same", revision="v2")
    # a first part that is a local folder keeps a missing path local: a typo, not a repo
    with pytest.raises(FileNotFoundError, match="model folder 'me/typo' does not exist"):
        load_classifier("me/typo")
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        Pipeline.create(model_path="./not/here")
    assert hub.requests == []  # none of these asked the Hub


def _names(folder: Path) -> list[str]:
    return [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]


def test_a_snapshot_served_from_the_hub_cache_pushes_again(hub, tiny_base, tmp_path):
    adapter = tmp_path / "ad"
    train_adapter(tiny_base("bert"), adapter, density=0.05, seed=4)
    load_classifier(adapter).push_to_hub("me/first")
    copy = load_classifier("me/first")  # its folder is the cache's snapshot (symlinks)
    copy.push_to_hub("me/second")
    assert hub.files("me/second") == hub.files("me/first")
    shutil.rmtree(adapter)
    _same_predictions(copy, load_classifier("me/second"))
