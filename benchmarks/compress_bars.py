"""Issue 5's accuracy bars from finished ``phalanx compress`` runs, side by side.

Reads each run's metrics.json / sparsity.json / phalanx.json (nothing is retrained) and
prints one row per run: test accuracy, sparsity, structure, and the bar it is held to.
The QAT row is compared with the fp32 run of the same schedule when both are given.

    python benchmarks/compress_bars.py --gmp runs/compress-gmp80 \\
        --structured runs/compress-structured --qat runs/compress-qat \\
        --fp32 runs/compress-fp32 --teacher runs/full-minilm
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

BARS = {"gmp": 0.800, "structured": 0.790}


def _read(folder: str) -> dict:
    path = Path(folder)
    if (path / "adapter" / "phalanx.json").is_file():  # a phalanx train run folder
        meta = json.loads((path / "adapter" / "phalanx.json").read_text())
        return {"test": meta["metrics"]["test"], "sparsity": None, "meta": meta}
    if not (path / "metrics.json").is_file():
        raise SystemExit(f"{folder} has no metrics.json: is it a finished compress run?")
    metrics = json.loads((path / "metrics.json").read_text())
    meta = json.loads((path / "phalanx.json").read_text())
    return {**metrics, "meta": meta}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("gmp", "structured", "qat", "fp32", "teacher"):
        p.add_argument(f"--{name}", metavar="RUN", help=f"the {name} run folder")
    args = p.parse_args()
    rows = []
    runs = {k: _read(v) for k, v in vars(args).items() if v}
    for name, run in runs.items():
        acc = run["test"]["accuracy"]
        structure = (run["meta"].get("compress") or {}).get("structure") or {}
        shape = (
            f"heads {structure['heads_per_layer'][0]}, ffn {structure['ffn_per_layer'][0]}"
            if structure
            else "dense shapes"
        )
        bar = ""
        if name in BARS:
            ok = "met" if acc >= BARS[name] else "MISSED"
            bar = f">= {100 * BARS[name]:.1f}%: {ok}"
        if name == "qat":
            # "test" is the converted model (int8-grid weights, float activations); the int8
            # figure quantizes the activations too, per batch, as ONNX Runtime does
            dyn = run.get("test_int8_dynamic", {}).get("accuracy")
            if dyn is not None:
                bar = f"int8 (weights and activations) {100 * dyn:.2f}%"
                acc_int8 = dyn
            else:
                acc_int8 = acc
            if "fp32" in runs:
                gap = runs["fp32"]["test"]["accuracy"] - acc_int8
                ok = "met" if gap <= 0.01 else "MISSED"
                bar += f"; fp32 run - int8 = {100 * gap:+.2f} pts (<= 1.0: {ok})"
        sparsity = run.get("sparsity")
        shown = "-" if sparsity is None else f"{100 * sparsity:.1f}%"
        rows.append((name, f"{100 * acc:.2f}%", shown, shape, bar))
    print("| run | test accuracy | sparsity | shape per layer | bar |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
