"""phalanx serve against a peer server, and many adapters on one base, measured side by side.

Each row is a real server process on 127.0.0.1, started fresh, warmed up, then measured for
a fixed window: 16 concurrent clients, each posting ONE real rotten_tomatoes test sentence
per request, back to back (bounded by --max-requests). Modes alternate within a round and
their order flips each round (A B, B A, ...), so a drift in machine load hits all of them.
Reported: req/s, p50/p99 ms, errors, the CPU share of the server's process tree (% of one
core), of this client and of the competitor, RSS, the load average at each window's start.

Scenarios (--scenarios):
  quiet       `phalanx serve ADAPTER` with its defaults vs infinity-emb 0.0.78 on the same
              model merged into a plain transformers folder (bar: >= 3x req/s, p99 no worse)
  contention  the same with a CPU-bound process (2 threads of fp32 matmuls, our niceness)
              running through each window (bar: >= 1.5x), with each server's CPU share
  adapters    8 SpaRTA and 8 LoRA adapters on one MiniLM base, requests spread uniformly:
              --adapter-batching mixed vs switch (bar: mixed >= 1.3x), RSS of 8 vs 1 adapter
  gemma       a gemma-2b-shaped classifier from its config (random weights) with 8 SpaRTA
              adapters: mixed vs switch vs one at a time (--no-batching); the default with
              --device cuda; --tiny runs it at tiny sizes (a CPU check of the code path)

    bash benchmarks/peers/setup_infinity.sh        # once: infinity in benchmarks/.venv-infinity
    python benchmarks/serve_peers.py               # quiet, contention, adapters; 2 rounds x 20 s
    python benchmarks/serve_peers.py --scenarios adapters --seconds 3 --rounds 1
    python benchmarks/serve_peers.py --device cuda          # on a lent GPU machine: gemma
    python benchmarks/serve_peers.py --scenarios gemma --tiny --seconds 3 --rounds 1

Generated models go to --work (default runs/bench-peers, reused between runs). Never asserts:
it prints the figures, the bars and whether each was met.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import httpx
from _common import machine_load, test_sentences
from peers import make_adapters
from peers.servers import (
    Competitor,
    Mode,
    Server,
    infinity_mode,
    infinity_ready,
    measure,
    phalanx_mode,
)

ROOT = Path(__file__).resolve().parents[1]
ALL = ("quiet", "contention", "adapters", "gemma")


def run_rounds(modes: list[Mode], texts, args, scenario: str, competitor=False) -> list[dict]:
    """Every mode once per round, the order flipped each round; one row per window."""
    rows = []
    for k in range(args.rounds):
        for mode in modes if k % 2 == 0 else modes[::-1]:
            log = args.work / "logs" / f"{scenario}-{mode.name}-{k + 1}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            server = Server(mode, log)
            rival = Competitor(2, args.warmup + args.seconds + 5) if competitor else None
            try:
                row = measure(server, texts, args, rival)
            finally:
                if rival:
                    rival.stop()
                server.stop()
            rows.append({"scenario": scenario, "round": k + 1, **row})
            print(
                f"  {scenario} round {k + 1} {mode.name}: {row['rps']:.1f} req/s, p99 "
                f"{row['p99']:.0f} ms, {row['errors']} errors, server {row['cpu']:.0f}% CPU "
                f"(ready after {row['start_s']:.0f} s)",
                flush=True,
            )
    return rows


def agreement(modes: list[Mode], texts: list[str], args) -> str:
    """Top labels of the first --agree-n sentences from each mode, compared to the first's."""
    labels = {}
    for mode in modes:
        server = Server(mode, args.work / "logs" / f"agree-{mode.name}.log")
        try:
            n = args.agree_n
            labels[mode.name] = [
                x for i in range(0, n, 32) for x in server.classify(texts[i : min(i + 32, n)])
            ]
        except httpx.HTTPError as err:  # reported, not fatal: the load rows still count
            labels[mode.name] = f"failed ({err.__class__.__name__}: {str(err)[:80]})"
        finally:
            server.stop()
    answered = [name for name, got in labels.items() if not isinstance(got, str)]
    ref = answered[0] if answered else modes[0].name
    parts = []
    for name, got in labels.items():
        if isinstance(got, str):
            parts.append(f"{name} {got}")
        elif name != ref:
            same = sum(a == b for a, b in zip(labels[ref], got, strict=True))
            parts.append(f"{name} {same}/{len(got)}")
    return f"top labels equal to {ref}'s on {args.agree_n} sentences: {', '.join(parts)}"


