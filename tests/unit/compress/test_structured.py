"""Structured pruning: heads and neurons physically removed, saved, reloaded and classified."""

from __future__ import annotations

import json

import pytest
import torch

from phalanx import load_classifier
from phalanx.compress.structured import load_pruned, prune_structured, save_pruned, taylor_scores
from phalanx.models.blocks import layers_of
from tests.helpers import LABELS, SENTENCES, tiny_config

ARCHES = ["bert", "llama", "gemma"]
# query heads whose output columns are zeroed: one per key/value group where heads share one
ZEROED_HEADS = {"bert": [1, 3], "llama": [1, 2], "gemma": [1, 3]}


def _model(arch: str):
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_config(tiny_config(arch)).eval()


def _ids(n: int = 3, length: int = 9) -> torch.Tensor:
    return torch.randint(5, 128, (n, length), generator=torch.Generator().manual_seed(1))


def _zero_units(model, heads: list[int], neurons: range) -> None:
    """Make heads and neurons contribute nothing: zero their output columns."""
    with torch.no_grad():
        for layer in layers_of(model):
            d = layer.head_dim
            for h in heads:
                layer.out.weight[:, h * d : (h + 1) * d] = 0
            layer.ffn_out.weight[:, list(neurons)] = 0


@pytest.mark.parametrize("arch", ARCHES)
def test_shapes_and_parameter_count_shrink(arch):
    model = _model(arch)
    layer = layers_of(model)[0]
    d, hidden = layer.head_dim, model.config.hidden_size
    kv_before = layer.num_kv_heads
    before = sum(p.numel() for p in model.parameters())

    report = prune_structured(model, heads_fraction=0.5, ffn_fraction=0.25)

    for layer in layers_of(model):
        assert layer.query.weight.shape == (2 * d, hidden)
        assert layer.out.weight.shape == (hidden, 2 * d)
        for lin in layer.ffn_in:
            assert lin.weight.shape == (48, hidden)
        assert layer.ffn_out.weight.shape == (hidden, 48)
    # MHA drops key/value heads with their query heads; GQA keeps every key/value head
    kv_after = 2 if arch == "bert" else kv_before
    assert layer.key.weight.shape == (kv_after * d, hidden)
    after = sum(p.numel() for p in model.parameters())
    assert report["parameters_before"] == before
    assert report["parameters_after"] == after
    assert report["heads_per_layer"] == [2, 2]
    assert report["ffn_per_layer"] == [48, 48]
    # the model still runs and gives one score per label
    assert model(input_ids=_ids()).logits.shape == (3, 2)


@pytest.mark.parametrize("arch", ARCHES)
def test_pruning_units_of_zero_importance_keeps_the_logits(arch):
    model = _model(arch)
    _zero_units(model, ZEROED_HEADS[arch], range(0, 64, 2))
    ids = _ids()
    dense = model(input_ids=ids).logits

    report = prune_structured(model, heads_fraction=0.5, ffn_fraction=0.5)

    pruned = model(input_ids=ids).logits
    torch.testing.assert_close(pruned, dense, atol=1e-5, rtol=1e-5)
    kept = sorted(set(range(4)) - set(ZEROED_HEADS[arch]))
    assert all(layer["heads_kept"] == kept for layer in report["layers"])
    assert all(layer["ffn_kept"] == list(range(1, 64, 2)) for layer in report["layers"])


def test_taylor_scores_rank_dead_units_last_and_prune_them():
    model = _model("bert")
    _zero_units(model, [0, 2], range(32))
    ids = _ids(8)
    batches = [{"input_ids": ids, "labels": torch.tensor(LABELS)}]
    dense = model(input_ids=ids).logits

    scores = taylor_scores(model, batches)
    assert all(s[[0, 2]].eq(0).all() and s[[1, 3]].gt(0).all() for s in scores["heads"])
    report = prune_structured(
        model, heads_fraction=0.5, ffn_fraction=0.5, importance="taylor", scores=scores
    )

    assert report["layers"][0]["heads_kept"] == [1, 3]
    torch.testing.assert_close(model(input_ids=ids).logits, dense, atol=1e-5, rtol=1e-5)
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("arch", ["bert", "llama"])
def test_save_then_load_pruned_gives_identical_logits(arch, tmp_path):
    model = _model(arch)
    prune_structured(model, heads_fraction=0.25, ffn_fraction=0.5)
    # a second cut composes: the record keeps the dense model's numbering
    report = prune_structured(model, heads_fraction=0.34, ffn_fraction=0.0)
    assert report["heads_per_layer"] == [2, 2]
    ids = _ids()
    expected = model(input_ids=ids).logits

    save_pruned(model, None, tmp_path / "pruned")
    loaded = load_pruned(tmp_path / "pruned")

    torch.testing.assert_close(loaded(input_ids=ids).logits, expected, atol=0, rtol=0)
    assert sum(p.numel() for p in loaded.parameters()) == report["parameters_after"]
    record = json.loads((tmp_path / "pruned" / "pruning.json").read_text())
    assert [len(r["heads"]) for r in record["layers"]] == [2, 2]


