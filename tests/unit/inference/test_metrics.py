"""``evaluation_from_logits``: the one metric set behind evaluate, training and compress."""

from __future__ import annotations

import json

import pytest
import torch

from phalanx.inference.metrics import Evaluation, evaluation_from_logits
from phalanx.metric_names import LEGACY_KEYS, METRIC_LABELS
from tests.helpers import LABELS, SENTENCES, build_adapter

KEYS = [
    "loss", "accuracy", "confusion_matrix", "balanced_accuracy", "macro_f1", "mcc", "f1", "n",
    "per_class", "macro_precision", "macro_recall", "weighted_precision", "weighted_recall",
    "weighted_f1",
]  # fmt: skip
NAMED_KEYS = [*KEYS[:8], "label_names", *KEYS[8:]]


def test_metrics_from_known_logits_print_in_the_seed_layout():
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 2.0]])
    ev = evaluation_from_logits(logits, torch.tensor([0, 1, 1, 1]))
    assert list(ev) == KEYS
    assert ev["confusion_matrix"] == [[1, 0], [1, 2]] and ev["n"] == 4
    assert ev["accuracy"] == 0.75 and ev["balanced_accuracy"] == pytest.approx(5 / 6)
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
    want = evaluation_from_logits(clf.logits(SENTENCES), torch.tensor(LABELS), clf.labels)
    assert list(ev) == NAMED_KEYS and str(ev) == str(want)
    assert ev["confusion_matrix"] == want["confusion_matrix"] and ev["n"] == len(SENTENCES)
    for key in ("loss", "accuracy", "balanced_accuracy", "macro_f1", "mcc", "f1"):
        assert ev[key] == pytest.approx(want[key], abs=1e-6), key
    with pytest.raises(ValueError, match="is not in the label set"):
        clf.evaluate(SENTENCES[:1], ["neutral"])


def _random_case(seed: int, n: int = 60, classes: int = 3):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, classes, generator=gen), torch.randint(0, classes, (n,), generator=gen)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize(("seed", "classes"), [(0, 2), (1, 3), (2, 5)])
def test_headline_metrics_agree_with_scikit_learn(seed, classes):
    from sklearn import metrics as skm

    logits, y = _random_case(seed, classes=classes)
    y[:3] = 0  # every class... except the last one of five, never true below
    if classes == 5:
        y[y == 4] = 3
    p = logits.argmax(-1)
    ev = evaluation_from_logits(logits, y)
    assert ev["accuracy"] == pytest.approx(skm.accuracy_score(y, p))
    assert ev["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, p))
    assert ev["macro_f1"] == pytest.approx(skm.f1_score(y, p, average="macro", zero_division=0))
    assert ev["mcc"] == pytest.approx(skm.matthews_corrcoef(y, p))
    assert ev["weighted_f1"] == pytest.approx(skm.f1_score(y, p, average="weighted"))
    if classes == 2:
        assert ev["f1"] == pytest.approx(skm.f1_score(y, p))


def test_printed_report_is_scikit_learns_classification_report():
    from sklearn.metrics import classification_report

    names = ["negative", "neutral", "a rather long positive label"]
    logits, y = _random_case(3)
    ev = evaluation_from_logits(logits, y, names)
    want = classification_report(
        y.tolist(), logits.argmax(-1).tolist(), target_names=names, digits=3, zero_division=0
    )
    text = str(ev)
    assert text.endswith("\n\n" + want.rstrip("\n"))
    assert list(ev["per_class"]) == names
    assert ev["per_class"]["neutral"]["support"] == int((y == 1).sum())


def test_confusion_matrix_prints_label_names_on_both_axes():
    logits = torch.tensor([[0.0, 5.0, 0.0]] * 3 + [[5.0, 0.0, 0.0]])
    ev = evaluation_from_logits(logits, torch.tensor([0, 0, 0, 2]), ["1", "3", "5"])
    lines = str(ev).splitlines()
    at = lines.index("confusion matrix (rows: true label, columns: predicted label):")
    assert lines[:2] == ["loss: " + f"{ev['loss']:.3f}", "accuracy: 0%"]
    assert lines[at + 1 : at + 5] == [
        "  true \\ predicted  1  3  5",
        "                 1  0  3  0",
        "                 3  0  0  0",
        "                 5  1  0  0",
    ]
    assert lines[at + 5] == "balanced accuracy: 0%"
    # then the per-class table (scikit-learn's layout): rows named by the labels
    table = lines[lines.index("", at) + 1 :]
    assert table[0].split() == ["precision", "recall", "f1-score", "support"]
    assert [row.split()[0] for row in table[2:5]] == ["1", "3", "5"]
    assert table[2].split() == ["1", "0.000", "0.000", "0.000", "3"]
    assert [row[:12].strip() for row in table[6:]] == ["accuracy", "macro avg", "weighted avg"]
    long = evaluation_from_logits(torch.eye(2), torch.tensor([0, 1]), ["x" * 30, "short"])
    header = str(long).splitlines()[3]
    assert "x" * 10 + ".." in header and "x" * 13 not in header and header.endswith("short")


def test_one_key_per_metric_and_legacy_names_still_read():
    ev = evaluation_from_logits(*_random_case(4, classes=2), ["neg", "pos"])
    saved = json.loads(json.dumps(ev))
    assert set(saved) == set(NAMED_KEYS) and not set(saved) & set(LEGACY_KEYS)
    assert set(KEYS) <= set(METRIC_LABELS)
    assert all(key == key.lower().replace(" ", "_").replace("-", "_") for key in saved)
    # peft-sparta's spellings: read as aliases, never stored
    assert ev["MCC"] == ev["mcc"] and ev.get("macro-F1") == ev["macro_f1"]
    assert ev["confusion matrix"] == ev["confusion_matrix"] and "MCC" not in ev
    with pytest.raises(KeyError):
        ev["no such metric"]
    # a dict written by an older version comes back under today's keys, printed the same
    old = {"loss": 0.5, "accuracy": 0.5, "confusion matrix": [[1, 1], [0, 0]], "MCC": 0.0,
           "balanced accuracy": 0.5, "F1-score": 0.0, "macro-F1": 0.33}  # fmt: skip
    again = Evaluation(old)
    assert list(again) == [LEGACY_KEYS.get(k, k) for k in old]
    assert "confusion matrix: [1, 1" in str(again) and "MCC: 0.0" in str(again)


def test_the_readmes_evaluation_output_is_what_prints():
    from pathlib import Path

    readme = (Path(__file__).parents[3] / "README.md").read_text()
    block = readme.split("```text\nloss: ", 1)[1].split("\n```", 1)[0]
    y, p = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2]), torch.tensor([0, 0, 1, 1, 1, 2, 1, 2, 2])
    logits = torch.nn.functional.one_hot(p, 3).float() * 1.5
    assert str(evaluation_from_logits(logits, y, ["1", "3", "5"])) == "loss: " + block
