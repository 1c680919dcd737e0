"""LoRA adapters of different label sets (2 labels, 3 labels, multi-label, a regression
value) share one loaded base, each with its own head, and score as each loaded alone.

peft copies a new adapter's head from the loaded base's, which has the first adapter's
width; the classifier fits each copy to the adapter's saved head before loading it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from phalanx import get_method, load_classifier
from phalanx.problems import Problem
from tests.helpers import SENTENCES
from tests.unit.serve.problem_models import set_problem

pytestmark = pytest.mark.usefixtures("one_thread")

TEXTS = [*SENTENCES, "the movie was great and fun", "", "a very, very long " * 6]
#: name -> (labels, problem); the widths of their scores: 2, 3, 3, 1
SPECS = {
    "pos": (["neg", "pos"], None),
    "topic": (["x", "y", "z"], None),
    "tags": (["a", "b", "c"], Problem("multi_label", thresholds=(0.5, 0.6, 0.3))),
    "rating": (["score"], Problem("regression", target_scale=(3.0, 2.0))),
}


def _lora(base: Path, out: Path, labels: list[str], seed: int, problem: Problem | None) -> Path:
    """A LoRA folder over ``labels`` whose LoRA and head weights moved from their init."""
    from phalanx.models.loading import load_base_classifier

    lora = get_method("lora")
    model = load_base_classifier(str(base), dict(enumerate(labels)))
    wrapped = lora.apply(model, lora.config_cls.from_dict({"r": 4}))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # non-zero LoRA B and distinct heads: each adapter scores its way
        for p in wrapped.parameters():
            if p.requires_grad:
                p.add_(0.5 * torch.randn(p.shape, generator=gen).to(p.dtype))
    lora.save(wrapped, out, base_model=str(base), meta={"max_length": 64})
    if problem is not None:
        set_problem(out, problem)
    return out


@pytest.fixture(scope="module")
def folders(tiny_base, tmp_path_factory) -> dict[str, Path]:
    base = tiny_base("bert")
    root = tmp_path_factory.mktemp("lora-label-sets")
    return {
        name: _lora(base, root / name, labels, seed, problem)
        for seed, (name, (labels, problem)) in enumerate(SPECS.items(), 1)
    }


@pytest.fixture(scope="module")
def alone(folders) -> dict[str, np.ndarray]:
    """Each adapter's scores of TEXTS, loaded on a base of its own."""
    return {n: load_classifier(f).classify(TEXTS).numpy() for n, f in folders.items()}


@pytest.mark.parametrize("order", [list(SPECS), list(reversed(SPECS))], ids=["2-first", "1-first"])
def test_label_sets_share_one_base_and_score_as_alone(folders, alone, order):
    from phalanx.serve import ModelRegistry

    reg = ModelRegistry.load([f"{n}={folders[n]}" for n in order])
    models = [reg.get(n) for n in order]
    assert len({m.group for m in models}) == 1, [m.group for m in models]
    peft_model = models[0].backend.model
    assert all(m.backend.model is peft_model for m in models)  # one backbone in memory
    assert len(peft_model.peft_config) == len(order)
    for _ in range(2):  # switching back and forth leaves every head its own
        for m in models:
            got = m.classify(TEXTS)
            assert got.shape == (len(TEXTS), len(SPECS[m.name][0])), m.name
            np.testing.assert_allclose(got, alone[m.name], atol=1e-5, err_msg=m.name)


def test_one_mixed_batch_of_all_label_sets(folders, alone):
    from phalanx.serve import ModelRegistry
    from phalanx.serve.mixed import can_mix, mixed_classify, why_not_mixed

    reg = ModelRegistry.load([f"{n}={f}" for n, f in folders.items()])
    models = [reg.get(n) for n in SPECS]
    assert can_mix(models), why_not_mixed(models)
    picks = {"pos": [0, 1, 2], "topic": [3], "tags": list(range(len(TEXTS))), "rating": [4, 5]}
    got = mixed_classify(models, [[TEXTS[i] for i in picks[m.name]] for m in models])
    assert [g.shape[1] for g in got] == [2, 3, 3, 1]
    for m, out in zip(models, got, strict=True):
        np.testing.assert_allclose(out, alone[m.name][picks[m.name]], atol=1e-5, err_msg=m.name)
    np.testing.assert_allclose(models[0].classify(TEXTS), alone["pos"], atol=1e-5)


@pytest.mark.parametrize("arch", ["llama", "t5"])
def test_other_heads_share_across_label_counts(tiny_base, tmp_path, arch):
    """llama's ``score`` (one Linear, no bias) and T5's ``classification_head`` (the
    label-sized Linear nested inside) fit the same way."""
    from phalanx.methods.peft_backed.classifier import PeftClassifier

    base = tiny_base(arch)
    two = _lora(base, tmp_path / "two", ["n", "p"], 1, None)
    three = _lora(base, tmp_path / "three", ["x", "y", "z"], 2, None)
    first = PeftClassifier(two)
    shared = PeftClassifier(three, model=first)
    assert shared.model is first.model
    for clf, folder in ((shared, three), (first, two), (shared, three)):
        want = load_classifier(folder).classify(TEXTS)
        torch.testing.assert_close(clf.classify(TEXTS), want, atol=1e-5, rtol=0)


def test_a_head_that_cannot_fit_leaves_the_shared_base_as_it_was(folders, alone, tmp_path):
    """A head whose inputs differ from the base's (another backbone) is refused with a
    ValueError (the server then loads it on a base of its own); the adapters already on
    the base keep scoring as before."""
    import shutil

    from phalanx.methods.peft_backed.classifier import PeftClassifier

    bad = tmp_path / "other-backbone"
    shutil.copytree(folders["topic"], bad)
    weights = bad / "adapter_model.safetensors"
    tensors = load_file(weights)
    key = "base_model.model.bert.pooler.dense.weight"
    tensors[key] = tensors[key][:, :16].contiguous()  # a pooler over 16 inputs, not 32
    save_file(tensors, weights)

    first = PeftClassifier(folders["pos"])
    with pytest.raises(ValueError, match=r"pooler.*own base"):
        PeftClassifier(bad, model=first)
    assert list(first.model.peft_config) == [first.adapter_name]
    np.testing.assert_allclose(first.classify(TEXTS).numpy(), alone["pos"], atol=1e-5)
    other = PeftClassifier(folders["topic"], model=first)  # the base still takes adapters
    np.testing.assert_allclose(other.classify(TEXTS).numpy(), alone["topic"], atol=1e-5)
