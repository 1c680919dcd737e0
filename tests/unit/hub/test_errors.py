"""What goes wrong with the Hub ends in one line naming the repo and the cause, at once.

The Hub here is ``standin.StandInHub``, a small local HTTP server that stands in for the
Hugging Face Hub (no test reaches the real one); the client is the real ``huggingface_hub``.
"""

from __future__ import annotations

import shutil
import socket
import time

import pytest

from phalanx import load_classifier
from phalanx.cli.parser import main
from phalanx.errors import InputError
from phalanx.hub import hub_snapshot, push_folder
from tests.helpers import SENTENCES, train_adapter
from tests.unit.hub.conftest import go_offline


@pytest.fixture
def pushed(hub, tiny_base, tmp_path):
    """``me/model`` on the stand-in, and its local folder."""
    folder = tmp_path / "adapter"
    train_adapter(tiny_base("bert"), folder, density=0.05, seed=5)
    push_folder(folder, "me/model")
    return folder


def _one_line(err: pytest.ExceptionInfo, *fragments: str) -> None:
    text = str(err.value)
    assert "\n" not in text, text
    for fragment in fragments:
        assert fragment in text, (fragment, text)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on return: a connection is refused


def test_a_missing_repo_or_revision_is_one_line(pushed):
    with pytest.raises(InputError) as err:
        load_classifier("me/nothing-here")
    _one_line(err, "no model 'me/nothing-here' on the Hugging Face Hub", "check the name")
    with pytest.raises(InputError) as err:
        load_classifier("me/model", revision="no-such-branch")
    _one_line(err, "'me/model' has no revision 'no-such-branch'")


def test_private_and_gated_repos_without_a_token(hub, pushed, monkeypatch):
    hub.repos["me/model"].private = True
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(InputError) as err:
        load_classifier("me/model")
    _one_line(err, "no model 'me/model'", "or it is private: log in")
    hub.repos["me/model"].private = False
    hub.repos["me/model"].gated = True
    with pytest.raises(InputError) as err:
        load_classifier("me/model")
    _one_line(err, "'me/model' is gated on the Hugging Face Hub", "accept its terms")


def test_offline_uses_the_cache_and_names_what_is_not_cached(hub, pushed, monkeypatch):
    online = load_classifier("me/model").classify(SENTENCES)
    go_offline(monkeypatch)
    before = len(hub.requests)
    assert load_classifier("me/model").classify(SENTENCES).tolist() == online.tolist()
    assert len(hub.requests) == before  # the cache alone
    start = time.perf_counter()
    with pytest.raises(InputError) as err:
        load_classifier("me/never-downloaded")
    _one_line(err, "'me/never-downloaded' is not in the local Hugging Face cache", "HF_HUB_OFFLINE")
    assert time.perf_counter() - start < 5
    with pytest.raises(InputError) as err:
        push_folder(pushed, "me/model")
    _one_line(err, "cannot push to 'me/model': HF_HUB_OFFLINE is set")


def test_an_unreachable_hub_is_one_line_at_once(hub, pushed, monkeypatch):
    from huggingface_hub import constants

    dead = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setattr(constants, "ENDPOINT", dead)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", dead + "/{repo_id}/x")
    hub_snapshot.cache_clear()
    start = time.perf_counter()
    with pytest.raises(InputError) as err:
        load_classifier("me/model")
    _one_line(err, "cannot download 'me/model' from the Hugging Face Hub", "check the connection")
    with pytest.raises(InputError) as err:
        push_folder(pushed, "me/other")
    _one_line(err, "cannot push to 'me/other'", f"the Hugging Face Hub at {dead} cannot be reached")
    assert time.perf_counter() - start < 30


def test_a_repo_without_a_phalanx_folder_is_named(hub, pushed):
    hub.commit("me/just-a-card", {"README.md": b"# nothing to load\n"})
    with pytest.raises(InputError) as err:
        load_classifier("me/just-a-card")
    _one_line(err, "the Hub repo 'me/just-a-card' holds no adapter", "no export")


def test_pushes_that_cannot_work_are_refused(hub, pushed, tmp_path, monkeypatch, capsys):
    with pytest.raises(InputError) as err:
        push_folder(pushed, "not a repo id")
    _one_line(err, "'not a repo id' is not a Hub repo id")
    with pytest.raises(InputError) as err:
        push_folder(pushed, "me/model", revision="v2", create_pr=True)
    _one_line(err, "create_pr opens a pull request against main")
    with pytest.raises(InputError) as err:
        push_folder(pushed, "me/model", private=True)  # exists, public: would be published
    _one_line(err, "'me/model' exists and is public")
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(InputError) as err:
        push_folder(pushed, "me/model")
    _one_line(err, "cannot push to 'me/model': not logged in", "hf auth login")

    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("not a model")
    assert main(["push", str(tmp_path / "plain"), "me/notes"]) == 2
    assert "holds no adapter" in capsys.readouterr().err
    assert main(["push", str(tmp_path / "missing"), "me/notes"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["push", str(pushed)]) == 2
    assert "phalanx push FOLDER USER/NAME" in capsys.readouterr().err
    assert "me/notes" not in hub.repos


def test_a_new_private_repo_stays_private(hub, pushed):
    assert main(["push", str(pushed), "me/secret", "--private"]) == 0
    assert hub.repos["me/secret"].private


def test_the_upload_without_hf_xet_takes_the_single_commit_path(hub, pushed, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)  # create_commit, not pipelined
    assert push_folder(pushed, "me/model").endswith(hub.repos["me/model"].refs["main"])
    carded = shutil.copytree(pushed, tmp_path / "carded")
    (carded / "README.md").write_text("---\nlibrary_name: phalanx\n---\n# a new card\n")
    del hub.requests[:]
    url = push_folder(carded, "me/model", create_pr=True)
    assert url == f"{hub.endpoint}/me/model/discussions/1"
    assert ("POST", "/api/validate-yaml") in hub.requests  # the card is checked first
    assert hub.files("me/model", "refs/pr/1")["README.md"].endswith(b"# a new card\n")
    assert b"a new card" not in hub.files("me/model").get("README.md", b"")  # main untouched
    via_pr = load_classifier("me/model", revision="refs/pr/1").classify(SENTENCES)
    assert via_pr.tolist() == load_classifier(pushed).classify(SENTENCES).tolist()
