"""Multi-label and regression labels: formats, inference, refusals, stratification, checksums."""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from phalanx.data import LabelSpec, TextDataset, infer_problem_type, load_data, multi_hot
from phalanx.data.splits import build_splits, split_checksum, stratified_take

TEXTS = [f"ticket number {i} about something" for i in range(60)]
SETS = [["billing"], ["bug"], ["billing", "bug"], ["ui"], ["bug", "ui"], ["billing"]] * 10
NAMES = ["billing", "bug", "ui"]


def _ids(labels: list[str]) -> tuple[int, ...]:
    return tuple(sorted(NAMES.index(x) for x in labels))


def _write(records: list[dict], path: Path) -> Path:
    df = pd.DataFrame(records)
    if path.suffix == ".csv":
        df.to_csv(path, index=False)
    elif path.suffix == ".tsv":
        df.to_csv(path, sep="\t", index=False)
    elif path.suffix == ".json":
        df.to_json(path, orient="records")
    elif path.suffix == ".jsonl":
        df.to_json(path, orient="records", lines=True)
    else:
        df.to_parquet(path)
    return path


def _by_text(s) -> dict[str, object]:
    out = {}
    for ds in (s.train, s.validation, s.test):
        out.update(zip(ds.texts, ds.labels, strict=True))
    return out


# -------------------------------------------------------------------------------- formats


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_delimited_multi_labels(tmp_path: Path, suffix: str) -> None:
    records = [{"text": t, "label": " | ".join(ls)} for t, ls in zip(TEXTS, SETS, strict=True)]
    s = load_data(str(_write(records, tmp_path / f"d{suffix}")))
    assert s.problem_type == "multi_label" and s.label_names == NAMES
    assert (len(s.train), len(s.validation), len(s.test)) == (48, 6, 6)
    got = _by_text(s)
    assert all(got[t] == _ids(ls) for t, ls in zip(TEXTS, SETS, strict=True))


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".parquet"])
def test_list_multi_labels(tmp_path: Path, suffix: str) -> None:
    records = [{"text": t, "label": ls} for t, ls in zip(TEXTS, SETS, strict=True)]
    s = load_data(str(_write(records, tmp_path / f"d{suffix}")))
    assert s.problem_type == "multi_label" and s.label_names == NAMES
    got = _by_text(s)
    assert all(got[t] == _ids(ls) for t, ls in zip(TEXTS, SETS, strict=True))
    assert all(isinstance(y, tuple) for y in s.train.labels)


def test_custom_separator_duplicates_and_empty_items(tmp_path: Path) -> None:
    labels = ["a;b", "b;;a;a", "c", "a; c ;"] * 10
    records = [{"text": t, "label": y} for t, y in zip(TEXTS, labels, strict=False)]
    path = str(_write(records, tmp_path / "d.csv"))
    s = load_data(path, label_separator=";")
    assert s.label_names == ["a", "b", "c"]
    assert Counter(_by_text(s).values()) == {(0, 1): 20, (2,): 10, (0, 2): 10}


def test_label_columns(tmp_path: Path) -> None:
    flags = [("1", "0", "true"), ("0.0", "1.0", "False"), ("1", "1", "0")] * 20
    records = [
        {"text": t, "spam": a, "urgent": b, "legal": c}
        for t, (a, b, c) in zip(TEXTS, flags, strict=True)
    ]
    path = str(_write(records, tmp_path / "d.csv"))  # no 'label' column at all
    s = load_data(path, label_columns=["spam", "urgent", "legal"])
    assert s.problem_type == "multi_label" and s.label_names == ["spam", "urgent", "legal"]
    assert Counter(_by_text(s).values()) == {(0, 2): 20, (1,): 20, (0, 1): 20}


def test_label_columns_with_all_zero_row_needs_allow_empty(tmp_path: Path) -> None:
    records = [{"text": t, "x": i % 2, "y": float(i % 3 == 0)} for i, t in enumerate(TEXTS)]
    path = str(_write(records, tmp_path / "n.jsonl"))
    with pytest.raises(ValueError, match=r"train row 3 .*has no label.*--allow-empty-labels"):
        load_data(path, label_columns=["x", "y"])
    s = load_data(path, label_columns=["x", "y"], allow_empty_labels=True)
    got = _by_text(s)
    assert got[TEXTS[3]] == (0, 1) and got[TEXTS[2]] == () and got[TEXTS[1]] == (0,)


