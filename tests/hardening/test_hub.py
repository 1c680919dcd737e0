"""Models named by a Hub id: a cached snapshot loads offline; a missing one is one line, at once;
pushing or classifying by repo id with the Hub unreachable is one line too.

No test reaches the Hub: the online case points ``HF_ENDPOINT`` at a closed local port.
"""

from __future__ import annotations

import shutil
import time

import pytest

from phalanx.errors import InputError
from phalanx.hub import hub_snapshot
from phalanx.models import load_base_classifier
from tests.hardening.harness import assert_refused, run_cli


def _cache_with(tmp_path, repo_id: str, folder) -> None:
    """A Hugging Face cache holding ``folder`` as the main revision of ``repo_id``."""
    org, name = repo_id.split("/")
    repo = tmp_path / "hub" / f"models--{org}--{name}"
    commit = "0" * 40
    shutil.copytree(folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)


def test_a_cached_hub_model_loads_offline(tiny_base, tmp_path, monkeypatch):
    _cache_with(tmp_path, "someone/tiny-bert", tiny_base("bert"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    model = load_base_classifier("someone/tiny-bert", {0: "neg", 1: "pos"})
    assert model.config.id2label == {0: "neg", 1: "pos"}


@pytest.mark.parametrize("repo", ["nobody-here/no-model", "org/name-with.dots", "a/b"])
def test_an_uncached_hub_id_offline_is_one_line_at_once(monkeypatch, repo):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(InputError, match=f"'{repo}' is not in the local Hugging Face cache"):
        hub_snapshot(repo)
    assert time.perf_counter() - start < 2


def test_cli_refuses_an_unreachable_hub_model_in_one_line(tmp_path):
    ended = run_cli("train", "--model", "nobody-here/no-model", "-o", tmp_path / "run")
    assert_refused(ended, "'nobody-here/no-model' is not in the local Hugging Face cache")


def test_cli_online_but_unreachable_hub_ends_fast_with_the_cause(tmp_path):
    # the discard port: nothing listens there, so the connection is refused at once
    env = {"HF_HUB_OFFLINE": None, "HF_ENDPOINT": "http://127.0.0.1:9"}
    ended = run_cli("train", "--model", "nobody-here/no-model", "-o", tmp_path / "run", env=env)
    assert_refused(ended, "cannot download 'nobody-here/no-model'", within=60)


def test_cli_classify_and_push_by_repo_id_with_the_hub_unreachable(plain_adapter, tmp_path):
    # the discard port again: classify by repo id and push both end in one line, at once
    env = {"HF_HUB_OFFLINE": None, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp_path)}
    ended = run_cli("classify", "nobody-here/no-model", "a text", env=env)
    assert_refused(ended, "cannot download 'nobody-here/no-model'", within=60)
    ended = run_cli("push", plain_adapter, "nobody-here/no-model", env={**env, "HF_TOKEN": "x"})
    assert_refused(ended, "cannot push to 'nobody-here/no-model'", "cannot be reached", within=60)
    ended = run_cli("push", plain_adapter, "nobody-here/no-model")  # HF_HUB_OFFLINE=1
    assert_refused(ended, "cannot push to 'nobody-here/no-model': HF_HUB_OFFLINE is set")
