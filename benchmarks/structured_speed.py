"""CPU inference speed of real MiniLM, dense vs structurally pruned (issue 5's 1.4x bar).

Builds the built-in ``minilm-l6`` as a 2-label classifier, copies it, removes 50% of the
feed-forward neurons and a third of the attention heads of every layer (magnitude
importance), and times both on the rotten_tomatoes test sentences in one process, taking
turns in every round:

- ``forward``: the model alone on pre-tokenized, length-sorted batches (what pruning changes);
- ``classify``: ``load_classifier(folder).classify(texts)``, tokenization included;
- ``onnx``: ONNX Runtime through ``phalanx.export`` (fp32), when that package is installed.

Speed is the same with trained or untrained weights, so no fine-tuning happens here.

    python benchmarks/structured_speed.py                  # all CPU threads
    PHALANX_BENCH_THREADS=1 python benchmarks/structured_speed.py --rounds 5
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import median, set_threads, test_sentences, time_it

LABELS = {0: "negative", 1: "positive"}


def batches(tokenizer, texts: list[str], batch_size: int) -> list[dict[str, torch.Tensor]]:
    """Length-sorted padded batches, as ``classify`` builds them."""
    enc = tokenizer(texts, truncation=True, max_length=128)["input_ids"]
    order = sorted(range(len(texts)), key=lambda i: len(enc[i]))
    out = []
    for i in range(0, len(order), batch_size):
        chunk = [texts[j] for j in order[i : i + batch_size]]
        out.append(
            dict(
                tokenizer(chunk, padding=True, truncation=True, max_length=128, return_tensors="pt")
            )
        )
    return out


def save_folders(root: Path, dense, pruned, tokenizer) -> tuple[Path, Path]:
    from phalanx.compress.structured import save_pruned
    from phalanx.methods.full import FullMethodConfig, apply_full, save_full

    apply_full(dense, FullMethodConfig())
    dense_dir = save_full(dense, root / "dense", base_model="minilm-l6")
    pruned_dir = save_pruned(pruned, tokenizer, root / "pruned", {"base_model": "minilm-l6"})
    return dense_dir, pruned_dir


def onnx_pipelines(root: Path, folders: dict[str, Path], batch_size: int) -> dict:
    """ONNX Runtime pipelines over fp32 exports of both folders ({} without phalanx.export)."""
    try:
        from phalanx.export import Pipeline, export_onnx
    except ImportError as err:
        print(f"onnx: skipped ({err})")
        return {}
    return {
        name: Pipeline.create(
            model_path=str(export_onnx(folder, root / f"{name}-onnx")),
            batch_size=batch_size,
            num_threads=torch.get_num_threads(),  # the same threads as PyTorch
        )
        for name, folder in folders.items()
    }


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--heads-fraction", type=float, default=1 / 3)
    p.add_argument("--ffn-fraction", type=float, default=0.5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--chunk", type=int, default=128, help="sentences per timed classify call")
    p.add_argument("--no-onnx", action="store_true", help="time PyTorch only")
    args = p.parse_args()
    set_threads()
    from phalanx import load_classifier
    from phalanx.compress.structured import prune_structured
    from phalanx.models.loading import load_base_classifier, load_tokenizer

    texts, source = test_sentences()
    dense = load_base_classifier("minilm-l6", LABELS).eval()
    tokenizer = load_tokenizer("minilm-l6", dense)
    pruned = copy.deepcopy(dense)
    report = prune_structured(
        pruned, heads_fraction=args.heads_fraction, ffn_fraction=args.ffn_fraction
    )
    print(
        f"structured pruning of minilm-l6: heads {report['heads_per_layer'][0]}/12, "
        f"FFN neurons {report['ffn_per_layer'][0]}/1536 per layer; parameters "
        f"{report['parameters_before'] / 1e6:.2f}M -> {report['parameters_after'] / 1e6:.2f}M "
        f"(encoder layers only shrink; embeddings stay)"
    )
    print(
        f"{len(texts)} sentences ({source}), batch {args.batch_size}, "
        f"threads={torch.get_num_threads()}, rounds={args.rounds} (median), "
        f"classify chunks of {args.chunk}"
    )
    data = batches(tokenizer, texts, args.batch_size)
    chunks = [texts[i : i + args.chunk] for i in range(0, len(texts), args.chunk)]

    def forward(model, i: int) -> None:
        with torch.inference_mode():
            model(**data[i])

    with tempfile.TemporaryDirectory() as tmp:
        folders = dict(
            zip(("dense", "pruned"), save_folders(Path(tmp), dense, pruned, tokenizer), strict=True)
        )
        clfs = {name: load_classifier(folder) for name, folder in folders.items()}
        runs = {
            "forward": (
                {"dense": partial(forward, dense), "pruned": partial(forward, pruned)},
                len(data),
            ),
            "classify": (
                {
                    name: lambda i, clf=clf: clf.classify(chunks[i], batch_size=args.batch_size)
                    for name, clf in clfs.items()
                },
                len(chunks),
            ),
        }
        if not args.no_onnx:
            pipes = onnx_pipelines(Path(tmp), folders, args.batch_size)
            if pipes:
                fns = {
                    name: lambda i, p=pipe: p.classify(chunks[i]) for name, pipe in pipes.items()
                }
                runs["onnx"] = (fns, len(chunks))
        results = {kind: interleaved(fns, n, args.rounds) for kind, (fns, n) in runs.items()}
    print(
        f"{'path':>9} {'dense s/s':>10} {'pruned s/s':>11} {'speed-up':>9} {'per-chunk':>10}"
        "   (sentences per second; per-chunk: median ratio of paired chunk timings)"
    )
    for kind, (totals, ratio) in results.items():
        rate = {name: len(texts) / t for name, t in totals.items()}
        print(
            f"{kind:>9} {rate['dense']:>10.1f} {rate['pruned']:>11.1f} "
            f"{rate['pruned'] / rate['dense']:>8.2f}x {ratio:>9.2f}x"
        )


def interleaved(
    fns: dict[str, Callable[[int], object]], n_chunks: int, rounds: int
) -> tuple[dict[str, float], float]:
    """Time dense and pruned chunk by chunk, alternating which goes first.

    Pairing every chunk keeps the comparison fair on a shared, noisy machine: both see the
    same load. Returns the median per-round total seconds of each, and the median over all
    chunks of the dense / pruned time ratio. A first untimed pass warms both up.
    """
    for fn in fns.values():
        for i in range(n_chunks):
            fn(i)
    totals: dict[str, list[float]] = {name: [] for name in fns}
    ratios = []
    for r in range(rounds):
        spent = dict.fromkeys(fns, 0.0)
        for i in range(n_chunks):
            order = list(fns) if (i + r) % 2 == 0 else list(reversed(fns))
            pair = {}
            for name in order:
                pair[name] = time_it(partial(fns[name], i), "cpu", 1)[0]
                spent[name] += pair[name]
            ratios.append(pair["dense"] / pair["pruned"])
        for name, t in spent.items():
            totals[name].append(t)
    return {name: median(t) for name, t in totals.items()}, median(ratios)


if __name__ == "__main__":
    main()
