"""``phalanx compress`` on multi-label and regression data (tiny BERT): pruning, structured
pruning and distillation recipes, the distillation losses against hand computations, teacher
outputs per problem type, and teachers of another problem type refused."""

from __future__ import annotations

import json
import math

import pytest
import torch

from phalanx import load_classifier
from phalanx.compress.config import CompressConfig
from phalanx.compress.distill import (
    Teacher,
    distillation_loss,
    load_teacher,
    soft_targets,
    teacher_labels,
)
from phalanx.compress.run import compress
from phalanx.errors import InputError
from phalanx.problems import Problem
from phalanx.training import train
from tests.helpers import (
    config,
    rating_rows,
    run_options,
    write_ratings,
    write_recipe,
    write_topics,
)

pytestmark = pytest.mark.usefixtures("one_thread")

TEXTS = ["the movie was good and love", "the movie was bad", "the movie was film"]
GMP = """
modifiers:
  - !EpochRangeModifier {start_epoch: 0, end_epoch: 2}
  - !LearningRateFunctionModifier {end_epoch: 2, init_lr: 1e-2}
  - !GMPruningModifier {start_epoch: 0, end_epoch: 1, final_sparsity: 0.5, update_frequency: 0.5}
"""
DISTIL = """
modifiers:
  - !EpochRangeModifier {start_epoch: 0, end_epoch: 1}
  - !DistillationModifier {hardness: 0.5, temperature: 2.0}
"""
COPY = """
modifiers:
  - !EpochRangeModifier {start_epoch: 0, end_epoch: 6}
  - !LearningRateFunctionModifier {end_epoch: 6, init_lr: 1e-2}
  - !DistillationModifier {hardness: 1.0, temperature: 1.0}
"""
HEADLINE = {
    "multi_label": {"micro_f1", "macro_f1", "subset_accuracy", "mean_average_precision"},
    "regression": {"mse", "mae", "pearson", "spearman"},
}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("problem-data")
    return {
        "multi_label": write_topics(folder / "topics.jsonl"),
        "regression": write_ratings(folder / "ratings.csv"),
    }


LABEL_COLUMN = {"multi_label": "labels", "regression": "score"}


@pytest.fixture(scope="module")
def teachers(tiny_base, data, tmp_path_factory):
    """A phalanx 'full' teacher run per problem type (a few steps: any model will do)."""
    out = {}
    for kind, path in data.items():
        run = tmp_path_factory.mktemp(f"teacher-{kind}") / "run"
        cfg = config(tiny_base("bert"), path, run, method="full", max_steps=4, eval_steps=4,
                     label_column=LABEL_COLUMN[kind])  # fmt: skip
        out[kind] = train(cfg).adapter_path
    return out


def _options(base, data, kind, out, **kw):
    return run_options(base, data[kind], out, label_column=LABEL_COLUMN[kind], **kw)


def _in_memory(result, texts):
    model, tok = result.model.eval(), result.tokenizer
    with torch.no_grad():
        logits = torch.cat([model(**tok([t], return_tensors="pt")).logits.float() for t in texts])
    return result.problem.scores(logits)


@pytest.mark.parametrize("kind", ["multi_label", "regression"])
def test_pruning_recipe_trains_saves_and_loads(kind, tiny_base, data, tmp_path):
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path, GMP)
    result = compress(**_options(tiny_base("bert"), data, kind, out, recipe=str(recipe)))
    assert result.problem.type == kind
    assert result.sparsity["overall"] == pytest.approx(0.5, abs=1e-3)
    assert HEADLINE[kind] <= set(result.test) and result.test["n"] == 10
    metrics = json.loads((out / "metrics.json").read_text())
    assert HEADLINE[kind] <= set(metrics["test"]) and "accuracy" not in metrics["test"]
    assert HEADLINE[kind] - {"mean_average_precision"} <= set(metrics["validation"])
    meta = json.loads((out / "phalanx.json").read_text())
    assert meta["problem"] == result.problem.to_meta() and meta["problem"]["type"] == kind
    hf = json.loads((out / "config.json").read_text())
    assert hf["problem_type"] == result.problem.hf_name
    clf = load_classifier(out)
    assert clf.problem == result.problem
    got = clf.classify(TEXTS)
    torch.testing.assert_close(got, _in_memory(result, TEXTS), atol=1e-5, rtol=1e-5)
    if kind == "multi_label":
        assert clf.labels == ["complaint", "craft", "praise"] and got.shape == (3, 3)
        assert len(meta["problem"]["thresholds"]) == 1  # tuned on validation (global)
        assert ((got > 0) & (got < 1)).all()  # sigmoids, not a softmax
        assert not torch.allclose(got.sum(-1), torch.ones(3))
        cols = meta["dataset"]["columns"]
        assert cols["label"] == "labels" and cols["label_separator"] == "|"
    else:
        assert clf.labels == ["score"] and got.shape == (3, 1)
        scores = [r["score"] for r in rating_rows()]
        mean = sum(scores) / len(scores)
        assert meta["problem"]["target_scale"]["mean"] == pytest.approx(mean, abs=0.3)
        assert clf.decide_class(TEXTS) == pytest.approx(got[:, 0].tolist())


