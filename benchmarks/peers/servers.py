"""Servers under test (phalanx, infinity) as processes, the 16-client load, the competitor.

Every server listens on 127.0.0.1 only; every load loop is bounded in time and count.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from _common import free_port, tree_cpu_seconds, tree_memory_mib  # noqa: E402

INFINITY_VENV = HERE.parent / ".venv-infinity"
START_TIMEOUT_S = 900  # a first `--runtime auto` start exports int8 ONNX into the cache


@dataclass
class Mode:
    """One server configuration: how to start it and how to talk to it."""

    name: str
    kind: str  # "phalanx" or "infinity"
    args: list[str]
    models: list[str]
    """Model names the requests rotate over (request j of client c: models[(c + j) % n])."""
    env: dict[str, str] = field(default_factory=dict)


def phalanx_mode(name: str, models: dict[str, Path], extra: list[str]) -> Mode:
    """``phalanx serve NAME=PATH ... EXTRA`` (run from the project's interpreter)."""
    specs = [f"{n}={p}" for n, p in models.items()]
    return Mode(name, "phalanx", [*specs, *extra], list(models))


def infinity_mode(name: str, merged: Path, extra: list[str]) -> Mode:
    """infinity-emb's ``v2`` server on a merged transformers folder (torch engine, CPU)."""
    args = ["--model-id", str(merged), "--served-model-name", "merged", "--engine", "torch",
            "--device", "cpu", *extra]  # fmt: skip
    # no telemetry, no Hub: the model is a local folder
    env = {"DO_NOT_TRACK": "1", "INFINITY_ANONYMOUS_USAGE_STATS": "0", "HF_HUB_OFFLINE": "1"}
    return Mode(name, "infinity", args, ["merged"], env)


def infinity_ready() -> bool:
    return (INFINITY_VENV / "bin" / "infinity_emb").is_file()


class Server:
    """A running server process of ``mode`` on a free port; ``stop()`` ends it."""

    def __init__(self, mode: Mode, log: Path):
        self.mode = mode
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if mode.kind == "phalanx":
            cmd = [sys.executable, "-m", "phalanx", "serve", *mode.args, "--port", str(self.port)]
            self.classify_path = "/v1/classify"
        else:
            cmd = [str(INFINITY_VENV / "bin" / "infinity_emb"), "v2", *mode.args,
                   "--host", "127.0.0.1", "--port", str(self.port)]  # fmt: skip
            self.classify_path = "/classify"
        self.command = cmd
        env = {k: v for k, v in os.environ.items() if k != "PHALANX_API_KEY"}
        env.update(mode.env)
        self.log = log
        t0 = time.monotonic()
        with open(log, "wb") as out:  # a file, not a pipe: the access log never blocks
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.start_s = time.monotonic() - t0

    def body(self, text: str, model: str) -> dict:
        if self.mode.kind == "phalanx":
            return {"texts": [text], "model": model}
        return {"input": [text], "model": model}

    def labels_of(self, response: dict) -> list[str]:
        """The top label of each text in a response."""
        if self.mode.kind == "phalanx":
            return [r["label"] for r in response["results"]]
        return [max(scores, key=lambda s: s["score"])["label"] for scores in response["data"]]

    def classify(self, texts: list[str], model: str | None = None) -> list[str]:
        model = model or self.mode.models[0]
        body = self.body(texts[0], model)
        body["texts" if self.mode.kind == "phalanx" else "input"] = texts
        r = httpx.post(self.url + self.classify_path, json=body, timeout=120)
        r.raise_for_status()
        return self.labels_of(r.json())

    def _wait_ready(self) -> None:
        """/readyz 200 where the server has it; else liveness plus one answered classify."""
        deadline = time.monotonic() + START_TIMEOUT_S
        live = "/healthz" if self.mode.kind == "phalanx" else "/health"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = [x for x in self.log.read_text().splitlines() if x.strip()][-1:]
                raise RuntimeError(f"{self.mode.name} exited (log: {self.log}): {tail}")
            try:
                if self.mode.kind == "phalanx":
                    r = httpx.get(self.url + "/readyz", timeout=5)
                    if r.status_code == 200:
                        return
                    if r.status_code != 404:  # 503: still loading
                        time.sleep(0.5)
                        continue
                if httpx.get(self.url + live, timeout=5).status_code == 200:
                    self.classify(["a first request"])
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"{self.mode.name} not ready within {START_TIMEOUT_S} s; see {self.log}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


COMPETE = """
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
a = torch.randn(384, 384); b = torch.randn(384, 384)
n, stop = 0, time.monotonic() + float(sys.argv[2])
while time.monotonic() < stop:
    for _ in range(20):
        a = torch.tanh(a @ b)
    n += 20
print(n)
"""


class Competitor:
    """A CPU-bound process at our niceness (fp32 matmuls on ``threads`` threads, like a
    training job), ending by itself after ``seconds``; ``stop()`` ends it sooner."""

    def __init__(self, threads: int, seconds: float):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", COMPETE, str(threads), str(seconds)],
            stdout=subprocess.DEVNULL,
        )

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=60)


