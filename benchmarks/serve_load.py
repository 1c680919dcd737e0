"""Load test of ``phalanx serve`` on 127.0.0.1: micro-batching on vs off, in one run.

For each mode a real server process (``python -m phalanx serve``) serves the same SpaRTA
adapter on the real all-MiniLM-L6-v2; N concurrent clients each send one rotten_tomatoes
test sentence per request, back to back, for a fixed duration (bounded: at most
``--max-requests`` per mode), after a short warm-up. Reported per mode: requests/s,
p50/p99 latency, errors, and the mean texts per forward pass read from /metrics.
Traffic goes to 127.0.0.1 only.

    python benchmarks/serve_load.py                                  # trains nothing
    python benchmarks/serve_load.py --adapter runs/serve_adapter/adapter --clients 16
    python benchmarks/serve_load.py --device cuda --threads 4    # where a GPU is lent

On a CPU, MiniLM in fp32 is compute-bound even for one sentence (about 0.6 GFLOP each), so
batching saves only the per-request and per-forward overheads; the large gains are on GPUs,
where a one-sentence forward leaves the device mostly idle.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np


def random_adapter(root: Path) -> Path:
    """A SpaRTA adapter on the real MiniLM with small random deltas (throughput only)."""
    import torch

    from phalanx import SpaRTAMethodConfig, get_sparta_model, save_sparta_adapter
    from phalanx.models.loading import load_base_classifier

    model = load_base_classifier("minilm-l6", {0: "negative", 1: "positive"})
    sparta = get_sparta_model(model, SpaRTAMethodConfig(density=0.01, seed=0))
    with torch.no_grad():
        for sd in sparta.deltas.values():
            sd.delta.normal_(0, 0.01)
    return save_sparta_adapter(sparta, root / "adapter", base_model="minilm-l6")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(adapter: Path, batching: bool, args, log: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    cmd = [
        sys.executable, "-m", "phalanx", "-q", "serve", f"bench={adapter}",
        "--port", str(port), "--max-batch-size", str(args.max_batch_size),
        "--max-wait-ms", str(args.max_wait_ms), "--batching" if batching else "--no-batching",
        "--threads", str(args.threads), "--device", args.device,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PHALANX_API_KEY"}
    with open(log, "wb") as out:  # a file, not a pipe: uvicorn's access log never blocks
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.5)
    proc.kill()
    raise TimeoutError("server did not start within 300 s")


async def load(url: str, texts: list[str], clients: int, seconds: float, max_requests: int):
    """Latencies of successful requests and the error count, over ``seconds``."""
    latencies: list[float] = []
    errors = 0
    sent = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(c: httpx.AsyncClient, k: int) -> None:
        nonlocal errors, sent
        i = k
        while time.perf_counter() < stop and sent < max_requests:
            sent += 1
            t0 = time.perf_counter()
            try:
                r = await c.post("/v1/classify", json={"texts": [texts[i % len(texts)]]})
                ok = r.status_code == 200 and len(r.json()["results"]) == 1
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - t0)
            else:
                errors += 1
            i += clients

    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as c:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(c, k) for k in range(clients)))
        elapsed = time.perf_counter() - t0
    return latencies, errors, elapsed


def batch_stats(url: str) -> tuple[float, float]:
    """(forwards, texts) counted by the server's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    forwards = texts = 0.0
    for fam in text_string_to_metric_families(httpx.get(url + "/metrics").text):
        for s in fam.samples:
            if s.name == "phalanx_batch_size_count":
                forwards += s.value
            elif s.name == "phalanx_batch_size_sum":
                texts += s.value
    return forwards, texts


def model_ceiling(adapter: Path, texts: list[str], args, n: int = 256) -> dict:
    """The classifier alone (no HTTP), same device and threads as the server: ms per text
    at batch 1 and at --max-batch-size over the same sentences in arrival order. Their
    ratio bounds what any micro-batching can gain on this machine (it also saves the
    per-request HTTP work, which this leaves out)."""
    import torch

    import phalanx

    torch.set_num_threads(args.threads)
    clf = phalanx.load_classifier(adapter, device=args.device)
    sample = texts[:n]
    best = {1: float("inf"), args.max_batch_size: float("inf")}
    for _ in range(2):
        for b in best:
            t0 = time.perf_counter()
            for i in range(0, n, b):
                clf.classify(sample[i : i + b], batch_size=b)
            best[b] = min(best[b], (time.perf_counter() - t0) * 1000 / n)
    return {"batch1_ms": best[1], "batched_ms": best[args.max_batch_size]}


