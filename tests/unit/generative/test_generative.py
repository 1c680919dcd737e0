"""Generative classification: LMs score label words (tiny T5 and Llama)."""

from __future__ import annotations

import pytest
import torch

from phalanx import get_method, load_classifier
from phalanx.generative.scorer import LabelScorer, apply_generative, load_lm, save_generative
from phalanx.models.loading import load_tokenizer
from tests.helpers import LABELS, SENTENCES

VERBALIZERS = ["bad", "good"]


def _train(tiny_lm, arch, method, options, steps=4):
    lm = load_lm(str(tiny_lm(arch)))
    tok = load_tokenizer(str(tiny_lm(arch)), lm)
    config = get_method(method).config_cls.from_dict(options)
    scorer = apply_generative(lm, tok, method, config, VERBALIZERS)
    batch = tok(SENTENCES, padding=True, return_tensors="pt")
    y = torch.tensor(LABELS)
    with torch.no_grad():
        before = scorer.eval()(**batch, labels=y).loss.item()
    scorer.train()
    opt = torch.optim.AdamW([p for p in scorer.parameters() if p.requires_grad], lr=3e-2)
    for _ in range(steps):
        scorer(**batch, labels=y).loss.backward()
        opt.step()
        opt.zero_grad()
    scorer.eval()
    with torch.no_grad():
        out = scorer(**batch, labels=y)
    return scorer, before, out


@pytest.mark.parametrize(
    ("arch", "method", "options"),
    [
        ("t5", "lora", {"r": 4}),
        ("t5", "ia3", {}),
        ("t5", "sparta", {"density": 0.2}),
        ("llama", "lora", {"r": 4}),
        ("llama", "sparta", {"density": 0.2}),
        ("llama", "prompt_tuning", {"num_virtual_tokens": 4}),
    ],
)
def test_label_scoring_trains_saves_and_reloads(tiny_lm, tmp_path, arch, method, options):
    scorer, before, out = _train(tiny_lm, arch, method, options)
    assert out.logits.shape == (len(SENTENCES), 2)
    assert out.loss.item() < before  # the label words became likelier where they belong
    save_generative(
        scorer,
        tmp_path / "ad",
        base_model=str(tiny_lm(arch)),
        method=method,
        meta={"labels": ["negative", "positive"], "max_length": 64},
    )
    clf = load_classifier(tmp_path / "ad")
    if method == "prompt_tuning":  # virtual tokens sit before the padding: compare unpadded
        got = clf.logits(SENTENCES, batch_size=1)
        tok = clf.tokenizer
        expected = torch.cat([scorer(**tok([s], return_tensors="pt")).logits for s in SENTENCES])
    else:
        got, expected = clf.logits(SENTENCES, batch_size=3), out.logits
    torch.testing.assert_close(got, expected.detach(), rtol=1e-4, atol=1e-4)
    probs = clf.classify(SENTENCES)
    torch.testing.assert_close(probs.sum(-1), torch.ones(len(SENTENCES)))
    assert set(clf.decide_class(SENTENCES)) <= {"negative", "positive"}
    generated = clf.generate(SENTENCES[:2], max_new_tokens=2)
    assert len(generated) == 2 and all(isinstance(g, str) for g in generated)


def test_single_token_verbalizers_read_the_last_position_once(tiny_lm):
    lm = load_lm(str(tiny_lm("llama")))
    tok = load_tokenizer(str(tiny_lm("llama")), lm)
    scorer = LabelScorer(lm, tok, VERBALIZERS)
    assert scorer.single_token
    batch = tok(SENTENCES[:3], padding=True, return_tensors="pt")
    with torch.no_grad():
        fast = scorer(**batch).logits
        scorer.single_token = False  # the general path must agree
        slow = scorer(**batch).logits
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)


def test_bad_verbalizers_and_methods_are_refused(tiny_lm):
    lm = load_lm(str(tiny_lm("t5")))
    tok = load_tokenizer(str(tiny_lm("t5")), lm)
    with pytest.raises(ValueError, match="must differ"):
        LabelScorer(lm, tok, ["good", "good"])
    with pytest.raises(ValueError, match="no classification head"):
        apply_generative(lm, tok, "head", None, VERBALIZERS)


@pytest.mark.parametrize(("arch", "method"), [("t5", "lora"), ("llama", "sparta")])
def test_trainer_runs_generative_classification(tiny_lm, tmp_path, arch, method):
    import csv

    from phalanx.training import TrainConfig, train

    data = tmp_path / "toy.csv"
    with data.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for _ in range(6):
            for s, y in zip(SENTENCES, LABELS, strict=True):
                w.writerow([s, "positive" if y else "negative"])
    result = train(
        TrainConfig(
            task="generative",
            verbalizers=VERBALIZERS,
            method=method,
            model=str(tiny_lm(arch)),
            dataset=str(data),
            epochs=1,
            batch_size=8,
            output=str(tmp_path / "run"),
            progress=False,
            method_options={"r": 4} if method == "lora" else {"density": 0.1},
        )
    )
    clf = load_classifier(result.adapter_path)
    assert clf.meta["task"] == "generative" and clf.meta["verbalizers"] == VERBALIZERS
    assert set(clf.decide_class(SENTENCES)) <= {"negative", "positive"}
    assert clf.evaluate(SENTENCES, LABELS)["n"] == len(SENTENCES)


def test_verbalizers_need_the_generative_task():
    from phalanx.training import TrainConfig

    with pytest.raises(ValueError, match="only apply to task=generative"):
        TrainConfig(verbalizers=["bad", "good"])
