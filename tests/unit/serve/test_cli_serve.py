"""``phalanx serve`` as a user runs it: a real process, then Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from phalanx.cli.parser import main


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_phalanx_serve_runs_until_ctrl_c(adapters, tmp_path):
    port = _free_port()
    config = tmp_path / "serve.yaml"
    config.write_text(f"max_texts_per_request: 3\nport: {port + 1}\n")  # the flag wins
    cmd = [
        sys.executable, "-m", "phalanx", "serve",
        f"pos={adapters['pos']}", str(adapters["topic"]),
        "--port", str(port), "--config", str(config),
    ]  # fmt: skip
    env = {**os.environ, "PHALANX_API_KEY": "from-env"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "server did not start in 120 s"
            time.sleep(0.3)
        key = {"X-API-Key": "from-env"}
        assert httpx.get(url + "/v1/models").status_code == 401  # the key from the env
        names = [m["name"] for m in httpx.get(url + "/v1/models", headers=key).json()["models"]]
        assert names == ["pos", "topic"]
        r = httpx.post(url + "/v1/classify", json={"texts": ["a"] * 4}, headers=key)
        assert r.status_code == 413 and "max_texts_per_request is 3" in r.json()["error"]
        r = httpx.post(url + "/v1/classify", json={"texts": ["a charming journey"]}, headers=key)
        assert r.status_code == 200 and r.json()["model"] == "pos"
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out.decode()
    assert f"127.0.0.1:{port}" in out.decode()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve"], "give at least one adapter"),
        (["serve", "/no/such/folder"], "'/no/such/folder' does not exist"),
        (["serve", "x", "--max-batch-size", "0"], "max_batch_size must be >= 1, got 0"),
        (["serve", "x", "--port", "70000"], "port must be between 0 and 65535"),
    ],
)
def test_serve_user_errors_are_one_line_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_without_the_serve_extra_the_cli_says_what_to_install(adapters, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "fastapi", None)  # as if FastAPI were not installed
    assert main(["serve", str(adapters["pos"])]) == 2
    assert "pip install 'phalanx[serve]'" in capsys.readouterr().err
