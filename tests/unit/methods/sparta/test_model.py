"""SpaRTA mechanics on tiny BERT / Llama / Gemma classifiers."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from phalanx import SpaRTAMethodConfig, get_sparta_model
from tests.helpers import ARCHES, LABELS, SENTENCES


def _load(path, dtype=torch.float32):
    model = AutoModelForSequenceClassification.from_pretrained(path, dtype=dtype).eval()
    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    batch = tok(SENTENCES, padding=True, return_tensors="pt")
    return model, batch


def _train(sparta, batch, steps=3, lr=1e-2):
    """A few AdamW steps; returns the model in eval mode and the eval losses before/after."""
    y = torch.tensor(LABELS)
    with torch.no_grad():
        losses = [sparta.eval()(**batch, labels=y).loss.item()]
    sparta.train()
    opt = torch.optim.AdamW([p for p in sparta.parameters() if p.requires_grad], lr=lr)
    for _ in range(steps):
        sparta(**batch, labels=y).loss.backward()
        opt.step()
        opt.zero_grad()
    with torch.no_grad():
        losses.append(sparta.eval()(**batch, labels=y).loss.item())
    return sparta, losses


@pytest.mark.parametrize("arch", ARCHES)
def test_noop_at_init_and_only_deltas_and_head_train(tiny_base, arch):
    model, batch = _load(tiny_base(arch))
    before = model(**batch).logits
    sparta = get_sparta_model(model, SpaRTAMethodConfig(density=0.05))
    assert torch.equal(sparta(**batch).logits, before)
    trainable = {n for n, p in sparta.named_parameters() if p.requires_grad}
    heads = sparta.head_modules
    for name in trainable:
        inner = name.removeprefix("model.")
        assert ".sparta_" in name or any(inner.startswith(h + ".") for h in heads), name
    # the whole head trains, and some deltas exist
    assert any(".sparta_" in n for n in trainable)
    head_params = [n for n, _ in model.named_parameters() if sparta._is_head(n)]
    assert head_params and all(f"model.{n}" in trainable for n in head_params)


@pytest.mark.parametrize("arch", ARCHES)
def test_training_changes_only_chosen_positions_and_unmerge_restores_bits(tiny_base, arch):
    model, batch = _load(tiny_base(arch))
    original = {n: p.detach().clone() for n, p in model.named_parameters()}
    sparta = get_sparta_model(model, SpaRTAMethodConfig(density=0.05, seed=3))
    sparta, losses = _train(sparta, batch, steps=5)
    if arch != "bert":  # a tiny random BERT's CLS vectors barely differ: no progress to see
        assert losses[-1] < losses[0]
    trained_logits = sparta(**batch).logits
    for name, p in sparta.named_base_parameters():
        if name in sparta.head_init:
            continue
        changed = (p != original[name]).reshape(-1).nonzero().squeeze(1)
        allowed = sparta.deltas[name].indices if name in sparta.deltas else torch.empty(0)
        assert set(changed.tolist()) <= set(allowed.tolist()), name
    assert any(
        not torch.equal(sd.delta, torch.zeros_like(sd.delta)) for sd in sparta.deltas.values()
    )
    sparta.unmerge()
    for name, p in sparta.named_base_parameters():
        if name not in sparta.head_init:
            assert torch.equal(p, original[name]), name
    assert not torch.allclose(sparta(**batch).logits, trained_logits)
    sparta.merge()
    assert torch.equal(sparta(**batch).logits, trained_logits)


def test_delta_gradient_equals_dense_gradient_at_chosen_positions(tiny_base):
    model, batch = _load(tiny_base("llama"))
    reference = AutoModelForSequenceClassification.from_pretrained(tiny_base("llama"))
    sparta = get_sparta_model(model, SpaRTAMethodConfig(density=0.2)).train()
    sparta(**batch, labels=torch.tensor(LABELS)).loss.backward()
    reference.train()
    reference(**batch, labels=torch.tensor(LABELS)).loss.backward()
    dense = dict(reference.named_parameters())
    for name, sd in sparta.deltas.items():
        expected = dense[name].grad.reshape(-1)[sd.indices]
        torch.testing.assert_close(sd.delta.grad, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("arch", ARCHES)
def test_same_seed_same_indices_other_seed_other_indices(tiny_base, arch):
    def indices(seed):
        model, _ = _load(tiny_base(arch))
        sparta = get_sparta_model(model, SpaRTAMethodConfig(density=0.1, seed=seed))
        return {n: sd.indices.clone() for n, sd in sparta.deltas.items()}

    a, b, c = indices(1), indices(1), indices(2)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_bf16_weights_get_fp32_deltas_and_fp32_head(tiny_base):
    model, batch = _load(tiny_base("llama"), dtype=torch.bfloat16)
    sparta = get_sparta_model(model, SpaRTAMethodConfig(density=0.1))
    assert all(sd.delta.dtype == torch.float32 for sd in sparta.deltas.values())
    assert sparta.model.score.weight.dtype == torch.float32
    sparta, losses = _train(sparta, batch, steps=2)
    assert all(torch.isfinite(torch.tensor(losses)))
    w = sparta.model.model.layers[0].self_attn.v_proj.weight
    assert w.dtype == torch.bfloat16


def test_sparsity_follows_peft_sparta_definition(tiny_base):
    model, _ = _load(tiny_base("llama"))
    total = sum(p.numel() for p in model.parameters())
    sparta = get_sparta_model(model, SpaRTAMethodConfig(sparsity=0.95, seed=0))
    trainable = sparta.num_trainable_parameters()
    # Bernoulli selection: the expected count, within a few standard deviations
    assert abs(trainable - 0.05 * total) < 0.15 * 0.05 * total


def test_dropout_is_inverted_and_off_in_eval(tiny_base):
    model, batch = _load(tiny_base("bert"))
    sparta = get_sparta_model(model, SpaRTAMethodConfig(density=0.5, dropout=0.5))
    for sd in sparta.deltas.values():
        sd.delta.data.fill_(0.01)
    sparta.eval()
    evals = [sparta(**batch).logits for _ in range(2)]
    assert torch.equal(*evals)
    sparta.train()
    sparta(**batch, labels=torch.tensor(LABELS)).loss.backward()
    sd = next(iter(sparta.deltas.values()))
    kept = sd.delta.grad != 0
    assert 0.3 < kept.float().mean().item() < 0.7  # about half the deltas were dropped
    live = sd.weight.detach().reshape(-1)[sd.indices] - sd.original
    # kept deltas are scaled by 1 / (1 - p), dropped ones are off
    torch.testing.assert_close(live[kept], torch.full_like(live[kept], 0.02), rtol=0, atol=1e-6)
    torch.testing.assert_close(live[~kept], torch.zeros_like(live[~kept]), rtol=0, atol=0)
    with torch.no_grad():
        sparta(**batch)  # without gradients no mask is drawn: the plain deltas are merged
    live = sd.weight.detach().reshape(-1)[sd.indices] - sd.original
    torch.testing.assert_close(live, torch.full_like(live, 0.01), rtol=0, atol=1e-6)


def test_merge_and_unload_returns_plain_model(tiny_base):
    model, batch = _load(tiny_base("bert"))
    sparta = get_sparta_model(model, SpaRTAMethodConfig(density=0.1))
    sparta, _ = _train(sparta, batch, steps=2)
    expected = sparta(**batch).logits
    plain = sparta.merge_and_unload()
    assert not any(".sparta_" in n for n, _ in plain.named_parameters())
    torch.testing.assert_close(plain(**batch).logits, expected)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sparsity": 1.5}, r"sparsity must be in \(0, 1\)"),
        ({"density": 0.0}, r"density must be in \(0, 1\]"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"sparsity": 0.9, "density": 0.1}, "either sparsity"),
    ],
)
def test_bad_config_values_name_the_valid_range(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SpaRTAMethodConfig(**kwargs)


def test_sparsity_too_high_or_low_is_explained(tiny_base):
    model, _ = _load(tiny_base("llama"))
    with pytest.raises(ValueError, match="too high"):
        get_sparta_model(model, SpaRTAMethodConfig(sparsity=0.99999))
    model, _ = _load(tiny_base("llama"))
    with pytest.raises(ValueError, match="too low"):
        get_sparta_model(model, SpaRTAMethodConfig(sparsity=0.01))
    model, _ = _load(tiny_base("llama"))
    with pytest.raises(ValueError, match="matched nothing"):
        get_sparta_model(model, SpaRTAMethodConfig(target_modules=["nope"]))


def test_fused_adamw_updates_reach_the_weights(tiny_base):
    """Fused optimizer kernels do not bump version counters; the merge must still follow."""
    model, batch = _load(tiny_base("llama"))
    sparta = get_sparta_model(model, SpaRTAMethodConfig(density=0.2)).train()
    opt = torch.optim.AdamW(
        [p for p in sparta.parameters() if p.requires_grad], lr=1e-2, fused=True
    )
    sparta(**batch, labels=torch.tensor(LABELS)).loss.backward()
    opt.step()
    sparta.eval()
    with torch.no_grad():
        sparta(**batch)
    for sd in sparta.deltas.values():
        live = sd.weight.detach().reshape(-1)[sd.indices].float() - sd.original.float()
        torch.testing.assert_close(live, sd.delta.detach(), rtol=0, atol=1e-6)
