"""``evaluation_from_logits``: the one metric set behind evaluate, training and compress."""

from __future__ import annotations

import pytest
import torch

from phalanx.inference.metrics import evaluation_from_logits
from tests.helpers import LABELS, SENTENCES, build_adapter

KEYS = [
    "loss", "accuracy", "confusion matrix", "balanced accuracy", "macro-F1", "MCC", "F1-score",
    "n",
]  # fmt: skip


def test_metrics_from_known_logits_print_in_the_seed_layout():
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 2.0]])
    ev = evaluation_from_logits(logits, torch.tensor([0, 1, 1, 1]))
    assert list(ev) == KEYS
    assert ev["confusion matrix"] == [[1, 0], [1, 2]] and ev["n"] == 4
    assert ev["accuracy"] == 0.75 and ev["balanced accuracy"] == pytest.approx(5 / 6)
    assert str(ev).splitlines() == [
        "loss: 0.627",
        "accuracy: 75%",
        "confusion matrix: [1, 0",
        "                   1, 2]",
        "balanced accuracy: 83.3%",
        "MCC: 0.577",
        "F1-score: 0.8",
    ]


def test_evaluate_is_evaluation_from_logits_of_its_logits(tiny_base, tmp_path):
    from phalanx import load_classifier

    clf = load_classifier(build_adapter(tiny_base("bert"), "sparta", tmp_path / "adapter"))
    names = [clf.labels[y] for y in LABELS]
    ev = clf.evaluate(SENTENCES, names, batch_size=3)
    want = evaluation_from_logits(clf.logits(SENTENCES), torch.tensor(LABELS))
    assert list(ev) == KEYS and str(ev) == str(want)
    assert ev["confusion matrix"] == want["confusion matrix"] and ev["n"] == len(SENTENCES)
    for key in ("loss", "accuracy", "balanced accuracy", "macro-F1", "MCC", "F1-score"):
        assert ev[key] == pytest.approx(want[key], abs=1e-6), key
    with pytest.raises(ValueError, match="is not in the label set"):
        clf.evaluate(SENTENCES[:1], ["neutral"])
