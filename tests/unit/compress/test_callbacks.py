"""RecipeCallback without a Trainer: modifiers start, update and stop at their epochs."""

from __future__ import annotations

import pytest
import torch

from phalanx.compress.callbacks import RecipeCallback
from phalanx.compress.quantize import QATLinear
from phalanx.compress.recipe import parse_recipe
from tests.helpers import tiny_config


def _bert():
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_config(tiny_config("bert"))


def test_gmp_without_leave_enabled_releases_its_masks_after_the_end_epoch():
    model = _bert()
    cb = RecipeCallback(
        parse_recipe(
            "modifiers:\n  - !GMPruningModifier {start_epoch: 0, end_epoch: 1, "
            "final_sparsity: 0.5, update_frequency: 0.5, leave_enabled: false}\n"
        ),
        model,
        steps_per_epoch=4,
    )
    cb.advance(0.5)
    masks = cb.pruning[0].masks
    assert masks.masks and masks.sparsity() > 0.05
    cb.advance(1.0)
    assert masks.sparsity() == pytest.approx(0.5, abs=1e-3)  # the target, reached...
    assert not masks.masks and not masks._hooks  # ...then released: weights may regrow
    w = model.bert.encoder.layer[0].intermediate.dense.weight
    with torch.no_grad():
        w.add_(1.0)
    cb.apply_masks()
    assert not (w == 0).any()


def test_qat_starts_and_freezes_at_its_epochs_and_weight_decay_starts_late():
    model = _bert()
    recipe = parse_recipe(
        """
modifiers:
  - !EpochRangeModifier {end_epoch: 3}
  - !QuantizationModifier
      start_epoch: 1
      disable_quantization_observer_epoch: 2
      submodules: [bert.encoder]
  - !SetWeightDecayModifier {start_epoch: 1.5, weight_decay: 0.05}
"""
    )
    opt = torch.optim.AdamW([{"params": [model.classifier.weight], "weight_decay": 0.0}], lr=1e-3)
    cb = RecipeCallback(recipe, model, steps_per_epoch=4)
    layer = model.bert.encoder.layer[0]
    weight = layer.intermediate.dense.weight
    cb.advance(0.75, opt)
    assert not isinstance(layer.intermediate.dense, QATLinear) and not cb.qat_started
    cb.advance(1.0, opt)
    assert isinstance(layer.intermediate.dense, QATLinear)
    assert layer.intermediate.dense.weight is weight  # the optimizer's tensor, wrapped
    assert not isinstance(model.classifier, QATLinear)  # outside submodules
    assert opt.param_groups[0]["weight_decay"] == 0.0
    cb.advance(1.5, opt)
    assert opt.param_groups[0]["weight_decay"] == 0.05
    fq = layer.intermediate.dense.weight_fake_quant
    assert bool(fq.observer_enabled[0]) and not cb.observers_frozen
    cb.advance(2.0, opt)
    assert cb.observers_frozen and not bool(fq.observer_enabled[0])
