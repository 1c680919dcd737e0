"""``phalanx compress`` and the recipe half of ``phalanx validate``."""

from __future__ import annotations

import argparse

from .args import CliError
from .common import AddParser, add_config_arguments, config_options, is_rank_zero

__all__ = ["add", "validate_recipe"]

_HELP = "prune, distil and quantize a classifier with a SparseML-style recipe"
_DESCRIPTION = (
    "Fine-tune a model under a recipe (gradual or constant magnitude pruning, structured "
    "pruning of heads and FFN neurons, distillation from a teacher, quantization-aware "
    "training, learning-rate and weight-decay schedules) and save a model folder that "
    "'phalanx classify' loads, with recipe.yaml, sparsity.json and metrics.json."
)
_EXAMPLES = """\
examples:
  phalanx compress --recipe examples/recipes/minilm_gmp80_distill.yaml \\
      --model minilm-l6 --dataset rotten_tomatoes --teacher runs/full-minilm -o runs/gmp80
  phalanx compress --recipe examples/recipes/minilm_structured_distill.yaml \\
      --teacher runs/full-minilm -o runs/structured
  phalanx compress --recipe examples/recipes/minilm_qat_int8.yaml -o runs/qat
  phalanx compress --recipe transfer.yaml --model runs/gmp80 --method sparta \\
      --method-options density=0.01 -o runs/gmp80-sparta   # SpaRTA on a pruned base
  phalanx validate examples/recipes/sst2_pruned90_quant_transfer.yaml
"""


def add(sub: argparse._SubParsersAction, add_parser: AddParser) -> None:
    """Register ``phalanx compress``."""
    add_parser(sub, "compress", _HELP, _DESCRIPTION, _EXAMPLES, run=_cmd_compress, build=_arguments)


def _arguments(p: argparse.ArgumentParser) -> None:
    from ..compress.config import COMPRESS_METHODS, CompressConfig
    from ..training.config import DEVICES, PRECISIONS

    choices = {"method": list(COMPRESS_METHODS), "device": DEVICES, "precision": PRECISIONS}
    add_config_arguments(p, CompressConfig, choices)


def _cmd_compress(args: argparse.Namespace) -> int:
    from ..compress.config import CompressConfig
    from ..compress.run import compress

    options = config_options(args)
    if not options.get("recipe"):
        raise CliError("give the recipe: phalanx compress --recipe RECIPE.yaml ...")
    result = compress(CompressConfig.from_dict(options))
    if not is_rank_zero():
        return 0
    print(f"sparsity of the pruned weights: {100 * result.sparsity['overall']:.1f}%")
    if result.structure:
        s = result.structure
        print(
            f"structure: heads per layer {s['heads_per_layer']}, FFN neurons per layer "
            f"{s['ffn_per_layer']} ({s['parameters_before']:,} -> {s['parameters_after']:,} "
            "parameters)"
        )
    print(f"test ({result.test.get('n', 0)} examples):")
    print(result.test)
    if result.recovery is not None:
        print(
            f"teacher test accuracy: {100 * result.teacher['test']:.2f}% (the student keeps "
            f"{100 * result.recovery:.1f}% of it)"
        )
    print(f"model: {result.output_dir}")
    print(f'classify: phalanx classify {result.output_dir} "some text"')
    return 0


def validate_recipe(path: str) -> int:
    """Parse a recipe and print what it would do (``phalanx validate RECIPE.yaml``)."""
    from ..compress.recipe import load_recipe

    recipe = load_recipe(path)
    print(f"{path}: OK (recipe)")
    print(f"  epochs: {recipe.num_epochs:g}")
    if recipe.init_lr is not None:
        print(f"  initial learning rate: {recipe.init_lr:g}")
    for line in recipe.summary():
        print(f"  {line}")
    if recipe.distillation is not None:
        print("  needs --teacher (the recipe distils)")
    return 0
