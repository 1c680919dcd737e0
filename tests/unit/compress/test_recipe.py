"""Recipes: the seed's YAML parses unchanged; every bad recipe gets a named error."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from phalanx.cli.parser import main
from phalanx.compress.callbacks import lr_factor
from phalanx.compress.modifiers import (
    ConstantPruningModifier,
    DistillationModifier,
    EpochRangeModifier,
    GMPruningModifier,
    LearningRateFunctionModifier,
    QuantizationModifier,
    SetWeightDecayModifier,
)
from phalanx.compress.recipe import load_recipe, parse_recipe
from tests.helpers import RECIPES, SEED_RECIPE

SEED = Path(__file__).parents[3].parent / "shared" / "seeds" / "004_28c4e3336beb72cc.txt"


def test_example_copy_is_the_seed_recipe_verbatim():
    if not SEED.is_file():
        pytest.skip("../shared/seeds is not present")
    block = re.search(r"```yaml\n(.*?)```", SEED.read_text(), re.DOTALL).group(1)
    assert SEED_RECIPE.read_text() == block


def test_seed_recipe_parses_to_the_expected_modifiers():
    r = load_recipe(SEED_RECIPE)
    assert [type(m) for m in r.modifiers] == [
        EpochRangeModifier, LearningRateFunctionModifier, QuantizationModifier,
        DistillationModifier, ConstantPruningModifier, SetWeightDecayModifier,
    ]  # fmt: skip
    rng, lr, q, d, c, wd = r.modifiers
    assert (rng.start_epoch, rng.end_epoch, r.num_epochs) == (0.0, 13.0, 13.0)
    assert (lr.lr_func, lr.init_lr, lr.final_lr, lr.end_epoch) == ("linear", 1.5e-4, 0, 13.0)
    assert (q.start_epoch, q.disable_quantization_observer_epoch) == (8.0, 12.0)
    assert q.quantize_embeddings is True and q.quantize_linear_activations is False
    assert q.exclude_module_types == ["LayerNorm", "Tanh"]
    assert q.submodules == ["bert.embeddings", "bert.encoder", "bert.pooler", "classifier"]
    assert (d.hardness, d.temperature, d.distill_output_keys) == (1.0, 2.0, ["logits"])
    assert c.params == "__ALL_PRUNABLE__" and c.start_epoch == 0.0
    assert wd.weight_decay == 0.01 and r.weight_decay == 0.01 and r.init_lr == 1.5e-4
    assert r.variables["num_epochs"] == 13 and r.variables["version"] == "1.1.0"


@pytest.mark.parametrize("path", sorted(RECIPES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_recipe_parses(path):
    r = load_recipe(path)
    assert r.num_epochs > 0 and r.modifiers


def test_modifiers_list_markdown_front_matter_and_arithmetic():
    text = """---
epochs: 4
half: eval(epochs / 2)
init_lr: 1e-4
modifiers:
  - !EpochRangeModifier {start_epoch: 0, end_epoch: eval(epochs)}
  - !LearningRateFunctionModifier
      {start_epoch: 0, end_epoch: eval(epochs), lr_func: cosine, init_lr: eval(init_lr * 2)}
  - !GMPruningModifier
      start_epoch: eval(half - 1)
      end_epoch: eval(half)
      final_sparsity: eval(1 - 0.3)
      params: ["re:.*query.weight", bert.encoder.layer.0.output.dense.weight]
---
# Notes

