"""Adapter folders written before the restructure load and predict as they did then."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import torch

from phalanx import load_classifier

FIXTURE = Path(__file__).parents[1] / "fixtures" / "pre_restructure"
RECORDED_BASE = "/tmp/phalanx-pre-restructure-fixture/base"
METHODS = ["full", "head", "lora", "sparta"]


@pytest.fixture(scope="module")
def old_folders(tmp_path_factory) -> Path:
    """The fixture copied to a temporary folder, its recorded base path pointing at the copy."""
    root = tmp_path_factory.mktemp("pre_restructure") / "fixture"
    shutil.copytree(FIXTURE, root)
    for path in root.rglob("*"):
        if path.suffix in (".json", ".md") and RECORDED_BASE in path.read_text():
            path.write_text(path.read_text().replace(RECORDED_BASE, str(root / "base")))
    return root


@pytest.mark.parametrize("method", METHODS)
def test_old_folder_predicts_the_recorded_logits(old_folders, method):
    recorded = json.loads((old_folders / f"{method}.logits.json").read_text())
    clf = load_classifier(old_folders / method)
    assert clf.labels == ["negative", "positive"]
    assert clf.template == "review: {sentence}" and clf.max_length == 24
    got = clf.logits(recorded["sentences"])
    torch.testing.assert_close(got, torch.tensor(recorded["logits"]), rtol=0, atol=1e-5)


def test_every_fixture_folder_is_tested():
    folders = sorted(
        p.name for p in FIXTURE.iterdir() if p.is_dir() and p.name not in ("base", "__pycache__")
    )
    assert folders == METHODS


def _maker():
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURE / "make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("method", METHODS)
def test_todays_writers_write_the_old_files(old_folders, tmp_path, method):
    """The same steps with today's code write the same bytes (the base path rewritten alike),
    plus today's model card ``README.md`` (in place of peft's blank template in a LoRA
    folder)."""
    base = old_folders / "base"
    _maker().build_adapter(method, base, tmp_path / method, str(base))
    old = sorted(p.name for p in (old_folders / method).iterdir() if p.name != "README.md")
    assert sorted(p.name for p in (tmp_path / method).iterdir()) == sorted([*old, "README.md"])
    assert "library_name: phalanx" in (tmp_path / method / "README.md").read_text()
    for name in old:
        new, recorded = (folder / method / name for folder in (tmp_path, old_folders))
        if name == "adapter_config.json":  # peft writes target_modules from a set: any order
            assert _unordered_targets(new) == _unordered_targets(recorded)
        else:
            assert new.read_bytes() == recorded.read_bytes(), name


def _unordered_targets(path: Path) -> dict:
    data = json.loads(path.read_text())
    if isinstance(data.get("target_modules"), list):
        data["target_modules"] = sorted(data["target_modules"])
    return data