def test_load_classifier_classifies_a_pruned_folder(tiny_base, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    base = tiny_base("bert")
    model = AutoModelForSequenceClassification.from_pretrained(base).eval()
    prune_structured(model, heads_fraction=0.5, ffn_fraction=0.5)
    tokenizer = AutoTokenizer.from_pretrained(base)
    folder = save_pruned(model, tokenizer, tmp_path / "pruned", {"base_model": str(base)})

    clf = load_classifier(folder)
    probs = clf.classify(SENTENCES)

    enc = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = model(**enc).logits.softmax(-1)
    torch.testing.assert_close(probs, expected, atol=1e-5, rtol=1e-5)
    assert set(clf.decide_class(SENTENCES)) <= set(clf.labels)
    assert layers_of(clf.model)[0].num_heads == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"heads_fraction": -0.1, "ffn_fraction": 0.5}, "heads_fraction=-0.1 is outside"),
        ({"heads_fraction": 0.5, "ffn_fraction": 1.0}, "ffn_fraction=1.0 is outside"),
        ({"heads_fraction": "half", "ffn_fraction": 0.5}, "heads_fraction must be a number"),
        ({"heads_fraction": 0.9, "ffn_fraction": 0.5}, "removes all 4 heads"),
        ({"heads_fraction": 0.5, "ffn_fraction": 0.5, "importance": "l1"}, "unknown importance"),
        ({"heads_fraction": 0.5, "ffn_fraction": 0.5, "importance": "taylor"}, "taylor_scores"),
    ],
)
def test_bad_settings_raise_named_errors_and_leave_the_model_intact(kwargs, message):
    model = _model("bert")
    before = sum(p.numel() for p in model.parameters())
    with pytest.raises(ValueError, match=message):
        prune_structured(model, **kwargs)
    assert sum(p.numel() for p in model.parameters()) == before


def test_unsupported_architecture_is_named():
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_config(tiny_config("t5"))
    with pytest.raises(ValueError, match=r"model_type 't5'.*supported: bert"):
        prune_structured(model, heads_fraction=0.5, ffn_fraction=0.5)


def test_load_pruned_refuses_plain_and_newer_folders(tiny_base, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"pruning\.json"):
        load_pruned(tiny_base("bert"))
    model = _model("bert")
    prune_structured(model, heads_fraction=0.5, ffn_fraction=0.5)
    folder = save_pruned(model, None, tmp_path / "p")
    record = json.loads((folder / "pruning.json").read_text())
    (folder / "pruning.json").write_text(json.dumps({**record, "format_version": 99}))
    with pytest.raises(ValueError, match="format_version 99"):
        load_pruned(folder)


def test_a_pruned_folder_is_a_base_for_further_training_and_sparta(tiny_base, tmp_path):
    from transformers import AutoTokenizer

    from phalanx import SpaRTAMethodConfig, get_sparta_model, save_sparta_adapter
    from phalanx.models.loading import load_base_classifier

    model = _model("bert")
    prune_structured(model, heads_fraction=0.5, ffn_fraction=0.5)
    tokenizer = AutoTokenizer.from_pretrained(tiny_base("bert"))
    folder = save_pruned(model, tokenizer, tmp_path / "pruned")
    ids = _ids()

    base = load_base_classifier(str(folder), {0: "bad", 1: "good"})

    assert base.config.id2label == {0: "bad", 1: "good"}
    torch.testing.assert_close(base(input_ids=ids).logits, model(input_ids=ids).logits)
    with pytest.raises(ValueError, match="pruned classifier with 2 labels"):
        load_base_classifier(str(folder), {0: "a", 1: "b", 2: "c"})
    # SpaRTA on the pruned base: the adapter reloads its base through the same loader
    sparta = get_sparta_model(base, SpaRTAMethodConfig(density=0.2, seed=0))
    with torch.no_grad():
        for sd in sparta.deltas.values():
            sd.delta.normal_(0, 0.05)
        expected = sparta(input_ids=ids).logits.softmax(-1)
    adapter = save_sparta_adapter(sparta, tmp_path / "sparta", base_model=str(folder))
    clf = load_classifier(adapter)
    with torch.no_grad():
        got = clf(ids, torch.ones_like(ids)).softmax(-1)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
