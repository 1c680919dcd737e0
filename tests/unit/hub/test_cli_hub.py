"""``phalanx push`` / ``classify`` / ``serve`` by repo id, as a user runs them: fresh processes.

The Hub here is ``standin.StandInHub``, a small local HTTP server that stands in for the
Hugging Face Hub (no test reaches the real one); each process runs the real
``huggingface_hub`` client, pointed at it with ``HF_ENDPOINT``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from phalanx.cli.parser import main
from tests.hardening.harness import assert_refused, run_cli
from tests.helpers import SENTENCES, train_adapter
from tests.unit.hub.conftest import TOKEN

TEXTS = SENTENCES[:4]


@pytest.fixture
def adapters(tiny_base, tmp_path):
    """Two SpaRTA adapters on the tiny BERT: ``first`` and ``second`` (other predictions)."""
    out = {}
    for seed, name in enumerate(("first", "second")):
        out[name] = tmp_path / name
        train_adapter(tiny_base("bert"), out[name], density=0.05, seed=seed + 20)
    return out


def _online(hub, home) -> dict[str, str | None]:
    """A machine that reaches the stand-in, with its own (empty) Hugging Face cache."""
    return {
        "HF_ENDPOINT": hub.endpoint, "HF_HUB_OFFLINE": None, "HF_TOKEN": TOKEN,
        "HF_HOME": str(home), "HF_HUB_CACHE": str(home / "hub"),
    }  # fmt: skip


def _records(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def _local_json(capsys, folder) -> list[dict]:
    capsys.readouterr()
    assert main(["classify", str(folder), *TEXTS, "--json"]) == 0
    return _records(capsys.readouterr().out)


def test_push_then_classify_by_repo_id_in_fresh_processes(hub, adapters, tmp_path, capsys):
    mine, colleague = _online(hub, tmp_path / "mine"), _online(hub, tmp_path / "colleague")
    pushed = run_cli("push", adapters["first"], "me/cli-model", env=mine)
    assert pushed.code == 0, pushed.stderr[-2000:]
    assert pushed.stdout.strip().startswith(f"{hub.endpoint}/me/cli-model/commit/")
    pushed = run_cli("push", adapters["second"], "me/cli-model", "--revision", "v2", env=mine)
    assert pushed.code == 0, pushed.stderr[-2000:]

    ended = run_cli("classify", "me/cli-model", *TEXTS, "--json", env=colleague)
    assert ended.code == 0, ended.stderr[-2000:]
    assert _records(ended.stdout) == _local_json(capsys, adapters["first"])
    ended = run_cli("classify", "me/cli-model", *TEXTS, "--json", "--revision", "v2", env=colleague)
    assert ended.code == 0, ended.stderr[-2000:]
    assert _records(ended.stdout) == _local_json(capsys, adapters["second"])
    assert (tmp_path / "colleague" / "hub" / "models--me--cli-model").is_dir()

    # offline, the colleague's cache serves main; a repo never downloaded is one line
    offline = {**colleague, "HF_HUB_OFFLINE": "1"}
    ended = run_cli("classify", "me/cli-model", *TEXTS, "--json", env=offline)
    assert ended.code == 0 and _records(ended.stdout) == _local_json(capsys, adapters["first"])
    ended = run_cli("classify", "me/never-pushed", "x", env=offline)
    assert_refused(ended, "'me/never-pushed' is not in the local Hugging Face cache", within=60)


def test_cli_errors_by_repo_id_are_one_line(hub, adapters, capsys):
    assert main(["classify", "me/nothing-here", "x"]) == 2
    assert "no model 'me/nothing-here' on the Hugging Face Hub" in capsys.readouterr().err
    assert main(["push", str(adapters["first"]), "me/model"]) == 0
    capsys.readouterr()
    assert main(["classify", "me/model", "x", "--revision", "nope"]) == 2
    assert "'me/model' has no revision 'nope'" in capsys.readouterr().err
    assert main(["classify", str(adapters["first"]), "x", "--revision", "v2"]) == 2
    assert "is a local folder; revision 'v2' applies to a Hug" in capsys.readouterr().err
    assert main(["serve", str(adapters["first"]), "--revision", "v2"]) == 2
    assert "--revision v2 applies to models given by Hub repo id" in capsys.readouterr().err
    assert main(["push", str(adapters["first"]), "me/model", "--token", "hf_wrong"]) == 2
    assert "not logged in to the Hugging Face Hub" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_phalanx_serve_a_repo_id_at_a_revision(hub, adapters, tmp_path, capsys):
    from phalanx.hub import push_folder

    push_folder(adapters["first"], "me/served")
    push_folder(adapters["second"], "me/served", revision="v2")
    expected = _local_json(capsys, adapters["second"])
    port = _free_port()
    env = {**os.environ, **_online(hub, tmp_path / "server")}
    env = {key: value for key, value in env.items() if value is not None}
    cmd = [sys.executable, "-m", "phalanx", "serve", "me/served", "--revision", "v2",
           "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "server did not start in 120 s"
            time.sleep(0.3)
        models = httpx.get(url + "/v1/models").json()["models"]
        assert [m["name"] for m in models] == ["served"]
        answer = httpx.post(url + "/v1/classify", json={"texts": TEXTS}).json()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    labels = [r["label"] for r in answer["results"]]
    assert labels == [r["label"] for r in expected]
    for got, want in zip(answer["results"], expected, strict=True):
        assert got["score"] == pytest.approx(want["score"], abs=1e-5)
