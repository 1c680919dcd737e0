"""Multi-label and regression training with every method: train, save, load, same outputs.

The matrix trains each registered method a few steps on toy multi-label and regression data
(tiny BERT; SpaRTA and LoRA on tiny Llama too), then checks what a user relies on: the
folder records the problem (type, thresholds / target scale), the loaded classifier gives
the in-memory model's scores, multi-label scores are independent sigmoids and regression
values come back in the data's units.
"""

from __future__ import annotations

import json

import pytest
import torch

from phalanx import load_classifier, method_names
from phalanx.errors import InputError
from phalanx.problems import Problem
from phalanx.training import TrainConfig, train
from tests.helpers import OPTIONS, config, rating_rows, topic_rows, write_ratings, write_topics

TEXTS = [r["text"] for r in topic_rows(12)]


@pytest.fixture(scope="module")
def topics(tmp_path_factory):
    return write_topics(tmp_path_factory.mktemp("topics") / "topics.jsonl")


@pytest.fixture(scope="module")
def ratings(tmp_path_factory):
    return write_ratings(tmp_path_factory.mktemp("ratings") / "ratings.csv")


def _run(base, data, out, method, **kw):
    opts = dict(method=method, method_options=OPTIONS[method], max_steps=3, eval_steps=3)
    if data.suffix == ".jsonl":
        opts.update(label_column="labels")
    else:
        opts.update(label_column="score")
    opts.update(kw)
    return train(config(base, data, out, **opts))


def _in_memory_scores(result, texts):
    """Scores of the trained model still in memory, one text at a time (no padding)."""
    model, tok = result.model.eval(), result.tokenizer
    with torch.no_grad():
        logits = torch.cat([model(**tok([t], return_tensors="pt")).logits.float() for t in texts])
    return result.problem.scores(logits)


@pytest.mark.parametrize("method", method_names())
@pytest.mark.parametrize("kind", ["multi_label", "regression"])
def test_every_method_trains_saves_and_loads(tiny_base, topics, ratings, tmp_path, method, kind):
    base = tiny_base("bert")
    data = topics if kind == "multi_label" else ratings
    result = _run(base, data, tmp_path / "run", method)
    assert result.problem.type == kind
    meta = json.loads((result.adapter_path / "phalanx.json").read_text())
    assert meta["problem"]["type"] == kind
    clf = load_classifier(result.adapter_path)
    assert clf.problem == result.problem
    got = clf.classify(TEXTS)
    torch.testing.assert_close(got, _in_memory_scores(result, TEXTS), atol=1e-5, rtol=1e-5)
    decided = clf.decide_class(TEXTS)
    if kind == "multi_label":
        assert clf.labels == ["complaint", "craft", "praise"]
        assert len(meta["problem"]["thresholds"]) == 1
        assert all(isinstance(d, list) and set(d) <= set(clf.labels) for d in decided)
        assert ((got > 0) & (got < 1)).all()
        assert {"micro_f1", "mean_average_precision", "hamming_loss"} <= set(result.test)
    else:
        assert clf.labels == ["score"] and got.shape == (len(TEXTS), 1)
        scores = [r["score"] for r in rating_rows()]
        mean = sum(scores) / len(scores)
        assert meta["problem"]["target_scale"]["mean"] == pytest.approx(mean, abs=0.3)
        assert decided == pytest.approx(got[:, 0].tolist())
        assert {"mse", "mae", "pearson", "spearman"} <= set(result.test)


@pytest.mark.parametrize("method", ["sparta", "lora"])
def test_decoder_multi_label(tiny_base, topics, tmp_path, method):
    result = _run(tiny_base("llama"), topics, tmp_path / "run", method)
    clf = load_classifier(result.adapter_path)
    torch.testing.assert_close(
        clf.classify(TEXTS), _in_memory_scores(result, TEXTS), atol=1e-5, rtol=1e-5
    )


