"""Trivial baselines for multi-label and regression data, beside a ``phalanx compare`` run.

A figure means little without the one a model that reads nothing gets: for multi-label data
the most frequent label set of train predicted for every test text (its per-label scores
are the train prevalences, which gives mAP its floor); for regression the train mean
predicted for every text (Spearman and Pearson are then 0). Printed with the same metric
code as training (``phalanx.problems.metrics.evaluation_for``), on the same split (dataset,
``--limit`` and ``--seed`` as the compare run), and, with ``--compare DIR``, beside that
run's methods (ratios to the baseline in the last column).

    python benchmarks/problem_baselines.py pubmed_mesh --limit 2000 --compare runs/cmp-mesh
    python benchmarks/problem_baselines.py rotten_tomatoes_scores --limit 3000
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from pathlib import Path

import torch

from phalanx.data import load_data
from phalanx.data.targets import multi_hot
from phalanx.problems import Problem
from phalanx.problems.metrics import evaluation_for

HEADLINES = {
    "multi_label": ("micro_f1", "macro_f1", "mean_average_precision"),
    "regression": ("spearman", "pearson", "mse"),
}


def baseline(dataset: str, limit: int | None, seed: int) -> tuple[str, dict]:
    """The problem type and the trivial baseline's test metrics."""
    splits = load_data(dataset, limit=limit, seed=seed)
    train, test, names = splits.train, splits.test, splits.label_names
    if splits.problem_type == "multi_label":
        top_set = Counter(train.labels).most_common(1)[0][0]
        prevalence = torch.tensor(multi_hot(train.labels, len(names))).mean(0).clamp(1e-6, 1 - 1e-6)
        # logits whose sigmoid is the prevalence, shifted so exactly the top set is >= 0.5
        logits = torch.logit(prevalence).repeat(len(test), 1)
        chosen = torch.zeros(len(names), dtype=torch.bool)
        chosen[list(top_set)] = True
        logits = torch.where(chosen, logits.abs() + 1e-3, -logits.abs() - 1e-3)
        y = torch.tensor(multi_hot(test.labels, len(names)))
        ev = evaluation_for(Problem("multi_label", (0.5,)), logits, y, names)
    elif splits.problem_type == "regression":
        mean = sum(train.labels) / len(train.labels)
        logits = torch.full((len(test), 1), mean)
        ev = evaluation_for(Problem("regression"), logits, torch.tensor(test.labels), names)
    else:
        raise SystemExit(f"{dataset} is {splits.problem_type} data; this script is for the others")
    return splits.problem_type, dict(ev)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dataset")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--compare", type=Path, help="a phalanx compare folder (compare.json)")
    args = p.parse_args()
    kind, ev = baseline(args.dataset, args.limit, args.seed)
    keys = HEADLINES[kind]
    rows = [("baseline", {k: ev[k] for k in keys})]
    if args.compare:
        found = json.loads((args.compare / "compare.json").read_text())
        for row in found["rows"]:
            rows.append((row["method"], {k: row.get(f"test_{k}") for k in keys}))
    print(
        f"{args.dataset} test split ({kind}); baseline: "
        + ("most frequent label set" if kind == "multi_label" else "train mean")
    )
    print(f"{'':>10}" + "".join(f"{k:>24}" for k in keys))
    for name, m in rows:
        cells = "".join(f"{_num(m[k]):>24}" for k in keys)
        print(f"{name:>10}{cells}")


def _num(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.4f}"


if __name__ == "__main__":
    main()
