"""The stand-in Hub (``standin.StandInHub``, a local HTTP server, not the Hub) with
huggingface_hub pointed at it, online, and a fresh Hugging Face cache per test."""

from __future__ import annotations

import pytest

from tests.unit.hub.standin import StandInHub

TOKEN = "hf_standin_write"


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A running stand-in Hub that wants ``TOKEN`` for writes; huggingface_hub (already
    imported, so its constants are patched as well as the environment) talks to it."""
    from huggingface_hub import constants

    from phalanx.hub import hub_snapshot

    cache = tmp_path / "hf-home" / "hub"
    with StandInHub(token=TOKEN) as server:
        for key, value in {
            "HF_ENDPOINT": server.endpoint,
            "HF_HOME": str(cache.parent),
            "HF_HUB_CACHE": str(cache),
            "HF_TOKEN": TOKEN,
        }.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # the root conftest sets it
        monkeypatch.setattr(constants, "ENDPOINT", server.endpoint)
        template = server.endpoint + "/{repo_id}/resolve/{revision}/{filename}"
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
        monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(cache.parent / "token"))
        harnesses = str(cache.parent / "agent_harnesses.json")  # what the client may cache
        monkeypatch.setattr(constants, "AGENT_HARNESSES_PATH", harnesses, raising=False)
        hub_snapshot.cache_clear()
        yield server
        hub_snapshot.cache_clear()


def go_offline(monkeypatch) -> None:
    """HF_HUB_OFFLINE=1 for phalanx and for the already imported huggingface_hub."""
    from huggingface_hub import constants

    from phalanx.hub import hub_snapshot

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    hub_snapshot.cache_clear()
