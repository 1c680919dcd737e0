"""Magnitude masks: exact sparsity, zeros that survive real training, the GMP schedule."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from phalanx import load_classifier
from phalanx.compress.prune import MaskSet, magnitude_masks, prunable_parameters
from phalanx.compress.run import compress
from tests.helpers import (
    run_options,
    sparsify,
    tiny_config,
    toy_data,
    write_recipe,
    zero_positions,
)

ENCODER_LINEARS = (
    "attention.self.query", "attention.self.key", "attention.self.value",
    "attention.output.dense", "intermediate.dense", "output.dense",
)  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_thread")


def _bert():
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_config(tiny_config("bert"))


def test_all_prunable_is_every_encoder_linear_weight():
    names = sorted(prunable_parameters(_bert()))
    want = sorted(f"bert.encoder.layer.{i}.{m}.weight" for i in (0, 1) for m in ENCODER_LINEARS)
    assert names == want  # no embeddings, no pooler, no classifier


def test_params_by_name_and_regex_and_named_errors():
    model = _bert()
    got = prunable_parameters(model, ["re:.*query\\.weight", "bert.pooler.dense.weight"])
    assert sorted(got) == [
        "bert.encoder.layer.0.attention.self.query.weight",
        "bert.encoder.layer.1.attention.self.query.weight",
        "bert.pooler.dense.weight",
    ]
    with pytest.raises(ValueError, match="'re:nothing' matches no parameter"):
        prunable_parameters(model, ["re:nothing"])
    with pytest.raises(ValueError, match=r"names 'encoder\.query', which the model does not have"):
        prunable_parameters(model, "encoder.query")


def test_masks_prune_exact_counts_per_layer_and_globally():
    params = {"a": torch.randn(10, 10), "b": torch.randn(20, 5) * 10}
    local = magnitude_masks(params, 0.3)
    assert [int((~m).sum()) for m in local.values()] == [30, 30]
    glob = magnitude_masks(params, 0.3, global_sparsity=True)
    assert sum(int((~m).sum()) for m in glob.values()) == 60
    # the small-magnitude tensor gives up more of its weights under one global threshold
    assert int((~glob["a"]).sum()) > int((~glob["b"]).sum())
    kept_min = min(params[n].abs()[m].min() for n, m in glob.items())
    pruned_max = max(params[n].abs()[~m].max() for n, m in glob.items())
    assert kept_min >= pruned_max


def test_masked_weights_stay_zero_and_get_no_gradient_through_optimizer_steps():
    model = _bert().train()
    masks = MaskSet(prunable_parameters(model))
    masks.set_sparsity(0.7)
    zeros = zero_positions(model)
    before = {n: p.detach().clone() for n, p in masks.params.items()}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    ids = torch.randint(5, 128, (4, 8), generator=torch.Generator().manual_seed(0))
    for _ in range(5):
        loss = model(input_ids=ids, labels=torch.tensor([0, 1, 0, 1])).loss
        loss.backward()
        for n, p in masks.params.items():
            assert not p.grad[zeros[n]].any(), n  # the gradient hook masked it
        opt.step()
        masks.apply()
        opt.zero_grad()
    for n, p in masks.params.items():
        assert torch.equal(p == 0, zeros[n]), n  # the same positions, exactly zero
        assert not torch.equal(p, before[n])  # and the kept weights did train
    assert masks.sparsity() == pytest.approx(0.7, abs=1e-3)


def test_constant_pruning_keeps_a_sparse_model_sparse_through_compress(tiny_base, tmp_path):
    base = sparsify(tiny_base("bert"), tmp_path / "sparse", 0.5)
    data = toy_data(tmp_path)
    recipe = write_recipe(
        tmp_path,
        """
num_epochs: 2
modifiers:
  - !EpochRangeModifier {start_epoch: 0, end_epoch: eval(num_epochs)}
  - !LearningRateFunctionModifier {end_epoch: eval(num_epochs), init_lr: 1e-2}
  - !ConstantPruningModifier {start_epoch: 0.0, params: __ALL_PRUNABLE__}
  - !SetWeightDecayModifier {weight_decay: 0.1}