def test_given_label_names_are_the_set_and_ids_read(tmp_path: Path) -> None:
    records = [{"text": t, "label": _ids(ls)} for t, ls in zip(TEXTS, SETS, strict=True)]
    path = str(_write([{**r, "label": list(r["label"])} for r in records], tmp_path / "d.json"))
    s = load_data(path, label_names=["billing", "bug", "ui", "other"])
    assert s.label_names == ["billing", "bug", "ui", "other"]
    assert all(_by_text(s)[t] == _ids(ls) for t, ls in zip(TEXTS, SETS, strict=True))


def test_found_integer_labels_sort_numerically(tmp_path: Path) -> None:
    records = [{"text": t, "label": [10, i % 3]} for i, t in enumerate(TEXTS)]
    s = load_data(str(_write(records, tmp_path / "d.jsonl")))
    assert s.label_names == ["0", "1", "2", "10"]


def test_allow_empty_labels_in_csv(tmp_path: Path) -> None:
    labels = ["a|b", "", "b", "a"] * 15
    records = [{"text": t, "label": y} for t, y in zip(TEXTS, labels, strict=True)]
    path = str(_write(records, tmp_path / "d.csv"))
    s = load_data(path, problem_type="multi_label", allow_empty_labels=True)
    assert Counter(_by_text(s).values())[()] == 15


def test_regression_from_each_format(tmp_path: Path) -> None:
    scores = [round(i * 0.37 - 3, 2) for i in range(60)]
    records = [{"text": t, "score": y} for t, y in zip(TEXTS, scores, strict=True)]
    for suffix in (".csv", ".jsonl", ".parquet"):
        s = load_data(str(_write(records, tmp_path / f"d{suffix}")), label_column="score")
        assert s.problem_type == "regression" and s.label_names == ["score"] and s.num_labels == 1
        got = _by_text(s)
        assert all(got[t] == pytest.approx(y) for t, y in zip(TEXTS, scores, strict=True))
        assert all(type(y) is float for y in s.train.labels)


def test_regression_of_integers_when_asked(tmp_path: Path) -> None:
    records = [{"text": t, "label": i % 5} for i, t in enumerate(TEXTS)]
    path = str(_write(records, tmp_path / "d.csv"))
    assert load_data(path).problem_type == "single_label"
    s = load_data(path, problem_type="regression")
    assert s.problem_type == "regression" and set(s.train.labels) <= {0.0, 1.0, 2.0, 3.0, 4.0}
    assert load_data(path, problem_type="regression", label_names=["stars"]).label_names == [
        "stars"
    ]
    with pytest.raises(ValueError, match=r"predicts one number.*gives 2 names"):
        load_data(path, problem_type="regression", label_names=["a", "b"])


