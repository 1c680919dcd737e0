"""SpaRTA on the real all-MiniLM-L6-v2 and real rotten_tomatoes sentences."""

from __future__ import annotations

import pytest
import torch

from phalanx import SpaRTAforSequenceClassification, SpaRTAMethodConfig, get_sparta_model
from phalanx.models.loading import load_base_classifier, load_tokenizer

pytestmark = pytest.mark.integration

LABELS = {0: "negative", 1: "positive"}


@pytest.fixture(scope="module")
def real_data():
    from phalanx.data import load_data

    splits = load_data("rotten_tomatoes", limit=64)
    return splits.train, splits.test


def test_sparta_trains_saves_reloads_and_classifies_minilm(tmp_path, real_data):
    from phalanx import save_sparta_adapter

    train, test = real_data
    model = load_base_classifier("minilm-l6", LABELS)
    tok = load_tokenizer("minilm-l6", model)
    sparta = get_sparta_model(model, SpaRTAMethodConfig(density=0.01, seed=0))
    line = sparta.print_trainable_parameters()
    # 1% of the 10.6 M encoder Linear weights, plus pooler and classifier in full
    assert 250_000 < sparta.num_trainable_parameters() < 260_000, line
    assert "all params: 22,713,986" in line
    opt = torch.optim.AdamW([p for p in sparta.parameters() if p.requires_grad], lr=2e-3)
    y = torch.tensor(train.labels)
    sparta.train()
    losses = []
    for step in range(6):
        rows = slice(step * 16 % len(y), step * 16 % len(y) + 16)
        batch = tok(
            train.texts[rows], padding=True, truncation=True, max_length=64, return_tensors="pt"
        )
        loss = sparta(**batch, labels=y[rows]).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    sparta.eval()
    batch = tok(test.texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
    with torch.no_grad():
        expected = sparta(**batch).logits.softmax(-1)
    save_sparta_adapter(sparta, tmp_path / "ad", base_model="minilm-l6", meta={"max_length": 64})
    size = sum(f.stat().st_size for f in (tmp_path / "ad").iterdir())
    assert size < 5_000_000  # indices, deltas and head: not the 90 MB base

    clf = SpaRTAforSequenceClassification(tmp_path / "ad")
    assert "model = 'minilm-l6'" in repr(clf)
    probs = clf.classify(test.texts, batch_size=16)
    torch.testing.assert_close(probs, expected, rtol=1e-4, atol=1e-5)
    result = clf.evaluate(test.texts, test.labels)
    assert 0.0 <= result["accuracy"] <= 1.0 and result["n"] == len(test.texts)
