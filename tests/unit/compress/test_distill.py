"""Distillation: the loss against a hand computation, teachers from phalanx folders."""

from __future__ import annotations

import json
import math

import pytest
import torch

from phalanx.compress.distill import distillation_loss, load_teacher
from phalanx.compress.run import compress
from tests.helpers import run_options, toy_data, write_recipe

DISTIL = """
modifiers:
  - !EpochRangeModifier {start_epoch: 0, end_epoch: 1}
  - !DistillationModifier {hardness: 0.5, temperature: 2.0}
"""


def _softmax(xs):
    e = [math.exp(x) for x in xs]
    return [v / sum(e) for v in e]


def test_loss_matches_a_hand_computed_value():
    s, t, y, T, h = [2.0, 0.0], [0.0, 1.0], 0, 2.0, 0.5
    ps, pt = _softmax([v / T for v in s]), _softmax([v / T for v in t])
    kl = sum(a * math.log(a / b) for a, b in zip(pt, ps, strict=True))
    ce = -math.log(_softmax(s)[y])
    want = h * T * T * kl + (1 - h) * ce  # = 0.6092...
    got = distillation_loss(torch.tensor([s]), torch.tensor([t]), torch.tensor([y]), h, T)
    assert float(got) == pytest.approx(want, rel=1e-6) and round(want, 4) == 0.6092
    # hardness 1: labels play no part; the batch mean is over examples
    two = distillation_loss(
        torch.tensor([s, s]), torch.tensor([t, t]), torch.tensor([0, 1]), 1.0, T
    )
    assert float(two) == pytest.approx(T * T * kl, rel=1e-6)
    # a student equal to its teacher has zero KL
    same = distillation_loss(torch.tensor([t]), torch.tensor([t]), torch.tensor([1]), 1.0, T)
    assert float(same) == pytest.approx(0.0, abs=1e-7)


@pytest.fixture(scope="module")
def teacher_folder(tiny_base, tmp_path_factory):
    """A phalanx 'full' folder with named labels, like runs/full-minilm/adapter."""
    from phalanx.methods.full import FullMethodConfig, apply_full, save_full
    from phalanx.models.loading import load_base_classifier

    base = tiny_base("bert")
    model = apply_full(load_base_classifier(str(base), {0: "neg", 1: "pos"}), FullMethodConfig())
    path = tmp_path_factory.mktemp("teacher") / "adapter"
    return save_full(model, path, base_model=str(base))


def test_teacher_from_a_phalanx_folder_gives_its_classifier_logits(teacher_folder):
    from phalanx import load_classifier

    teacher = load_teacher(str(teacher_folder), ["neg", "pos"])
    texts = ["a good movie", "bleak and desperate"]
    assert torch.allclose(teacher.logits(texts), load_classifier(teacher_folder).logits(texts))
    run_folder = teacher_folder.parent  # a run folder holding adapter/ works too
    assert load_teacher(str(run_folder), ["neg", "pos"]).labels == ["neg", "pos"]