def test_hf_sequence_classlabel_and_float_value(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    features = datasets.Features(
        {
            "text": datasets.Value("string"),
            "label": datasets.Sequence(datasets.ClassLabel(names=NAMES)),
            "score": datasets.Value("float32"),
        }
    )
    table = {
        "text": TEXTS,
        "label": [list(_ids(ls)) for ls in SETS],
        "score": [float(i % 4) for i in range(60)],  # only 4 values: a Value says regression
    }
    datasets.Dataset.from_dict(table, features=features).save_to_disk(str(tmp_path / "hf"))
    s = load_data(str(tmp_path / "hf"))
    assert s.problem_type == "multi_label" and s.label_names == NAMES
    assert all(_by_text(s)[t] == _ids(ls) for t, ls in zip(TEXTS, SETS, strict=True))
    r = load_data(str(tmp_path / "hf"), label_column="score")
    assert r.problem_type == "regression" and r.label_names == ["score"]


# ------------------------------------------------------------------------------ inference


def test_infer_problem_type(caplog: pytest.LogCaptureFixture) -> None:
    assert infer_problem_type([["a"], ["a", "b"], None]) == "multi_label"
    assert infer_problem_type(["a|b", "a", "b"] * 5) == "multi_label"
    assert infer_problem_type(["a;b", "a"], separator=";") == "multi_label"
    assert infer_problem_type([i / 7 for i in range(30)]) == "regression"
    assert infer_problem_type([str(i / 7) for i in range(30)] + ["", "NaN"]) == "regression"
    assert infer_problem_type([0, 1, 1, 0]) == "single_label"
    assert infer_problem_type(["pos", "neg"]) == "single_label"
    assert infer_problem_type([i / 7 for i in range(30)], label_names=["a", "b"]) == (
        "single_label"
    )
    assert infer_problem_type(["a|b", "c"] * 5, label_names=["a|b", "c"]) == "single_label"
    with caplog.at_level(logging.INFO, logger="phalanx.data"):
        assert infer_problem_type([1, 2, 3, 4, 5] * 4, column="stars") == "single_label"
    assert "'stars' holds 5 distinct numbers" in caplog.text
    assert "--problem-type regression (problem_type= in Python)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="phalanx.data"):
        assert infer_problem_type([0.5, 1.5, 2.5] * 4) == "single_label"  # few: classes?
        assert infer_problem_type(list(range(40))) == "single_label"  # whole numbers
    assert caplog.text.count("--problem-type regression") == 2
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="phalanx.data"):
        assert infer_problem_type(["a|b"] + ["a"] * 19) == "single_label"  # 5% < 10%
    assert "1 of 20 labels" in caplog.text and "--problem-type multi_label" in caplog.text


# ------------------------------------------------------------------------------- refusals


def _jsonl(tmp_path: Path, labels: list) -> str:
    path = tmp_path / "d.jsonl"
    rows = (json.dumps({"text": t, "label": y}) for t, y in zip(TEXTS, labels, strict=False))
    path.write_text("\n".join(rows))
    return str(path)


def test_label_outside_the_given_set_names_row_value_and_set(tmp_path: Path) -> None:
    labels = [["billing"], ["bug"], ["ui", "refund"]] + [["bug"]] * 20
    with pytest.raises(ValueError, match=r"label 'refund' in column 'label' of train row 3") as e:
        load_data(_jsonl(tmp_path, labels), label_names=NAMES)
    assert "['billing', 'bug', 'ui']" in str(e.value)


def test_empty_list_names_the_row(tmp_path: Path) -> None:
    labels = [["billing"], ["bug"]] * 5 + [[]] + [["bug"]] * 5
    with pytest.raises(ValueError, match=r"train row 11 .*has no label.*--allow-empty-labels"):
        load_data(_jsonl(tmp_path, labels))
    s = load_data(_jsonl(tmp_path, labels), allow_empty_labels=True)
    assert Counter(_by_text(s).values())[()] == 1


def test_missing_multi_label_names_the_row(tmp_path: Path) -> None:
    labels = [["billing"], ["bug"]] * 5 + [None] + [["bug"]] * 5
    with pytest.raises(ValueError, match=r"no value in train row 11"):
        load_data(_jsonl(tmp_path, labels), problem_type="multi_label")
    labels[10] = ["bug", None]
    with pytest.raises(ValueError, match=r"holds None in the labels of train row 11"):
        load_data(_jsonl(tmp_path, labels))


def test_list_in_text_column_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    rows = [{"text": t, "label": ["a", "b"]} for t in TEXTS[:10]]
    rows[2]["text"] = ["not", "a", "text"]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(ValueError, match=r"column 'text' holds a list in train row 3"):
        load_data(str(path))


@pytest.mark.parametrize(("bad", "match"), [("lots", "is not a number"), ("inf", "not a finite")])
def test_non_numeric_target_names_row_and_value(tmp_path: Path, bad: str, match: str) -> None:
    scores = [str(i / 3) for i in range(30)]
    scores[6] = bad
    records = [{"text": t, "score": y} for t, y in zip(TEXTS, scores, strict=False)]
    path = str(_write(records, tmp_path / "d.csv"))
    with pytest.raises(ValueError, match=rf"regression target .* of train row 7 .*{match}"):
        load_data(path, label_column="score", problem_type="regression")


