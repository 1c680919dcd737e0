"""``phalanx serve`` as a user runs it: a real process, then Ctrl-C or SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from phalanx.cli.parser import main
from tests.hardening.harness import assert_refused, run_cli


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_ready(proc: subprocess.Popen, url: str, log: Path | None = None) -> list[dict]:
    """Poll until /readyz answers 200; the /healthz bodies seen on the way."""
    health: list[dict] = []
    deadline = time.monotonic() + 120
    while True:
        try:
            health.append(httpx.get(url + "/healthz").json())
            if httpx.get(url + "/readyz").status_code == 200:
                return health
        except httpx.TransportError:
            pass
        output = log.read_text() if log else ""
        assert proc.poll() is None, output or proc.stdout.read().decode()
        assert time.monotonic() < deadline, "server not ready in 120 s"
        time.sleep(0.1)


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
        health = _wait_until_ready(proc, url)
        assert all(h["status"] == "ok" for h in health)  # live while loading, and after
        ready = {"status": "ok", "state": "ready", "ready": True, "models": 2}
        assert httpx.get(url + "/healthz").json() == ready
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
    # each model is named at start-up with what it is
    assert re.search(
        r"serving pos: sparta, runtime \S+, single_label, labels .*, group base", out.decode()
    )


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


def test_a_model_that_fails_to_load_after_listening_exits_2_with_one_line(adapters, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "phalanx.json").write_text("{not json")  # a folder, but not a loadable one
    ended = run_cli("serve", f"ok={adapters['pos']}", str(broken), "--port", "0", timeout=120)
    assert_refused(ended, str(broken / "phalanx.json"))


def test_sigterm_under_load_answers_every_accepted_request_and_exits_0(adapters, tmp_path):
    """16 clients post in a loop; SIGTERM arrives while requests wait for their batch.

    What a client may see: 200 for every request the server accepted (it reached the app
    before the SIGTERM). A request that reached the app after it: 503 with Retry-After and
    Connection: close. Once the SIGTERM was sent, also a connection error: the listener was
    closed, or an idle keep-alive connection was closed as a request was sent on it (the
    app never saw that one). Nothing else: no other status, no error before the signal.
    That no accepted request was lost is checked against the server's own count: it logs
    how many were in flight at the SIGTERM, how many were left unanswered and how many it
    answered 200 in all, which must equal the 200s the clients received.
    """
    port, log = _free_port(), tmp_path / "serve.log"
    cmd = [
        sys.executable, "-m", "phalanx", "serve", f"pos={adapters['pos']}", "--port", str(port),
        "--max-wait-ms", "300", "--max-batch-size", "64", "--shutdown-timeout-s", "20",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PHALANX_API_KEY"}
    with open(log, "wb") as out:  # a file: the access log of many requests never blocks
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    sigterm = threading.Event()
    lock = threading.Lock()
    ok, refused, problems = [0], [], []
    allowed = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)

    def client(k: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as c:
            while True:
                try:
                    r = c.post("/v1/classify", json={"texts": [f"review {k}: a charming film"]})
                except allowed as err:
                    with lock:  # the server closes connections only once it got the signal
                        (refused if sigterm.is_set() else problems).append(repr(err))
                    return
                except httpx.HTTPError as err:
                    with lock:
                        problems.append(repr(err))
                    return
                if r.status_code == 200 and len(r.json()["results"]) == 1:
                    with lock:
                        ok[0] += 1
                    continue
                shut = r.status_code == 503 and "shutting down" in r.json()["error"]
                polite = (
                    r.headers.get("retry-after") == "1" and r.headers.get("connection") == "close"
                )
                with lock:  # the app says "shutting down" only once it got the signal
                    (refused if shut and polite else problems).append(
                        f"{r.status_code} {dict(r.headers)} {r.text[:200]}"
                    )
                return

    try:
        _wait_until_ready(proc, url, log)
        threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 120
        while ok[0] < 48:  # every client under way (each request waits ~300 ms for its batch)
            assert time.monotonic() < deadline and not problems, (ok, problems)
            time.sleep(0.05)
        sigterm.set()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)  # within --shutdown-timeout-s
        for t in threads:
            t.join(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = log.read_text()
    assert code == 0, output[-3000:]
    assert problems == [], "\n".join(problems)
    assert len(refused) == 16  # every client stopped on a refusal after the signal
    stopped = re.search(
        r"stopped: (\d+) requests were in flight when the shutdown began, (\d+) left "
        r"unanswered; (\d+) classify requests answered 200",
        output,
    )
    assert stopped, output[-3000:]
    in_flight, left, answered = map(int, stopped.groups())
    assert in_flight >= 1, "SIGTERM came while no request was in flight: the test proved nothing"
    assert left == 0 and answered == ok[0], (in_flight, left, answered, ok[0])