@pytest.mark.parametrize("kind", ["multi_label", "regression"])
def test_structured_taylor_pruning_uses_the_problem_loss(kind, tiny_base, data, tmp_path):
    recipe = write_recipe(
        tmp_path,
        "modifiers:\n  - !EpochRangeModifier {end_epoch: 1}\n"
        "  - !StructuredPruningModifier {ffn_fraction: 0.25, importance: taylor}\n",
    )
    out = tmp_path / "out"
    result = compress(
        **_options(tiny_base("bert"), data, kind, out, recipe=str(recipe), max_steps=2)
    )
    assert result.structure["ffn_per_layer"] == [48, 48]
    clf = load_classifier(out)
    assert clf.problem.type == kind
    assert clf.classify(TEXTS).shape == (3, 3 if kind == "multi_label" else 1)


@pytest.mark.parametrize("kind", ["multi_label", "regression"])
def test_distillation_from_a_trained_teacher(kind, tiny_base, data, teachers, tmp_path):
    recipe = write_recipe(tmp_path, DISTIL)
    out = tmp_path / "out"
    result = compress(
        **_options(tiny_base("bert"), data, kind, out, recipe=str(recipe)),
        teacher=str(teachers[kind]),
        distill_augment=1,
    )
    assert result.steps == 19  # one epoch of 76 texts + 76 teacher-labelled variants at 8
    assert result.recovery is None  # an accuracy ratio: single_label only
    assert HEADLINE[kind] <= set(result.teacher["test"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["teacher"] == result.teacher and "recovery" not in metrics
    info = json.loads((out / "phalanx.json").read_text())["compress"]["teacher"]
    assert info["problem"]["type"] == kind
    assert {f"test_{k}" for k in HEADLINE[kind]} <= set(info)
    teacher = load_classifier(teachers[kind])
    assert info["problem"] == teacher.problem.to_meta()
    assert load_classifier(out).problem.type == kind


def _hf_teacher(base, folder, kind, bias):
    """A Hub-style teacher that says the same to every text: zero head weights, ``bias``."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=len(bias), problem_type=Problem(kind).hf_name,
        ignore_mismatched_sizes=True,
    )  # fmt: skip
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor(bias))
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(base).save_pretrained(folder)
    return str(folder)


@pytest.mark.parametrize(
    ("kind", "bias"), [("multi_label", [4.0, -4.0, 4.0]), ("regression", [5.0])]
)
def test_hardness_one_copies_the_teacher_in_the_data_units(kind, bias, tiny_base, data, tmp_path):
    """The student learns the teacher's outputs, not the labels: sigmoids per label, and a
    value of 5 in the data's units (the teacher's value, normalised like the student's
    targets during training, comes back un-normalised)."""
    teacher = _hf_teacher(tiny_base("bert"), tmp_path / "teacher", kind, bias)
    recipe = write_recipe(tmp_path, COPY)
    result = compress(
        **_options(tiny_base("bert"), data, kind, tmp_path / "out", recipe=str(recipe)),
        teacher=teacher,
    )
    got = load_classifier(result.output_dir).classify(TEXTS)
    if kind == "multi_label":
        want = torch.tensor(bias).sigmoid().expand_as(got)
        torch.testing.assert_close(got, want, atol=0.08, rtol=0)
    else:
        assert got[:, 0].tolist() == pytest.approx([5.0] * 3, abs=0.5)
        assert result.teacher["test"]["mae"] > 3  # the toy scores lie in -2..2.6


@pytest.mark.parametrize(
    ("teacher_kind", "data_kind"),
    [("single_label", "multi_label"), ("regression", "multi_label"), ("multi_label", "regression")],
)
def test_a_teacher_of_another_problem_type_is_refused(
    teacher_kind, data_kind, tiny_base, data, teachers, tmp_path
):
    teacher = str(tiny_base("bert")) if teacher_kind == "single_label" else teachers[teacher_kind]
    recipe = write_recipe(tmp_path, DISTIL)
    with pytest.raises(InputError) as err:
        compress(
            **_options(tiny_base("bert"), data, data_kind, tmp_path / "o", recipe=str(recipe)),
            teacher=str(teacher),
        )
    message = str(err.value)
    assert f"is a {teacher_kind} model but the data is {data_kind}" in message
    assert "\n" not in message
    mixed = f"{teachers['multi_label']},{teachers['regression']}"
    with pytest.raises(InputError, match=r"is a regression model but the first teacher \("):
        load_teacher(mixed, ["complaint", "craft", "praise"])


def test_single_label_data_keeps_its_teacher_and_columns(tiny_base, tmp_path):
    from tests.helpers import toy_data

    out = tmp_path / "out"
    recipe = write_recipe(tmp_path, DISTIL)
    base = tiny_base("bert")
    result = compress(
        **run_options(base, toy_data(tmp_path), out, recipe=str(recipe)), teacher=str(base)
    )
    assert isinstance(result.teacher["test"], float) and result.recovery is not None
    meta = json.loads((out / "phalanx.json").read_text())
    assert meta["problem"] == {"type": "single_label"}
    assert meta["dataset"]["columns"] == {"text": "text", "text_pair": None, "label": "label"}
    assert "problem" not in meta["compress"]["teacher"]


# ---------------------------------------------------------------------------- the losses


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _bce(logit: float, target: float) -> float:
    p = _sigmoid(logit)
    return -(target * math.log(p) + (1 - target) * math.log(1 - p))


def test_multi_label_loss_matches_a_hand_computed_value():
    s, t, y, T, h = [2.0, -1.0], [0.5, 1.5], [1.0, 0.0], 2.0, 0.25
    soft = sum(_bce(a / T, _sigmoid(b / T)) for a, b in zip(s, t, strict=True)) / 2
    hard = sum(_bce(a, b) for a, b in zip(s, y, strict=True)) / 2
    got = distillation_loss(
        torch.tensor([s]), torch.tensor([t]), torch.tensor([y]), h, T, "multi_label"
    )
    assert float(got) == pytest.approx(h * T * T * soft + (1 - h) * hard, rel=1e-6)


def test_regression_loss_is_mse_to_teacher_and_labels():
    s, t, y = torch.tensor([[1.0], [3.0]]), torch.tensor([[0.0], [2.0]]), torch.tensor([2.0, 2.0])
    got = distillation_loss(s, t, y, 0.5, 4.0, "regression")  # T plays no part
    assert float(got) == pytest.approx(0.5 * 1.0 + 0.5 * 1.0)
    huber = distillation_loss(
        s, t, y, 0.0, 1.0, "regression", lambda a, b: (a[:, 0] - b).abs().mean()
    )
    assert float(huber) == pytest.approx(1.0)


def test_teacher_outputs_per_problem_type():
    logits = torch.tensor([[2.0, -2.0, 0.1], [-3.0, 0.0, 3.0]])
    multi = Teacher("t", ["a", "b", "c"], None, Problem("multi_label", thresholds=(0.6,)))
    assert teacher_labels(multi, logits) == [(0,), (2,)]  # sigmoid(0.1), (0) < 0.6
    assert soft_targets(multi, logits, Problem("multi_label")) is logits
    values = torch.tensor([[0.5], [2.0]])  # normalised logits of a teacher at (1, 2)
    reg = Teacher("t", ["score"], None, Problem("regression", target_scale=(1.0, 2.0)))
    assert teacher_labels(reg, values) == [2.0, 5.0]  # its values, in the data's units
    student = Problem("regression", target_scale=(3.0, 1.0))
    torch.testing.assert_close(soft_targets(reg, values, student), torch.tensor([[-1.0], [2.0]]))
    raw = soft_targets(reg, values, Problem("regression"))
    torch.testing.assert_close(raw, torch.tensor([[2.0], [5.0]]))


def test_regression_ensemble_averages_values_in_the_data_units(teachers):
    one = load_teacher(str(teachers["regression"]), ["score"], problem_type="regression")
    both = load_teacher(f"{teachers['regression']},{teachers['regression']}", ["score"])
    assert both.problem == Problem("regression")  # values: no scale of its own
    torch.testing.assert_close(both.logits(TEXTS), one.problem.scores(one.logits(TEXTS)))


def test_problem_options_reach_the_train_config_and_are_checked():
    cfg = CompressConfig(
        recipe="r.yaml", problem_type="multi_label_classification", label_columns=["a", "b"],
        thresholds="per_label", pos_weight="auto",
    )  # fmt: skip
    tcfg = cfg.train_config(epochs=1.0)
    assert (tcfg.problem_type, tcfg.label_columns) == ("multi_label", ["a", "b"])
    assert (tcfg.thresholds, tcfg.pos_weight) == ("per_label", "auto")
    with pytest.raises(InputError, match="unknown problem type 'ranking'"):
        CompressConfig(recipe="r.yaml", problem_type="ranking")
    with pytest.raises(InputError, match="loss 'mse' does not apply"):
        CompressConfig(recipe="r.yaml", problem_type="multi_label", loss="mse")


def test_sparta_on_a_pruned_base_saves_the_problem(tiny_base, data, tmp_path):
    from tests.helpers import sparsify

    base = sparsify(tiny_base("bert"), tmp_path / "sparse", 0.5)
    recipe = write_recipe(
        tmp_path,
        "modifiers:\n  - !EpochRangeModifier {end_epoch: 1}\n"
        "  - !ConstantPruningModifier {params: __ALL_PRUNABLE__}\n",
    )
    out = tmp_path / "out"
    result = compress(
        **_options(base, data, "regression", out, recipe=str(recipe), lr=1e-2),
        method="sparta",
        method_options={"density": 0.5},
    )
    clf = load_classifier(out)
    assert clf.problem == result.problem and clf.problem.target_scale is not None
    torch.testing.assert_close(clf.classify(TEXTS), _in_memory(result, TEXTS), atol=1e-5, rtol=0)