""",
    )
    result = compress(**run_options(base, data, tmp_path / "out", recipe=str(recipe)))
    assert result.steps == 10  # 38 training sentences, batch 8: 5 steps an epoch
    saved = load_file(str(tmp_path / "out" / "model.safetensors"))
    dense = load_file(str(base / "model.safetensors"))
    from transformers import AutoModelForSequenceClassification

    zeros = zero_positions(AutoModelForSequenceClassification.from_pretrained(base))
    for name, was_zero in zeros.items():
        assert torch.equal(saved[name] == 0, was_zero), name
        assert not torch.equal(saved[name], dense[name]), name
    report = json.loads((tmp_path / "out" / "sparsity.json").read_text())
    assert report["overall"] == pytest.approx(0.5, abs=1e-3) and len(report["layers"]) == 12
    assert load_classifier(tmp_path / "out").classify(["a good movie"]).shape == (1, 2)


def test_gmp_reaches_its_target_sparsity_at_its_end_epoch(tiny_base, tmp_path):
    data = toy_data(tmp_path)
    recipe = write_recipe(
        tmp_path,
        """
modifiers:
  - !EpochRangeModifier {start_epoch: 0, end_epoch: 3}
  - !GMPruningModifier
      start_epoch: 0.4
      end_epoch: 2.0
      init_sparsity: 0.1
      final_sparsity: 0.6
      update_frequency: 0.4
      global_sparsity: true
""",
    )
    out = tmp_path / "out"
    result = compress(**run_options(tiny_base("bert"), data, out, recipe=str(recipe), lr=1e-2))
    steps = json.loads((out / "metrics.json").read_text())["pruning_schedule"][0]["steps"]
    epochs = [e for e, _ in steps]
    assert epochs == [0.4, 0.8, 1.2, 1.6, 2.0]  # 5 steps an epoch, an update every 2 steps
    targets = [s for _, s in steps]
    assert targets[0] == pytest.approx(0.1) and targets[-1] == pytest.approx(0.6)
    assert targets == sorted(targets)
    assert result.sparsity["overall"] == pytest.approx(0.6, abs=1e-4)
    # global: one threshold, so layers differ while the total is exact
    assert len(set(result.sparsity["layers"].values())) > 1


def test_the_sparta_hook_drops_delta_positions_on_pruned_weights():
    from phalanx import get_method
    from phalanx.methods.sparta import SpaRTAMethodConfig

    model = _bert()
    masks = MaskSet(prunable_parameters(model))
    masks.set_sparsity(0.5)
    masks.remove()
    method = get_method("sparta")
    wrapped = method.apply(model, SpaRTAMethodConfig(density=0.2, seed=0))
    on_zeros = sum(int((sd.original == 0).sum()) for sd in wrapped.deltas.values())
    before = sum(sd.indices.numel() for sd in wrapped.deltas.values())
    assert on_zeros > 0
    assert method.restrict_to_unpruned(wrapped) == on_zeros
    assert sum(sd.indices.numel() for sd in wrapped.deltas.values()) == before - on_zeros
    assert all(bool((sd.original != 0).all()) for sd in wrapped.deltas.values())
    assert method.restrict_to_unpruned(wrapped) == 0  # nothing left to drop


def test_sparse_delta_keep_refuses_trained_deltas_and_a_wrong_mask():
    from phalanx.methods.sparta import SpaRTAMethodConfig, get_sparta_model

    wrapped = get_sparta_model(_bert(), SpaRTAMethodConfig(density=0.2, seed=0))
    sd = next(iter(wrapped.deltas.values()))
    n = sd.indices.numel()
    with pytest.raises(ValueError, match=f"the mask has 3 entries for {n} positions"):
        sd.keep(torch.ones(3, dtype=torch.bool))
    keep = torch.arange(n) % 2 == 0
    assert sd.keep(keep) == n - int(keep.sum()) and sd.delta.numel() == int(keep.sum())
    with torch.no_grad():
        sd.delta.add_(1.0)
    with pytest.raises(ValueError, match="are trained; choose positions before training"):
        sd.keep(torch.ones(sd.indices.numel(), dtype=torch.bool))
