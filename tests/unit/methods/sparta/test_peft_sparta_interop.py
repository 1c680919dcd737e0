"""Interop with the real peer, peft-sparta 0.0.3, in both directions."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from phalanx import SpaRTAforSequenceClassification
from tests.helpers import LABELS, SENTENCES, train_adapter

peft_sparta = pytest.importorskip("peft_sparta")

ID2LABEL = {0: "negative", 1: "positive"}


def _labelled_base(tiny_base, tmp_path):
    """The tiny Llama with named labels (transformers omits default id2label on save)."""
    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_base("llama"), id2label=ID2LABEL, label2id={v: k for k, v in ID2LABEL.items()}
    )
    path = tmp_path / "base"
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(tiny_base("llama")).save_pretrained(path)
    return path


def test_adapter_trained_by_peft_sparta_loads_in_phalanx(tiny_base, tmp_path):
    base = _labelled_base(tiny_base, tmp_path)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(base)
    tok = AutoTokenizer.from_pretrained(base, padding_side="left")
    tok.pad_token = tok.eos_token
    batch = tok(SENTENCES, padding=True, return_tensors="pt")
    sparta = peft_sparta.SpaRTA(model, sparsity=0.9)
    opt = torch.optim.AdamW(sparta.parameters(), lr=5e-2)
    for _ in range(5):
        sparta.train()
        sparta(**batch, labels=torch.tensor(LABELS)).loss.backward()
        opt.step()
        opt.zero_grad()
    sparta.eval()
    adapter = tmp_path / "peft-sparta-adapter"
    adapter.mkdir()
    sparta.save(str(adapter), merged=False)
    # what peft-sparta's trainer writes beside it (legacy .pt, loaded with weights_only=True)
    torch.save(sparta.get_init_param(model.score.weight).data, adapter / "head_init.pt")

    theirs = peft_sparta.SpaRTAforSequenceClassification(str(adapter)).classify(SENTENCES)
    ours = SpaRTAforSequenceClassification(adapter).classify(SENTENCES)
    assert ours.argmax(-1).tolist() == theirs.argmax(-1).tolist()
    # peft-sparta runs in bf16 autocast; we run fp32
    torch.testing.assert_close(ours, theirs.float().cpu(), rtol=0, atol=3e-2)
    assert (ours - 0.5).abs().max() > 0.05  # the adapter is not a no-op
    # peft-sparta folders carry no fingerprint: the base is checked by its id
    other = AutoModelForSequenceClassification.from_pretrained(tiny_base("llama"))
    with pytest.raises(ValueError, match="base model mismatch"):
        SpaRTAforSequenceClassification(adapter, model=other)


def test_decoder_adapter_saved_by_phalanx_loads_in_peft_sparta(tiny_base, tmp_path):
    base = _labelled_base(tiny_base, tmp_path)
    train_adapter(base, tmp_path / "ours", density=0.2, steps=6)
    ours = SpaRTAforSequenceClassification(tmp_path / "ours").classify(SENTENCES)
    peer = peft_sparta.SpaRTAforSequenceClassification(str(tmp_path / "ours"))
    assert peer.id2label == {"0": "negative", "1": "positive"}
    theirs = peer.classify(SENTENCES)
    assert ours.argmax(-1).tolist() == theirs.argmax(-1).tolist()
    torch.testing.assert_close(ours, theirs.float().cpu(), rtol=0, atol=3e-2)
    assert peer.decide_class(SENTENCES) == SpaRTAforSequenceClassification(
        tmp_path / "ours"
    ).decide_class(SENTENCES)
