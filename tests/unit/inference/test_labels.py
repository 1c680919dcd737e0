"""The one label rule (``phalanx.data.labels.label_ids``) and readable metrics, end to end on a
toy CSV with integer labels 1/3/5 and renamed columns (``review``, ``stars``): the Python API,
``phalanx evaluate`` and ``phalanx info``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from phalanx.cli.parser import main
from phalanx.data import load_data
from phalanx.data.labels import label_ids, label_text
from phalanx.errors import InputError
from tests.helpers import config, write_stars
from tests.helpers import star_review as _review

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def stars_run(tiny_base, tmp_path_factory):
    """The tiny BERT fine-tuned (a few dozen steps) on 90 reviews rated 1, 3 or 5 stars."""
    from phalanx.training import train

    folder = tmp_path_factory.mktemp("stars")
    data = write_stars(
        folder / "toy.csv", [(_review(i, s), s) for i, s in enumerate([1, 3, 5] * 30)]
    )
    cfg = config(tiny_base("bert"), data, folder / "run", text_column="review",
                 label_column="stars", method="full", lr=3e-3, epochs=8)  # fmt: skip
    result = train(cfg)
    return folder / "run", data, result


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ----------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    "value", [1, "1", " 1 ", 1.0, np.int64(1), np.str_("1"), torch.tensor(1), np.float32(1)]
)
def test_a_value_equal_to_a_name_is_that_name_whatever_its_type(value):
    assert label_text(value) == "1"
    assert label_ids([value], ["1", "3", "5"]) == [0]
    assert label_ids([value], [1, 3, 5]) == [0]  # names given as ints: the same names


def test_ids_only_when_no_label_name_is_a_number():
    assert label_ids([0, 1, "1", np.int64(0), "positive"], ["negative", "positive"]) == [
        0, 1, 1, 0, 1,
    ]  # fmt: skip
    for value in (0, 2, "0"):
        with pytest.raises(InputError, match="never a class id") as err:
            label_ids([1, value], ["1", "3", "5"])
        assert f"label {value!r} at position 1 (from 0)" in str(err.value)
        assert "is not in the label set ['1', '3', '5']" in str(err.value)
    with pytest.raises(InputError, match=r"label 2 at position 1 .*outside 0\.\.1"):
        label_ids([0, 2], ["negative", "positive"])
    with pytest.raises(InputError, match=r"label 'neutral' at position 0 .*not in the label set"):
        label_ids(["neutral"], ["negative", "positive"])
    with pytest.raises(InputError, match="label True"):  # a bool is no class id
        label_ids([True], ["negative", "positive"])
    with pytest.raises(InputError, match="never a class id"):  # one numeric name is enough
        label_ids([1], ["0", "other"])


def test_training_data_with_label_names_follows_the_rule(tmp_path):
    rows = [(_review(i, s), s) for i, s in enumerate([1, 3, 5] * 10)]
    data = str(write_stars(tmp_path / "d.csv", rows))
    kw = dict(text_column="review", label_column="stars")
    plain = load_data(data, **kw)
    assert plain.label_names == ["1", "3", "5"]
    for names in (["1", "3", "5"], [1, 3, 5]):
        s = load_data(data, label_names=names, **kw)
        assert s.train.labels == plain.train.labels and s.label_names == ["1", "3", "5"]
    reordered = load_data(data, label_names=["5", "3", "1"], **kw)
    assert reordered.label_names == ["5", "3", "1"]
    assert [2 - y for y in reordered.train.labels] == plain.train.labels
    with pytest.raises(InputError, match=r"label '3' in train row 2 of column 'stars'.*outside"):
        load_data(data, label_names=["one", "three", "five"], **kw)  # 1 is an id, 3 is not
    ids = [(_review(i, s), {1: 0, 3: 1, 5: 2}[s]) for i, s in enumerate([1, 3, 5] * 10)]
    with pytest.raises(InputError, match=r"label '0' in train row 1 .*never a class id"):
        load_data(str(write_stars(tmp_path / "ids.csv", ids)), label_names=["1", "3", "5"], **kw)


def test_hf_class_labels_are_their_names_even_when_those_are_numbers(tmp_path):
    datasets = pytest.importorskip("datasets")
    features = datasets.Features(
        {"review": datasets.Value("string"), "stars": datasets.ClassLabel(names=["1", "3", "5"])}
    )
    rows = {
        "review": [_review(i, s) for i, s in enumerate([1, 3, 5] * 10)],
        "stars": [0, 1, 2] * 10,
    }  # fmt: skip  (a ClassLabel stores ids)
    datasets.Dataset.from_dict(rows, features=features).save_to_disk(str(tmp_path / "hf"))
    s = load_data(str(tmp_path / "hf"), text_column="review", label_column="stars")
    assert s.label_names == ["1", "3", "5"]
    assert sorted(set(s.train.labels)) == [0, 1, 2]
    first = s.train.texts.index(rows["review"][2])
    assert s.label_names[s.train.labels[first]] == "5"


# ----------------------------------------------------------------------------- end to end


def _predicted(clf, star: str, texts: list[str], k: int = 3) -> list[str]:
    picked = [t for t, p in zip(texts, clf.decide_class(texts), strict=True) if p == star][:k]
    assert len(picked) == k, "the tiny model should have learned the toy data"
    return picked


def test_api_integer_labels_are_names_not_ids(stars_run):
    from phalanx import load_classifier

    run, _, _ = stars_run
    clf = load_classifier(run / "adapter")
    assert clf.labels == ["1", "3", "5"]
    texts = [_review(i, s) for i, s in enumerate([1, 3, 5] * 4)]
    threes = _predicted(clf, "3", texts)
    # the quoted bug: 1 read as class id 1 (label "3") scored these 100%; the truth is 0%
    ev = clf.evaluate(threes, [1, 1, 1])
    assert ev["accuracy"] == 0.0 and ev["confusion_matrix"][0] == [0, 3, 0]
    assert "accuracy: 0%" in str(ev)
    for labels in ([3, 3, 3], ["3", "3", "3"], np.array([3, 3, 3]), [" 3", 3.0, np.int32(3)]):
        assert clf.evaluate(threes, labels)["accuracy"] == 1.0
    with pytest.raises(InputError, match=r"label 0 at position 0 .*\['1', '3', '5'\]"):
        clf.evaluate(threes, [0, 1, 1])  # a class id, for names that are numbers: refused
    text = str(clf.evaluate(texts, [int(t) for t in clf.decide_class(texts)]))
    assert "  true \\ predicted  1  3  5" in text and "weighted avg" in text
    assert [ln.split()[0] for ln in text.splitlines() if ln.startswith("           ")][:3] == [
        "1", "3", "5",
    ]  # fmt: skip


def test_cli_evaluate_reads_integer_labels_as_names(stars_run, tmp_path, capsys):
    from phalanx import load_classifier

    run, data, _ = stars_run
    clf = load_classifier(run / "adapter")
    threes = _predicted(clf, "3", [_review(i, s) for i, s in enumerate([1, 3, 5] * 4)])
    cols = ("--text-column", "review", "--label-column", "stars", "--split", "all")
    for suffix, value in ((".csv", 1), (".jsonl", 1), (".jsonl", "1")):
        ones = write_stars(tmp_path / f"ones{suffix}", [(t, value) for t in threes])
        out_json = tmp_path / f"ones{suffix}.json"
        code, out, _ = run_cli(capsys, "evaluate", run, "--dataset", ones, *cols,
                               "--output", out_json)  # fmt: skip
        assert code == 0
        assert "accuracy: 0%" in out and "  true \\ predicted  1  3  5" in out
        assert json.loads(out_json.read_text())["accuracy"] == 0.0
    ids = write_stars(tmp_path / "ids.csv", [(t, 0) for t in threes])
    code, out, err = run_cli(capsys, "evaluate", run, "--dataset", ids, *cols,
                             "--output", tmp_path / "ids.json")  # fmt: skip
    assert code == 2 and not out
    assert f"label '0' in row 1 of {ids}, column 'stars'" in err and "['1', '3', '5']" in err
    assert "never a class id" in err and len(err.strip().splitlines()) == 1
    # the training file, whole: the labelled matrix and the per-class table
    code, out, _ = run_cli(capsys, "evaluate", run, "--dataset", data, *cols,
                           "--output", tmp_path / "all.json")  # fmt: skip
    assert code == 0 and "weighted avg" in out and "precision    recall  f1-score   support" in out


def test_metrics_json_evaluate_json_and_info_share_key_names(stars_run, tmp_path, capsys):
    run, data, result = stars_run
    cols = ("--text-column", "review", "--label-column", "stars")
    target = tmp_path / "eval.json"
    assert run_cli(capsys, "evaluate", run, "--dataset", data, *cols, "--output", target)[0] == 0
    evaluated = json.loads(target.read_text())
    saved = json.loads((run / "metrics.json").read_text())
    info = json.loads(run_cli(capsys, "info", run, "--json")[1])["metrics"]
    keys = set(result.test)
    assert {"accuracy", "macro_f1", "mcc", "per_class", "confusion_matrix"} <= keys
    assert set(saved["test"]) == keys == set(info["test"])
    assert set(evaluated) - {"adapter", "dataset", "split"} == keys
    # validation: the Trainer's eval_<key> logs, under the same keys
    assert set(saved["validation"]) - {"epoch", "step"} <= keys
    assert {"accuracy", "macro_f1", "balanced_accuracy", "mcc", "loss"} <= set(saved["validation"])
    logged = {k for h in saved["history"] for k in h if k.startswith("eval_")}
    assert {"eval_accuracy", "eval_macro_f1", "eval_mcc"} <= logged
    assert not any(" " in k or "-" in k for k in keys | set(saved["validation"]) | logged)
    assert evaluated["per_class"].keys() == {"1", "3", "5"}


def test_info_reads_metrics_an_older_version_wrote(stars_run, tmp_path, capsys):
    import shutil

    run, _, _ = stars_run
    old = tmp_path / "old"
    shutil.copytree(run / "adapter", old)
    meta = json.loads((old / "phalanx.json").read_text())
    meta["metrics"]["test"] = {
        "loss": 0.5, "accuracy": 0.75, "confusion matrix": [[1, 0], [1, 2]],
        "balanced accuracy": 0.8, "macro-F1": 0.7333, "MCC": 0.5,
    }  # fmt: skip
    (old / "phalanx.json").write_text(json.dumps(meta))
    code, out, _ = run_cli(capsys, "info", old)
    assert code == 0 and "test accuracy:" in out and "75.00%, macro-F1 0.7333" in out
    code, out, _ = run_cli(capsys, "info", old, "--json")
    test = json.loads(out)["metrics"]["test"]
    assert test["macro_f1"] == 0.7333 and test["confusion_matrix"] == [[1, 0], [1, 2]]
    assert "macro-F1" not in test and "MCC" not in test
