"""The model registry: names, one shared base per group, each adapter's own answers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from phalanx import load_classifier
from phalanx.serve import ModelRegistry, parse_model_spec, resident_bytes
from tests.helpers import SENTENCES


def standalone(folder: Path) -> torch.Tensor:
    """The adapter's own classifier on a base of its own (the reference answers); the tiny base
    checkpoint has a 2-label head, so a 3-label adapter also checks that a fresh head is made."""
    return load_classifier(folder).classify(SENTENCES)


def _base_storages(models) -> set[int]:
    """Data pointers of the encoder weights (the part adapters share)."""
    ptrs = set()
    for m in models:
        model = m.backend.model
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        ptrs |= {p.data_ptr() for n, p in base.bert.named_parameters() if "lora_" not in n}
    return ptrs


def test_model_specs_name_models_after_their_folders():
    assert parse_model_spec("sentiment=runs/x/adapter") == ("sentiment", Path("runs/x/adapter"))
    assert parse_model_spec("runs/imdb-run/adapter") == ("imdb-run", Path("runs/imdb-run/adapter"))
    assert parse_model_spec("runs/my run") == ("my-run", Path("runs/my run"))
    # a path holding '=' without a valid name before it is a path
    assert parse_model_spec("/data/a=b/c")[1] == Path("/data/a=b/c")


def test_adapters_on_one_base_share_it_and_answer_like_standalone(registry, adapters):
    pos, topic = registry.get("pos"), registry.get("topic")
    lora1, lora2 = registry.get("lora1"), registry.get("lora2")
    assert pos.backend.model is topic.backend.model  # SpaRTA: one base, deltas switched
    assert lora1.backend.model is lora2.backend.model  # peft: multi-adapter PeftModel
    assert pos.group == topic.group != lora1.group == lora2.group
    assert registry.default == "pos" and pos.labels == ["LABEL_0", "LABEL_1"]
    assert topic.labels == ["x", "y", "z"] and topic.template == "T: {sentence}"
    for _ in range(2):  # switching back and forth gives every adapter its own outputs
        for name in ("pos", "topic", "lora1", "lora2"):
            alone = standalone(adapters[name]).numpy()
            served = registry.get(name).classify(SENTENCES)
            assert served.shape == alone.shape
            torch.testing.assert_close(torch.from_numpy(served), torch.from_numpy(alone))
    assert not torch.allclose(
        torch.from_numpy(lora1.classify(SENTENCES)), torch.from_numpy(lora2.classify(SENTENCES))
    )


def test_memory_grows_by_the_adapters_not_the_base(adapters):
    one = ModelRegistry.load([str(adapters["pos"])])
    two = ModelRegistry.load([str(adapters["pos"]), str(adapters["topic"])])
    apart = ModelRegistry.load([str(adapters["pos"]), f"again={adapters['pos']}"], share_base=False)
    base_bytes = resident_bytes(one.models.values())
    shared_growth = resident_bytes(two.models.values()) - base_bytes
    apart_growth = resident_bytes(apart.models.values()) - base_bytes
    assert 0 < shared_growth < 0.2 * base_bytes, (shared_growth, base_bytes)
    assert apart_growth > 0.9 * base_bytes  # the measure sees a second base when there is one
    assert len(_base_storages(two.models.values())) == len(_base_storages(one.models.values()))
    assert len(_base_storages(apart.models.values())) == 2 * len(
        _base_storages(one.models.values())
    )


def test_peft_adapters_share_one_base_in_memory(adapters):
    one = ModelRegistry.load([str(adapters["lora1"])])
    two = ModelRegistry.load([str(adapters["lora1"]), str(adapters["lora2"])])
    base_bytes = resident_bytes(one.models.values())
    assert 0 < resident_bytes(two.models.values()) - base_bytes < 0.2 * base_bytes
    assert _base_storages(two.models.values()) == _base_storages(
        [two.get("lora1")]
    )  # the second adapter added no encoder weights


def test_bad_model_lists_are_refused(adapters, tmp_path):
    with pytest.raises(ValueError, match="two models are named 'pos'"):
        ModelRegistry.load([str(adapters["pos"]), f"pos={adapters['topic']}"])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ModelRegistry.load([str(tmp_path / "missing")])
    with pytest.raises(ValueError, match="at least one"):
        ModelRegistry.load([])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="holds no adapter"):
        ModelRegistry.load([str(empty)])


def test_unknown_model_names_the_known_ones(registry):
    with pytest.raises(KeyError, match="unknown model 'nope'; known models: pos, topic"):
        registry.get("nope")
