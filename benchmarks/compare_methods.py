"""Train every method on one model and dataset; tabulate accuracy, size, time and memory.

Each method runs in a fresh process (so peak memory is its own), with the same data split,
seed, epochs, batch size and max length; learning rates are each method's default (from
its registry entry) unless --lr is given.

    python benchmarks/compare_methods.py                        # minilm-l6, rotten_tomatoes
    python benchmarks/compare_methods.py --methods sparta,lora --limit 2000 --epochs 1
    python benchmarks/compare_methods.py --model smollm2-135m --methods sparta,lora
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

DEFAULT_METHODS = "sparta,lora,ia3,head,ptuning,prompt_tuning,full"


def run_one(args) -> None:
    """Child process: one training run; prints a JSON line with the figures."""
    from phalanx.training import TrainConfig, train

    config = TrainConfig(
        method=args.one,
        model=args.model,
        dataset=args.dataset,
        epochs=args.epochs,
        limit=args.limit,
        output=str(Path(args.output) / args.one),
        overwrite=True,
        lr=args.lr,
        layer_lr_decay=args.layer_lr_decay,
        batch_size=args.batch_size,
        seed=args.seed,
        progress=False,
        max_length=args.max_length,
    )
    result = train(config)
    size = sum(f.stat().st_size for f in result.adapter_path.rglob("*") if f.is_file())
    print(
        json.dumps(
            {
                "method": args.one,
                "test_accuracy": result.test["accuracy"],
                "test_macro_f1": result.test.get("macro-F1"),
                "validation_accuracy": result.validation.get(
                    "eval_accuracy", result.validation.get("accuracy")
                ),
                "trainable": result.trainable_parameters,
                "adapter_mb": size / 1e6,
                "train_minutes": result.train_seconds / 60,
                "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                "lr": config.resolved_lr(),
            }
        )
    )


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", default="minilm-l6")
    p.add_argument("--dataset", default="rotten_tomatoes")
    p.add_argument("--methods", default=DEFAULT_METHODS)
    p.add_argument("--epochs", type=float, default=3)
    p.add_argument("--limit", type=int, default=None, help="examples per split (quick runs)")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument(
        "--layer-lr-decay", type=float, default=1.0, help="layer-wise lr decay (1 = off)"
    )
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--output", default="runs/compare")
    p.add_argument("--one", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        return run_one(args)
    rows = []
    for method in args.methods.split(","):
        cmd = [
            sys.executable,
            __file__,
            "--one",
            method,
            "--model",
            args.model,
            "--dataset",
            args.dataset,
            "--epochs",
            str(args.epochs),
            "--seed",
            str(args.seed),
            "--output",
            args.output,
            "--max-length",
            str(args.max_length),
            "--batch-size",
            str(args.batch_size),
            "--layer-lr-decay",
            str(args.layer_lr_decay),
        ]
        if args.limit:
            cmd += ["--limit", str(args.limit)]
        if args.lr:
            cmd += ["--lr", str(args.lr)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
            print(f"{method}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    print(
        f"\n{args.model} on {args.dataset}, {args.epochs} epochs, batch {args.batch_size}, "
        f"seed {args.seed}" + (f", limit {args.limit}" if args.limit else "")
    )
    print("| method | lr | trainable | test acc % | macro-F1 | adapter MB | train min | peak GiB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['method']} | {r['lr']:g} | {r['trainable']:,} | {100 * r['test_accuracy']:.1f} "
            f"| {r['test_macro_f1']:.3f} | {r['adapter_mb']:.2f} | {r['train_minutes']:.1f} "
            f"| {r['peak_rss_gib']:.2f} |"
        )
    Path(args.output).mkdir(parents=True, exist_ok=True)
    (Path(args.output) / "compare.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