def test_multi_label_learns_the_toy_topics(tiny_base, tmp_path):
    """Enough steps on the toy data to beat always predicting every label (micro-F1 0.70)."""
    data = write_topics(tmp_path / "topics.jsonl", 192)
    result = _run(
        tiny_base("bert"), data, tmp_path / "run", "sparta", max_steps=None, epochs=20,
        eval_steps=None, thresholds="per_label",
    )  # fmt: skip
    assert len(result.problem.thresholds) == 3
    assert result.test["micro_f1"] > 0.9, result.test
    # validation figures are those at the tuned thresholds too, not the 0.5 of training
    from phalanx.training.setup import load_splits

    val = load_splits(result.config).validation
    names = load_classifier(result.adapter_path).labels
    again = load_classifier(result.adapter_path).evaluate(
        val.texts, [[names[i] for i in ids] for ids in val.labels]
    )
    assert result.validation["micro_f1"] == pytest.approx(again["micro_f1"], abs=1e-6)


def test_regression_values_in_the_data_units(tiny_base, tmp_path):
    data = write_ratings(tmp_path / "ratings.csv", 192)
    result = _run(
        tiny_base("bert"), data, tmp_path / "run", "sparta", max_steps=None, epochs=20,
        eval_steps=None,
    )  # fmt: skip
    assert result.test["spearman"] > 0.5, result.test
    rows = rating_rows(192)
    high = [r["text"] for r in rows if r["score"] >= 2]  # two praise words, no complaint
    low = [r["text"] for r in rows if r["score"] <= -1.5]
    clf = load_classifier(result.adapter_path)
    # in the data's units (about +2 and -2), not normalised ones (about +-1)
    assert sum(clf.decide_class(high)) / len(high) > 1.2
    assert sum(clf.decide_class(low)) / len(low) < -1.2


def test_raw_targets_huber_and_pos_weight(tiny_base, topics, ratings, tmp_path):
    raw = _run(tiny_base("bert"), ratings, tmp_path / "raw", "head", normalize_target=False,
               loss="huber")  # fmt: skip
    assert raw.problem.target_scale is None
    weighted = _run(tiny_base("bert"), topics, tmp_path / "w", "head", pos_weight="auto",
                    thresholds="0.4")  # fmt: skip
    assert weighted.problem.thresholds == (0.4,)


def test_label_columns_and_separator(tiny_base, tmp_path):
    rows = topic_rows(48)
    csv = tmp_path / "wide.csv"
    names = ["praise", "complaint", "craft"]
    csv.write_text(
        "text," + ",".join(names) + "\n"
        + "".join(r["text"] + "," + ",".join(str(int(n in r["labels"])) for n in names) + "\n"
                  for r in rows)
    )  # fmt: skip
    result = _run(tiny_base("bert"), csv, tmp_path / "run", "head", label_columns=names)
    assert result.problem.type == "multi_label"
    assert load_classifier(result.adapter_path).labels == sorted(names) or names
    semi = write_topics(tmp_path / "t.tsv")
    semi.write_text(semi.read_text().replace("|", ";"))
    result = _run(tiny_base("bert"), semi, tmp_path / "run2", "head", label_column="labels",
                  label_separator=";", problem_type="multi_label_classification")  # fmt: skip
    assert result.problem.type == "multi_label"


def test_a_folder_of_another_problem_type_is_refused(tiny_base, ratings, tmp_path):
    result = _run(tiny_base("bert"), ratings, tmp_path / "run", "head")
    with pytest.raises(InputError, match="is a regression model, not multi_label") as err:
        load_classifier(result.adapter_path, problem_type="multi_label")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"problem_type": "ranking"}, "unknown problem type 'ranking'"),
        ({"label_columns": ["a"], "problem_type": "regression"}, "label_columns give multi_label"),
        ({"problem_type": "regression", "best_metric": "accuracy"}, "does not apply to regression"),
        ({"problem_type": "multi_label", "loss": "mse"}, "loss 'mse' does not apply"),
        ({"problem_type": "multi_label", "task": "generative"}, "needs task=classification"),
        ({"thresholds": "1.5"}, "1.5"),
        ({"pos_weight": "heavy"}, "pos_weight must be one of"),
    ],
)
def test_bad_problem_options_are_refused(options, match):
    with pytest.raises(InputError, match=match):
        TrainConfig(**options)


def test_problem_meta_round_trip():
    for p in (Problem(), Problem("multi_label", (0.3, 0.6)), Problem("regression", None, (1, 2))):
        assert Problem.from_meta({"problem": p.to_meta()}) == p
    assert Problem.from_meta({}, {"problem_type": "regression"}).type == "regression"
    assert Problem.from_meta({}) == Problem()