def test_missing_target_names_the_row(tmp_path: Path) -> None:
    scores = [i / 3 for i in range(30)]
    scores[4] = None
    with pytest.raises(ValueError, match=r"no value in train row 5"):
        load_data(_jsonl(tmp_path, scores), problem_type="regression")
    scores[4] = True
    with pytest.raises(ValueError, match=r"regression target True .* train row 5"):
        load_data(_jsonl(tmp_path, scores), problem_type="regression")


@pytest.mark.parametrize("cell", ["yes", "2", "", "0.5"])
def test_bad_label_column_cell_names_row_and_column(tmp_path: Path, cell: str) -> None:
    records = [{"text": t, "a": "1", "b": "0"} for t in TEXTS[:20]]
    records[5]["b"] = cell
    path = str(_write(records, tmp_path / "d.csv"))
    with pytest.raises(ValueError, match=r"label column 'b' holds .* in train row 6.*0 or 1"):
        load_data(path, label_columns=["a", "b"])


def test_label_spec_validation() -> None:
    assert LabelSpec(columns=["a", "b"]).problem_type == "multi_label"
    assert LabelSpec("multi_label_classification").problem_type == "multi_label"
    with pytest.raises(ValueError, match="make the problem multi_label, not regression"):
        LabelSpec("regression", columns=["a", "b"])
    with pytest.raises(ValueError, match="unknown problem type"):
        LabelSpec("ranking")
    with pytest.raises(ValueError, match="separator must be a non-empty"):
        LabelSpec(separator="")
    with pytest.raises(ValueError, match="label columns is empty"):
        LabelSpec(columns=[])
    with pytest.raises(ValueError, match="more than once"):
        LabelSpec(columns=["a", "a"])
    with pytest.raises(ValueError, match="list of column names"):
        LabelSpec(columns="a,b")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty labels apply to multi_label"):
        LabelSpec("regression", allow_empty=True)


def test_problem_type_vs_label_columns_conflict_in_load_data(tmp_path: Path) -> None:
    records = [{"text": t, "a": i % 2, "b": 1} for i, t in enumerate(TEXTS[:20])]
    path = str(_write(records, tmp_path / "d.csv"))
    with pytest.raises(ValueError, match="not single_label: drop --problem-type"):
        load_data(path, label_columns=["a", "b"], problem_type="single_label")
    with pytest.raises(ValueError, match=r"column 'c' not found .*--label-columns"):
        load_data(path, label_columns=["a", "c"])


def test_too_few_labels_or_targets() -> None:
    table = {"text": TEXTS[:20], "label": [["a"]] * 20}
    with pytest.raises(ValueError, match=r"single label \('a'\).*at least two"):
        build_splits({"train": table}, ("text", None, "label"), None, _F, 1, "x")
    s = build_splits({"train": table}, ("text", None, "label"), None, _F, 1, "x", min_classes=1)
    assert s.label_names == ["a"]
    table = {"text": TEXTS[:20], "label": [2.5] * 20}
    spec = LabelSpec("regression")
    with pytest.raises(ValueError, match="fewer than two distinct target values"):
        build_splits({"train": table}, ("text", None, "label"), None, _F, 1, "x", labels=spec)


_F = {"validation": 0.1, "test": 0.1}


# -------------------------------------------------------------------------- stratification