def run_mode(adapter: Path, batching: bool, texts: list[str], args, log: Path) -> dict:
    proc, url = start_server(adapter, batching, args, log)
    try:
        asyncio.run(load(url, texts, args.clients, args.warmup, 10**9))
        f0, t0 = batch_stats(url)
        lat, errors, elapsed = asyncio.run(
            load(url, texts, args.clients, args.duration, args.max_requests)
        )
        f1, t1 = batch_stats(url)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    ms = np.array(lat) * 1000
    return {
        "mode": "micro-batched" if batching else "one at a time",
        "requests": len(lat),
        "errors": errors,
        "rps": len(lat) / elapsed,
        "p50": float(np.percentile(ms, 50)) if len(ms) else float("nan"),
        "p99": float(np.percentile(ms, 99)) if len(ms) else float("nan"),
        "per_batch": (t1 - t0) / max(f1 - f0, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--adapter", type=Path, help="adapter folder (default: random deltas)")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--duration", type=float, default=20.0, help="seconds per mode")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds per mode, not counted")
    p.add_argument("--max-requests", type=int, default=50_000, help="cap per mode")
    p.add_argument("--max-batch-size", type=int, default=32)
    p.add_argument("--max-wait-ms", type=float, default=5.0)
    p.add_argument(
        "--threads", type=int, default=1, help="server's torch threads (1: shared 2-core box)"
    )
    p.add_argument("--rounds", type=int, default=2, help="batched, unbatched, batched, ...")
    p.add_argument("--device", default="cpu", help="the server's device (cpu, cuda, ...)")
    args = p.parse_args()
    if args.clients < 1 or args.duration <= 0:
        p.error("--clients must be >= 1 and --duration > 0")
    from phalanx.data import load_data

    texts = load_data("rotten_tomatoes").test.texts
    with tempfile.TemporaryDirectory() as tmp:
        adapter = args.adapter or random_adapter(Path(tmp))
        if not Path(adapter).is_dir():
            p.error(f"--adapter {str(adapter)!r} is not a folder")
        print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1/5 min), "
              f"{os.cpu_count()} cores; {args.clients} clients, {args.duration:g} s per mode, "
              f"1 sentence per request, adapter {adapter}")  # fmt: skip
        ceiling = model_ceiling(Path(adapter), texts, args)
        print(f"model alone, {args.threads} thread(s): {ceiling['batch1_ms']:.1f} ms/text at "
              f"batch 1, {ceiling['batched_ms']:.1f} at batch {args.max_batch_size}: batching "
              f"can gain at most {ceiling['batch1_ms'] / ceiling['batched_ms']:.2f}x in the "
              "model itself")  # fmt: skip
        log = Path(tmp) / "server.log"
        rows = []
        for k in range(args.rounds):  # alternating, so a change in machine load hits both
            for batching in (True, False):
                rows.append({"round": k + 1, **run_mode(Path(adapter), batching, texts, args, log)})
    print(f"\n{'round':<6} {'mode':<15} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
          f"{'requests':>9} {'texts/forward':>14}")  # fmt: skip
    for r in rows:
        print(f"{r['round']:<6} {r['mode']:<15} {r['rps']:>8.1f} {r['p50']:>8.1f} "
              f"{r['p99']:>8.1f} {r['errors']:>7} {r['requests']:>9} "
              f"{r['per_batch']:>14.1f}")  # fmt: skip
    ratios = [a["rps"] / b["rps"] for a, b in zip(rows[::2], rows[1::2], strict=True)]
    errors = sum(r["errors"] for r in rows)
    print(f"\nmicro-batched / one at a time, per round: "
          f"{', '.join(f'{x:.2f}x' for x in ratios)}; {errors} errors "
          "(bars: >= 3x at 16 clients, zero errors)")  # fmt: skip
    print(f"load after: {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