def ratio_line(rows: list[dict], fast: str, slow: str, bar: float) -> str:
    """Per round: fast/slow req/s and both p99s, and the bar met or not."""
    parts, ok = [], True
    for k in sorted({r["round"] for r in rows}):
        a = next(r for r in rows if r["round"] == k and r["mode"] == fast)
        b = next(r for r in rows if r["round"] == k and r["mode"] == slow)
        x = a["rps"] / b["rps"] if b["rps"] else float("inf")
        ok &= x >= bar and a["p99"] <= b["p99"]
        parts.append(f"{x:.2f}x (p99 {a['p99']:.0f} vs {b['p99']:.0f} ms)")
    errors = sum(r["errors"] for r in rows)
    ok &= errors == 0
    return (
        f"{fast} / {slow}, per round: {'; '.join(parts)}; {errors} errors; "
        f"bar >= {bar:g}x, p99 no worse, zero errors: {'met' if ok else 'NOT met'}"
    )


def quiet_and_contention(args, texts, which: list[str]) -> tuple[list[dict], list[str]]:
    adapter = args.adapter.resolve()
    merged = make_adapters.merged_model(adapter, args.work / "merged")
    phalanx = [
        phalanx_mode(
            f"phalanx-{rt}" if rt != "auto" else "phalanx",
            {"bench": adapter},
            [] if rt == "auto" else ["--runtime", rt],
        )
        for rt in args.phalanx_runtimes
    ]
    infinity = infinity_mode("infinity", merged, shlex.split(args.infinity_args))
    modes = [*phalanx, infinity]
    notes = [
        agreement(
            [
                phalanx_mode("phalanx-torch", {"bench": adapter}, ["--runtime", "torch"]),
                *phalanx,
                infinity,
            ],
            texts,
            args,
        )
    ]
    print(notes[0], flush=True)
    rows = []
    for scenario in which:
        rows += run_rounds(modes, texts, args, scenario, competitor=scenario == "contention")
        bar = 3.0 if scenario == "quiet" else 1.5
        notes += [
            f"{scenario}: "
            + ratio_line([r for r in rows if r["scenario"] == scenario], p.name, "infinity", bar)
            for p in phalanx
        ]
    return rows, notes


def many_adapters(
    args, texts, method: str, base: str, root: Path, scenario: str, device: str
) -> tuple[list[dict], list[str]]:
    """N adapters of ``method`` on ``base`` (made once under ``root``), mixed vs switch."""
    paths = [root / f"{method}-{k}" for k in range(args.n_adapters)]
    if not all((p / "phalanx.json").is_file() for p in paths):
        if method == "sparta":
            paths = make_adapters.sparta_adapters(
                root, args.n_adapters, base, device=device, same_labels=args.same_labels
            )
        else:
            paths = make_adapters.lora_adapters(
                root, args.n_adapters, base, same_labels=args.same_labels
            )
    models = {f"{method}{k}": p for k, p in enumerate(paths)}
    common = ["--runtime", "torch", "--device", device]
    modes = [
        phalanx_mode(f"{method}-mixed", models, [*common, "--adapter-batching", "mixed"]),
        phalanx_mode(f"{method}-switch", models, [*common, "--adapter-batching", "switch"]),
    ]
    if scenario == "gemma":
        modes.append(
            phalanx_mode(
                f"{method}-one-at-a-time",
                models,
                [*common, "--adapter-batching", "switch", "--no-batching"],
            )
        )
    rows = run_rounds(modes, texts, args, scenario)
    notes = [f"{scenario}: " + ratio_line(rows, modes[0].name, m.name, 1.3) for m in modes[1:]]
    # memory: the same runtime with the first adapter alone
    one = phalanx_mode(f"{method}-1-adapter", dict(list(models.items())[:1]), common)
    single = run_rounds([one], texts, _one_round(args), scenario)[0]
    many = [r for r in rows if r["mode"] == modes[0].name]
    rss8 = max(r["rss"] for r in many)
    peak8 = max(r["peak"] for r in many)
    notes.append(
        f"{scenario} {method}: server memory with {len(paths)} adapters {rss8:.0f} MiB "
        f"RSS (peak {peak8:.0f}) vs 1 adapter {single['rss']:.0f} MiB (peak "
        f"{single['peak']:.0f}): {rss8 / single['rss']:.2f}x, "
        f"+{(rss8 - single['rss']) / max(len(paths) - 1, 1):.1f} MiB per extra adapter"
    )
    return [*rows, single], notes


def _first_line(err: BaseException) -> str:
    """The error's message up to the server log's traceback, and the log's last line."""
    text = str(err).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return f"{lines[0][:200]} ... {lines[-1][:300]}" if len(lines) > 1 else text[:300]


def _one_round(args):
    out = argparse.Namespace(**vars(args))
    out.rounds = 1
    return out