def _rare_label_set() -> list[tuple[int, ...]]:
    """400 examples: labels 0-2 common, labels 3-7 rare (10 examples each, with common
    labels: a label powerset sees them as many tiny classes)."""
    rng = random.Random(7)
    labels = [tuple(sorted({rng.randrange(3), rng.randrange(3)})) for _ in range(350)]
    for rare in range(3, 8):
        for k in range(10):
            labels.append(tuple(sorted({rare, k % 3, (k // 3) % 3})))
    rng.shuffle(labels)
    return labels


def test_iterative_stratification_keeps_each_label_share() -> None:
    labels = _rare_label_set()
    n, n_take = len(labels), 40  # a 10% split
    taken, kept = stratified_take(labels, n_take, seed=42, salt="test")
    assert len(taken) == n_take and sorted(taken + kept) == list(range(n))
    totals = Counter(i for y in labels for i in y)
    got = Counter(i for j in taken for i in labels[j])
    for lab, total in totals.items():  # common labels take up the split's exact size
        want = total * n_take / n
        assert abs(got[lab] - want) <= 1 + 0.1 * want, (lab, got[lab], total)
    assert all(got[rare] == 1 for rare in range(3, 8))  # 10 examples -> 1 in a 10% split
    # a label powerset (each combination a class) cannot see the rare labels' shares
    combos = {c: k for k, c in enumerate(sorted(set(labels)))}
    p_taken, _ = stratified_take([combos[y] for y in labels], n_take, 42, "test")
    p_got = Counter(i for j in p_taken for i in labels[j])
    assert any(p_got[rare] != 1 for rare in range(3, 8))


def test_iterative_stratification_is_deterministic_and_seeded() -> None:
    labels = _rare_label_set()
    a = stratified_take(labels, 40, 42, "test")
    assert a == stratified_take(labels, 40, 42, "test")
    assert a != stratified_take(labels, 40, 43, "test")
    assert a != stratified_take(labels, 40, 42, "validation")


def test_iterative_stratification_with_empty_label_sets() -> None:
    labels = [(0,), (1,), (), (0, 1)] * 25
    taken, _ = stratified_take(labels, 20, 1, "x", "multi_label")
    assert len(taken) == 20 and Counter(labels[i] for i in taken)[()] == 5
    assert stratified_take([], 0, 1, "x", "multi_label") == ([], [])
    assert stratified_take(labels, 0, 1, "x")[0] == []


def test_regression_stratifies_over_quantile_bins() -> None:
    values = [float(v) for v in range(100)]
    random.Random(3).shuffle(values)
    taken, kept = stratified_take(values, 10, 42, "test")
    assert len(taken) == 10 and sorted(taken + kept) == list(range(100))
    assert sorted(int(values[i]) // 10 for i in taken) == list(range(10))  # one per decile
    assert (taken, kept) == stratified_take(values, 10, 42, "test")


def test_multi_label_splits_are_deterministic(tmp_path: Path) -> None:
    records = [{"text": t, "label": ls} for t, ls in zip(TEXTS, SETS, strict=True)]
    path = str(_write(records, tmp_path / "d.jsonl"))
    a, b, c = load_data(path), load_data(path), load_data(path, seed=7)
    assert a.checksums == b.checksums and a.test.texts == b.test.texts
    assert a.checksums != c.checksums
    s = load_data(path, limit=10)
    assert len(s.train) == 10 and s.train.texts == load_data(path, limit=10).train.texts


# ------------------------------------------------------------------------------ checksums


def test_checksum_lines_per_kind() -> None:
    import hashlib

    def sha(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    assert split_checksum(TextDataset(["a", "b"], [1, 0])) == sha("1\ta\n0\tb\n")
    assert split_checksum(TextDataset(["a", "b"], [(0, 2), ()])) == sha("0,2\ta\n\tb\n")
    assert split_checksum(TextDataset(["a"], [0.1])) == sha("0.1\ta\n")
    assert split_checksum(TextDataset(["a"], [3.0], ["p"])) == sha("3.0\ta\tp\n")


def test_multi_hot() -> None:
    assert multi_hot([(0, 2), (), (1,)], 3) == [[1.0, 0.0, 1.0], [0.0] * 3, [0.0, 1.0, 0.0]]
    with pytest.raises(ValueError, match=r"no class id in 0\.\.2"):
        multi_hot([(3,)], 3)


def test_single_label_data_is_unchanged(tmp_path: Path) -> None:
    records = [{"text": t, "label": "pos" if i % 3 else "neg"} for i, t in enumerate(TEXTS)]
    s = load_data(str(_write(records, tmp_path / "d.csv")))
    assert s.problem_type == "single_label" and all(isinstance(y, int) for y in s.train.labels)
    assert s.checksums["train"] == split_checksum(s.train)
