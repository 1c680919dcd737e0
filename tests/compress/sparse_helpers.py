"""Shared pieces of the recipe / pruning / distillation tests (tiny BERT, toy data)."""

from __future__ import annotations

from pathlib import Path

import torch

from tests.test_train import write_toy_csv

RECIPES = Path(__file__).parents[2] / "examples" / "recipes"
SEED_RECIPE = RECIPES / "sst2_pruned90_quant_transfer.yaml"


def write_recipe(folder: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def toy_data(folder: Path, n: int = 48) -> Path:
    """48 toy sentences: 38 train / 5 validation / 5 test after the 10% carve-outs."""
    return write_toy_csv(folder / "toy.csv", n=n)


def run_options(base: Path, data: Path, out: Path, **kw) -> dict:
    opts = dict(
        model=str(base), dataset=str(data), output=str(out), batch_size=8,
        eval_batch_size=16, max_length=16, progress=False, logging_steps=50,
    )  # fmt: skip
    opts.update(kw)
    return opts


def sparsify(base: Path, out: Path, sparsity: float = 0.5) -> Path:
    """A copy of the tiny model whose encoder Linear weights are ``sparsity`` zeros."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from phalanx.compress.prune import MaskSet, prunable_parameters

    model = AutoModelForSequenceClassification.from_pretrained(base)
    masks = MaskSet(prunable_parameters(model))
    masks.set_sparsity(sparsity)
    masks.remove()
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    return out


def zero_positions(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    from phalanx.compress.prune import prunable_parameters

    return {n: (p == 0) for n, p in prunable_parameters(model).items()}
