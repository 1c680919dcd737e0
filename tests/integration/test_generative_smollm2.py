"""The decoder generative path on the real SmolLM2-135M-Instruct (label-token logits)."""

from __future__ import annotations

import pytest
import torch

from phalanx import get_method, load_classifier
from phalanx.generative.scorer import apply_generative, load_lm, save_generative
from phalanx.models.loading import load_tokenizer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TEMPLATE = (
    "<|im_start|>user\nIs the sentiment of this movie review positive or negative?\n"
    "Review: {sentence}<|im_end|>\n<|im_start|>assistant\nThe sentiment is"
)


def test_smollm2_scores_label_words_trains_and_reloads(tmp_path):
    from phalanx.data import load_data

    test = load_data("rotten_tomatoes", limit=24).test
    texts = [TEMPLATE.format(sentence=t) for t in test.texts[:16]]
    y = torch.tensor(test.labels[:16])
    lm = load_lm("smollm2-135m")
    tok = load_tokenizer("smollm2-135m", lm, max_length=128)
    config = get_method("lora").config_cls(r=4)
    scorer = apply_generative(lm, tok, "lora", config, ["negative", "positive"])
    assert scorer.single_token  # one forward pass: the LM head's label-token logits
    batch = tok(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        before = scorer.eval()(**batch, labels=y)
    zero_shot = (before.logits.argmax(-1) == y).float().mean().item()
    assert zero_shot >= 0.5  # an instruct model already leans the right way
    scorer.train()
    opt = torch.optim.AdamW([p for p in scorer.parameters() if p.requires_grad], lr=1e-3)
    for _ in range(2):
        scorer(**batch, labels=y).loss.backward()
        opt.step()
        opt.zero_grad()
    save_generative(
        scorer,
        tmp_path / "gen",
        base_model="smollm2-135m",
        method="lora",
        meta={"labels": ["negative", "positive"], "max_length": 128},
    )
    clf = load_classifier(tmp_path / "gen")
    probs = clf.classify(texts[:4])
    torch.testing.assert_close(probs.sum(-1), torch.ones(4))
    with torch.no_grad():
        expected = scorer.eval()(**tok(texts[:4], padding=True, return_tensors="pt")).logits
    torch.testing.assert_close(clf.logits(texts[:4]), expected, rtol=1e-3, atol=1e-3)