def test_comma_separated_teachers_distil_their_mean_logits(teacher_folder, tiny_base, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from phalanx.compress.distill import teacher_meta

    texts = ["a good movie", "bleak and desperate"]
    hub = str(tmp_path / "hub")  # a Hub-style folder: generic labels, another head
    other = AutoModelForSequenceClassification.from_pretrained(tiny_base("bert"))
    with torch.no_grad():
        other.classifier.bias.copy_(torch.tensor([1.5, -0.5]))
    other.save_pretrained(hub)
    AutoTokenizer.from_pretrained(tiny_base("bert")).save_pretrained(hub)
    ensemble = load_teacher(f"{teacher_folder}, {hub}", ["neg", "pos"])
    members = [load_teacher(s, ["neg", "pos"]).logits(texts) for s in (str(teacher_folder), hub)]
    assert not torch.allclose(members[0], members[1])
    assert torch.allclose(ensemble.logits(texts), (members[0] + members[1]) / 2, atol=1e-6)
    assert teacher_meta(ensemble)["ensemble"] == [str(teacher_folder), hub]
    with pytest.raises(ValueError, match="has an empty member"):
        load_teacher(f"{teacher_folder},", ["neg", "pos"])


def test_teacher_with_other_labels_is_refused(teacher_folder):
    with pytest.raises(ValueError, match=r"predicts labels \['neg', 'pos'\] but the data has"):
        load_teacher(str(teacher_folder), ["0", "1"])
    with pytest.raises(FileNotFoundError, match="cannot load teacher"):
        load_teacher("no/such/teacher", ["0", "1"])


def test_compress_needs_a_teacher_exactly_when_the_recipe_distils(tiny_base, tmp_path):
    data = toy_data(tmp_path)
    recipe = write_recipe(tmp_path, DISTIL)
    base = tiny_base("bert")
    with pytest.raises(ValueError, match="has a DistillationModifier; give --teacher"):
        compress(**run_options(base, data, tmp_path / "a", recipe=str(recipe)))
    plain = write_recipe(tmp_path, "modifiers:\n  - !EpochRangeModifier {end_epoch: 1}\n", "p.yaml")
    with pytest.raises(ValueError, match="has no DistillationModifier"):
        compress(**run_options(base, data, tmp_path / "b", recipe=str(plain), teacher=str(base)))


def test_augmented_copies_double_the_epoch_and_need_a_teacher(tiny_base, tmp_path):
    data = toy_data(tmp_path)  # 38 training texts
    base = tiny_base("bert")
    recipe = write_recipe(tmp_path, DISTIL)
    plain = write_recipe(tmp_path, "modifiers:\n  - !EpochRangeModifier {end_epoch: 1}\n", "p.yaml")
    with pytest.raises(ValueError, match="distill_augment=1 needs a recipe with a Distillation"):
        compress(**run_options(base, data, tmp_path / "a", recipe=str(plain), distill_augment=1))
    with pytest.raises(ValueError, match="distill_augment=-2 must be >= 0"):
        compress(**run_options(base, data, tmp_path / "b", recipe=str(recipe), distill_augment=-2))
    out = compress(
        **run_options(base, data, tmp_path / "c", recipe=str(recipe)),
        teacher=str(base),
        distill_augment=1,
    )
    assert out.steps == 10  # one epoch of 38 texts + 38 variants at batch 8 (5 without)


def test_distilled_student_moves_towards_the_teacher(tiny_base, tmp_path):
    """hardness 1: the student is trained on the teacher's outputs alone."""
    from transformers import AutoModelForSequenceClassification

    data = toy_data(tmp_path)
    torch.manual_seed(3)
    teacher_dir = tmp_path / "teacher"
    teacher = AutoModelForSequenceClassification.from_pretrained(tiny_base("bert"))
    with torch.no_grad():
        teacher.classifier.bias.copy_(torch.tensor([3.0, -3.0]))  # says "0" to everything
    teacher.save_pretrained(teacher_dir)
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(tiny_base("bert")).save_pretrained(teacher_dir)
    recipe = write_recipe(
        tmp_path,
        """
modifiers:
  - !EpochRangeModifier {start_epoch: 0, end_epoch: 4}
  - !LearningRateFunctionModifier {end_epoch: 4, init_lr: 5e-3}
  - !DistillationModifier {hardness: 1.0, temperature: 1.0}
""",
    )
    result = compress(
        **run_options(tiny_base("bert"), data, tmp_path / "out", recipe=str(recipe)),
        teacher=str(teacher_dir),
    )
    from phalanx import load_classifier

    probs = load_classifier(result.output_dir).classify(["a good movie", "it was awful"])
    assert (probs[:, 0] > 0.9).all()  # it copied the teacher, not the toy labels
    # the teacher is scored on the same splits, and the student's test accuracy against it
    metrics = json.loads((result.output_dir / "metrics.json").read_text())
    cm = result.test["confusion_matrix"]  # rows: true labels; the teacher always says 0
    assert metrics["teacher"]["test"] == pytest.approx(sum(cm[0]) / sum(map(sum, cm)))
    assert metrics["recovery"] == pytest.approx(
        result.test["accuracy"] / metrics["teacher"]["test"]
    )
    meta = json.loads((result.output_dir / "phalanx.json").read_text())
    assert meta["compress"]["teacher"]["test_accuracy"] == metrics["teacher"]["test"]
    assert result.teacher == metrics["teacher"]