Markdown below the front matter is ignored.
"""
    r = parse_recipe(text)
    gmp = r.one(GMPruningModifier)
    assert (gmp.start_epoch, gmp.end_epoch, gmp.final_sparsity) == (1.0, 2.0, pytest.approx(0.7))
    assert gmp.params == ["re:.*query.weight", "bert.encoder.layer.0.output.dense.weight"]
    assert r.init_lr == pytest.approx(2e-4) and r.num_epochs == 4


@pytest.mark.parametrize(
    "body, message",
    [
        ("- !FooModifier {}", "!FooModifier is not supported; supported modifiers: "
         "ConstantPruningModifier, DistillationModifier"),
        ("- !GMPruningModifier {end_epoch: 2, sparsity: 0.5}",
         "GMPruningModifier does not take field(s) sparsity; its fields: start_epoch"),
        ("- !GMPruningModifier {end_epoch: 2, final_sparsity: 1.2}",
         "final_sparsity must be in [0, 1)"),
        ("- !GMPruningModifier {end_epoch: 2, mask_type: block4}", "mask_type 'block4'"),
        ("- !LearningRateFunctionModifier {end_epoch: 2, lr_func: step, init_lr: 0.1}",
         "lr_func 'step' is not supported; use one of linear, cosine"),
        ("- !DistillationModifier {hardness: 2}", "hardness must be in [0, 1]"),
        ("- !DistillationModifier {distill_output_keys: [hidden_states]}", "use [logits]"),
        ("- !EpochRangeModifier {end_epoch: eval(epochs)}",
         "names variable 'epochs', which the recipe does not define"),
        ("- !EpochRangeModifier {end_epoch: eval(__import__('os').getcwd())}",
         "may only use variable names, numbers"),
        ("- !EpochRangeModifier {end_epoch: 2}\n- !EpochRangeModifier {end_epoch: 3}",
         "2 EpochRangeModifiers; give at most one"),
        ("- !EpochRangeModifier {end_epoch: 2}\n"
         "- !GMPruningModifier {start_epoch: 1, end_epoch: 5}",
         "GMPruningModifier reaches epoch 5 but training ends at epoch 2"),
        ("- {end_epoch: 2}", "has no !Tag"),
        ("- !StructuredPruningModifier {start_epoch: 1, ffn_fraction: 0.5}",
         "start_epoch must be 0"),
    ],
)  # fmt: skip
def test_bad_recipes_get_named_errors(body, message):
    with pytest.raises(ValueError) as err:
        parse_recipe("modifiers:\n" + "\n".join("  " + line for line in body.splitlines()))
    assert message in str(err.value)


def test_recipe_without_modifiers_or_yaml():
    with pytest.raises(ValueError, match="has no modifiers"):
        parse_recipe("num_epochs: 3\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        parse_recipe("modifiers: [\n")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_recipe("no/such/recipe.yaml")


def test_gmp_cubic_schedule():
    m = GMPruningModifier(start_epoch=1, end_epoch=5, init_sparsity=0.05, final_sparsity=0.8)
    assert m.sparsity_at(0.5) == 0.05 and m.sparsity_at(1) == pytest.approx(0.05)
    assert m.sparsity_at(5) == pytest.approx(0.8) and m.sparsity_at(9) == pytest.approx(0.8)
    # s_t = s_f + (s_i - s_f)(1 - (t - t0)/n)^3 at t = 3 (halfway): 0.8 - 0.75 / 8
    assert m.sparsity_at(3) == pytest.approx(0.8 - 0.75 / 8)
    lin = GMPruningModifier(start_epoch=0, end_epoch=4, final_sparsity=0.6, inter_func="linear")
    assert lin.sparsity_at(2) == pytest.approx(0.05 + 0.55 / 2)


def test_learning_rate_functions():
    lin = LearningRateFunctionModifier(start_epoch=0, end_epoch=10, init_lr=1e-4, final_lr=0)
    assert lr_factor(lin, 0) == 1 and lr_factor(lin, 2.5) == pytest.approx(0.75)
    assert lr_factor(lin, 10) == 0 and lr_factor(lin, 12) == 0
    cos = LearningRateFunctionModifier(
        start_epoch=2, end_epoch=6, lr_func="cosine", init_lr=1e-3, final_lr=1e-4
    )
    assert lr_factor(cos, 1) == 1
    assert lr_factor(cos, 3) == pytest.approx((1e-4 + 0.45e-3 * (1 + math.cos(math.pi / 4))) / 1e-3)
    assert lr_factor(cos, 6) == pytest.approx(0.1)


def test_validate_command_checks_recipes(tmp_path, capsys):
    assert main(["validate", str(SEED_RECIPE)]) == 0
    out = capsys.readouterr().out
    assert "OK (recipe)" in out and "epochs: 13" in out and "needs --teacher" in out
    assert "QuantizationModifier(start_epoch=8.0" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("modifiers:\n  - !GMPruningModifier {end_epoch: 2, final_sparsity: 2}\n")
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "final_sparsity must be in [0, 1)" in err
