"""The invariants every method keeps, on every tiny architecture.

For every registered method x model: the base is untouched at init where the method
promises it, only the adapter and the head train, the head is trained *and* saved, save ->
load gives identical logits through the classification API, and merged == unmerged where
the method can merge. A newly registered method is in the matrix with no edit here
(options, when its defaults are too big for the tiny models, go in ``OPTIONS``).
"""

from __future__ import annotations

import pytest
import torch

from phalanx import get_method, load_classifier, method_names
from phalanx.models.archs import arch_spec
from phalanx.models.loading import load_base_classifier, load_tokenizer
from tests.helpers import ARCHES, LABELS, OPTIONS, SENTENCES

ID2LABEL = {0: "negative", 1: "positive"}


def _setup(base, method_name):
    model = load_base_classifier(str(base), ID2LABEL)
    tok = load_tokenizer(str(base), model)
    batch = tok(SENTENCES, padding=True, return_tensors="pt")
    method = get_method(method_name)
    heads = arch_spec(model).head
    frozen = {id(p) for n, p in model.named_parameters() if not _in(n, heads)}
    wrapped = method.apply(model, method.config_cls.from_dict(OPTIONS.get(method_name, {})))
    return method, wrapped, batch, heads, frozen


def _in(name: str, modules) -> bool:
    return any(f".{h}." in f".{name}" for h in modules)


@pytest.mark.parametrize("arch", [*ARCHES, "t5"])
@pytest.mark.parametrize("method_name", method_names())
def test_method_invariants(tiny_base, tmp_path, arch, method_name):
    base = tiny_base(arch)
    prompt = get_method(method_name).prompt_style
    if arch == "t5" and prompt:
        with pytest.raises(ValueError, match="needs input embeddings"):
            _setup(base, method_name)
        return
    method, wrapped, batch, heads, base_weights = _setup(base, method_name)
    trainable = [n for n, p in wrapped.named_parameters() if p.requires_grad]
    if method.frozen_base:
        # a trainable tensor is the head's or the adapter's own, never a base weight
        leaked = [
            n for n, p in wrapped.named_parameters() if p.requires_grad and id(p) in base_weights
        ]
        assert not leaked, f"{method_name} trains base weights {leaked[:3]}"
        total = sum(p.numel() for p in wrapped.parameters())
        assert sum(p.numel() for p in wrapped.parameters() if p.requires_grad) < total / 2
    head_trainable = [n for n in trainable if _in(n, heads)]
    assert head_trainable, "the classification head must train"

    head_before = {
        n: p.detach().clone() for n, p in wrapped.named_parameters() if n in head_trainable
    }
    wrapped.train()
    opt = torch.optim.AdamW([p for p in wrapped.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(2):
        wrapped(**batch, labels=torch.tensor(LABELS)).loss.backward()
        opt.step()
        opt.zero_grad()
    wrapped.eval()
    params = dict(wrapped.named_parameters())
    assert any(not torch.equal(params[n], head_before[n]) for n in head_before), "head untrained"
    # virtual tokens sit before a decoder's left padding, so with prompt methods a decoder's
    # output depends on the padding: compare unpadded, one sentence at a time
    unpadded = prompt and arch != "bert"
    with torch.no_grad():
        if unpadded:
            tok = load_tokenizer(str(base), wrapped.get_base_model())
            expected = torch.cat(
                [wrapped(**tok([s], return_tensors="pt")).logits.float() for s in SENTENCES]
            )
        else:
            expected = wrapped(**batch).logits.float()

    method.save(wrapped, tmp_path / "ad", base_model=str(base), meta={"max_length": 64})
    clf = load_classifier(tmp_path / "ad")
    assert clf.method == method_name
    got = clf.logits(SENTENCES, batch_size=1 if unpadded else 3)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    labels = clf.decide_class(SENTENCES, batch_size=1 if unpadded else None)
    assert labels == [ID2LABEL[i] for i in got.argmax(-1).tolist()]
    if method.can_merge:
        clf.merge()
        torch.testing.assert_close(clf.logits(SENTENCES), expected, rtol=1e-4, atol=1e-5)
        clf.unmerge()
        torch.testing.assert_close(clf.logits(SENTENCES), expected, rtol=1e-4, atol=1e-5)


def test_unknown_method_option_lists_valid_ones():
    with pytest.raises(ValueError, match=r"does not take option\(s\) \['density'\].*lora_alpha"):
        get_method("lora").config_cls.from_dict({"density": 0.1})
    with pytest.raises(ValueError, match="unknown method 'shira'"):
        get_method("shira")


def test_plain_peft_loads_a_phalanx_lora_adapter(tiny_base, tmp_path):
    from peft import AutoPeftModelForSequenceClassification

    base = tiny_base("bert")
    method, wrapped, batch, *_ = _setup(base, "lora")
    wrapped.train()
    opt = torch.optim.AdamW([p for p in wrapped.parameters() if p.requires_grad], lr=1e-2)
    wrapped(**batch, labels=torch.tensor(LABELS)).loss.backward()
    opt.step()
    wrapped.eval()
    with torch.no_grad():
        expected = wrapped(**batch).logits
    method.save(wrapped, tmp_path / "ad", base_model=str(base))
    plain = AutoPeftModelForSequenceClassification.from_pretrained(str(tmp_path / "ad")).eval()
    with torch.no_grad():
        torch.testing.assert_close(plain(**batch).logits, expected)


def test_peft_adapters_share_one_base(tiny_base, tmp_path):
    base = tiny_base("bert")
    folders = {}
    for name, seed in (("lora", 0), ("lora2", 1)):
        torch.manual_seed(seed)
        method, wrapped, batch, *_ = _setup(base, "lora")
        wrapped.train()
        opt = torch.optim.AdamW([p for p in wrapped.parameters() if p.requires_grad], lr=5e-2)
        for _ in range(3):
            wrapped(**batch, labels=torch.tensor(LABELS)).loss.backward()
            opt.step()
            opt.zero_grad()
        method.save(wrapped, tmp_path / name, base_model=str(base))
        folders[name] = tmp_path / name
    alone = {n: load_classifier(f).classify(SENTENCES) for n, f in folders.items()}
    lora = load_classifier(folders["lora"])
    lora2 = load_classifier(folders["lora2"], model=lora)
    assert lora2.model is lora.model  # one base in memory
    assert not torch.allclose(alone["lora"], alone["lora2"])
    for _ in range(2):  # switching back and forth gives each adapter's own outputs
        torch.testing.assert_close(lora.classify(SENTENCES), alone["lora"])
        torch.testing.assert_close(lora2.classify(SENTENCES), alone["lora2"])
    method, wrapped, *_ = _setup(base, "ia3")
    method.save(wrapped, tmp_path / "ia3", base_model=str(base))
    with pytest.raises(ValueError, match="cannot hold LORA and IA3"):
        load_classifier(tmp_path / "ia3", model=lora)


def test_loading_on_a_different_base_is_refused(tiny_base, tmp_path):
    base = tiny_base("bert")
    method, wrapped, *_ = _setup(base, "lora")
    method.save(wrapped, tmp_path / "ad", base_model=str(base))
    other = load_base_classifier(str(base), ID2LABEL)
    with torch.no_grad():
        other.bert.embeddings.word_embeddings.weight.mul_(2)
    with pytest.raises(ValueError, match="base model mismatch"):
        load_classifier(tmp_path / "ad", model=other)