def print_report(rows: list[dict], notes: list[str], before: str) -> None:
    head = (
        "| scenario | round | mode | req/s | p50 ms | p99 ms | errors | server CPU % | "
        "client CPU % | rival CPU % | RSS MiB | load at start |"
    )
    print("\n" + head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        rival = "" if r["rival_cpu"] != r["rival_cpu"] else f"{r['rival_cpu']:.0f}"
        print(
            f"| {r['scenario']} | {r['round']} | {r['mode']} | {r['rps']:.1f} | "
            f"{r['p50']:.0f} | {r['p99']:.0f} | {r['errors']} | {r['cpu']:.0f} | "
            f"{r['client_cpu']:.0f} | {rival} | {r['rss']:.0f} | {r['load']:.2f} |"
        )
    bad = {r["mode"]: r["statuses"] for r in rows if r["errors"]}
    if bad:
        print(f"\nerrors by status: {bad}")
    print()
    for note in notes:
        print(f"- {note}")
    print(f"\nbefore: {before}\nafter:  {machine_load()}")
    cmd = " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    print(f"command: python {cmd}")


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--scenarios",
        help=f"comma list of {', '.join(ALL)} (default: all but "
        "gemma on a CPU, gemma with --device cuda)",
    )
    p.add_argument(
        "--adapter",
        type=Path,
        default=ROOT / "runs/demo/adapter",
        help="the SpaRTA adapter of quiet/contention (default: make demo's)",
    )
    p.add_argument(
        "--work",
        type=Path,
        default=ROOT / "runs/bench-peers",
        help="where generated models and server logs go (reused)",
    )
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--seconds", type=float, default=20.0, help="measured window per row")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds per row, not counted")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--max-requests", type=int, default=100_000, help="cap per window")
    p.add_argument("--n-adapters", type=int, default=8)
    p.add_argument(
        "--phalanx-runtimes",
        default="auto",
        help="comma list of --runtime values to run against infinity (auto: "
        "phalanx's defaults, no flag)",
    )
    p.add_argument(
        "--infinity-args",
        default="",
        help="extra infinity_emb v2 flags (default: infinity's own defaults)",
    )
    p.add_argument("--agree-n", type=int, default=128, help="sentences of the label check")
    p.add_argument("--device", default="cpu", help="the gemma scenario's device")
    p.add_argument("--tiny", action="store_true", help="gemma at tiny sizes (a CPU check)")
    p.add_argument(
        "--same-labels",
        action="store_true",
        help="every generated adapter has 2 labels (default: 2 and 3 alternate, so a mixed "
        "batch holds heads of different sizes)",
    )
    args = p.parse_args()
    if args.clients < 1 or args.seconds <= 0 or args.rounds < 1 or args.n_adapters < 1:
        p.error("--clients, --rounds and --n-adapters must be >= 1 and --seconds > 0")
    default = "gemma" if args.device.startswith("cuda") else "quiet,contention,adapters"
    which = [s.strip() for s in (args.scenarios or default).split(",") if s.strip()]
    unknown = sorted(set(which) - set(ALL))
    if unknown:
        p.error(f"unknown scenario {unknown[0]!r}; choose from {', '.join(ALL)}")
    args.phalanx_runtimes = [r.strip() for r in args.phalanx_runtimes.split(",") if r.strip()]
    peer = [s for s in which if s in ("quiet", "contention")]
    if peer and not infinity_ready():
        p.error("infinity is not installed: run bash benchmarks/peers/setup_infinity.sh")
    if peer and not args.adapter.is_dir():
        p.error(f"--adapter {str(args.adapter)!r} is not a folder (make demo writes the default)")
    args.work.mkdir(parents=True, exist_ok=True)
    texts, source = test_sentences()
    before = machine_load()
    print(
        f"{before}; {args.clients} clients, 1 sentence per request ({source}), "
        f"{args.warmup:g} s warm-up + {args.seconds:g} s per row, {args.rounds} round(s)",
        flush=True,
    )
    rows, notes = [], []
    if peer:
        r, n = quiet_and_contention(args, texts, peer)
        rows, notes = rows + r, notes + n
    labels = "same-labels" if args.same_labels else "mixed-labels"
    if "adapters" in which:
        for method in ("sparta", "lora"):
            root = args.work / f"minilm-adapters-{labels}"
            try:
                r, n = many_adapters(args, texts, method, "minilm-l6", root, "adapters", "cpu")
            except (RuntimeError, TimeoutError) as err:  # one scenario failing ends no other
                r, n = [], [f"adapters {method}: could not run: {_first_line(err)}"]
            rows, notes = rows + r, notes + n
    if "gemma" in which:
        name = "gemma-tiny" if args.tiny else "gemma-2b"
        base = make_adapters.gemma_base(args.work / name, args.tiny, texts, args.device)
        root = args.work / f"{name}-adapters-{labels}"
        try:
            r, n = many_adapters(args, texts, "sparta", str(base), root, "gemma", args.device)
        except (RuntimeError, TimeoutError) as err:
            r, n = [], [f"gemma sparta: could not run: {_first_line(err)}"]
        rows, notes = rows + r, notes + n
    print_report(rows, notes, before)


if __name__ == "__main__":
    main()