async def _load(server: Server, texts: list[str], clients: int, seconds: float, cap: int):
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    sent = 0
    models = server.mode.models
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(c: httpx.AsyncClient, k: int) -> None:
        nonlocal sent
        j = 0
        while time.perf_counter() < stop and sent < cap:
            sent += 1
            text = texts[(k + j * clients) % len(texts)]
            body = server.body(text, models[(k + j) % len(models)])
            t0 = time.perf_counter()
            try:
                r = await c.post(server.classify_path, json=body)
                ok = r.status_code == 200 and len(server.labels_of(r.json())) == 1
                why = str(r.status_code)
            except httpx.HTTPError as err:
                ok, why = False, type(err).__name__
            if ok:
                latencies.append(time.perf_counter() - t0)
            else:
                statuses[why] = statuses.get(why, 0) + 1
            j += 1

    async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as c:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(c, k) for k in range(clients)))
        elapsed = time.perf_counter() - t0
    return latencies, statuses, elapsed


def measure(server: Server, texts: list[str], args, competitor: Competitor | None = None) -> dict:
    """Warm-up, then the measured window: req/s, p50/p99 ms, errors, the CPU shares (% of one
    core) of the server's process tree, of this client and of the competitor, RSS after."""
    asyncio.run(_load(server, texts, args.clients, args.warmup, 10**9))
    pid = server.proc.pid
    rival0 = competitor.cpu_seconds() if competitor else 0.0
    cpu0, client0, wall0 = tree_cpu_seconds(pid), time.process_time(), time.perf_counter()
    load0 = os.getloadavg()[0]
    lat, statuses, elapsed = asyncio.run(
        _load(server, texts, args.clients, args.seconds, args.max_requests)
    )
    wall = time.perf_counter() - wall0
    cpu = tree_cpu_seconds(pid) - cpu0
    client_cpu = time.process_time() - client0
    rival = competitor.cpu_seconds() - rival0 if competitor else float("nan")
    rss, peak = tree_memory_mib(pid)
    ms = np.array(lat) * 1000
    return {
        "mode": server.mode.name,
        "requests": len(lat),
        "errors": sum(statuses.values()),
        "statuses": statuses,
        "rps": len(lat) / elapsed,
        "p50": float(np.percentile(ms, 50)) if len(ms) else float("nan"),
        "p99": float(np.percentile(ms, 99)) if len(ms) else float("nan"),
        "cpu": 100 * cpu / wall,
        "client_cpu": 100 * client_cpu / wall,
        "rival_cpu": 100 * rival / wall,
        "rss": rss,
        "peak": peak,
        "load": load0,
        "start_s": server.start_s,
    }
