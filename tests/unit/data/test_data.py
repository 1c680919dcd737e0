"""Tests for phalanx.data: local files, folders, HF datasets, label handling, built-ins."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from phalanx import data
from phalanx.data import DataSplits, TextDataset, load_data, split_checksum
from phalanx.data.splits import stratified_take

POS = [f"a fine and lovely film number {i}" for i in range(30)]
NEG = [f"a dull and tiresome film number {i}" for i in range(20)]


def _frame(n_pos: int = 30, n_neg: int = 20) -> pd.DataFrame:
    rows = [(t, "pos") for t in POS[:n_pos]] + [(t, "neg") for t in NEG[:n_neg]]
    return pd.DataFrame(rows, columns=["text", "label"])


def _write(df: pd.DataFrame, path: Path) -> Path:
    suffix = path.suffix
    if suffix == ".csv":
        df.to_csv(path, index=False)
    elif suffix == ".tsv":
        df.to_csv(path, sep="\t", index=False)
    elif suffix == ".json":
        df.to_json(path, orient="records")
    elif suffix == ".jsonl":
        df.to_json(path, orient="records", lines=True)
    else:
        df.to_parquet(path)
    return path


def _all_texts(s: DataSplits) -> list[str]:
    return s.train.texts + s.validation.texts + s.test.texts


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json", ".jsonl", ".parquet"])
def test_load_each_file_type(tmp_path: Path, suffix: str) -> None:
    s = load_data(str(_write(_frame(), tmp_path / f"d{suffix}")))
    assert s.label_names == ["neg", "pos"]
    assert (len(s.train), len(s.validation), len(s.test)) == (40, 5, 5)
    assert sorted(_all_texts(s)) == sorted(POS + NEG)
    for ds in (s.train, s.validation, s.test):  # stratified: 3:2 everywhere
        counts = Counter(ds.labels)
        assert counts[1] / len(ds) == pytest.approx(0.6)
    assert set(s.checksums) == {"train", "validation", "test"}
    assert s.checksums["test"] == split_checksum(s.test)


def test_splits_are_deterministic_and_seeded(tmp_path: Path) -> None:
    path = str(_write(_frame(), tmp_path / "d.csv"))
    a, b = load_data(path), load_data(path)
    assert a.checksums == b.checksums and a.test.texts == b.test.texts
    c = load_data(path, seed=7)
    assert c.test.texts != a.test.texts
    assert sorted(_all_texts(c)) == sorted(_all_texts(a))


def test_fractions(tmp_path: Path) -> None:
    path = str(_write(_frame(), tmp_path / "d.csv"))
    s = load_data(path, validation_fraction=0.2, test_fraction=0.0)
    assert (len(s.train), len(s.validation), len(s.test)) == (40, 10, 0)
    with pytest.raises(ValueError, match="test_fraction"):
        load_data(path, validation_fraction=0.5, test_fraction=0.5)


def test_folder_with_split_files(tmp_path: Path) -> None:
    _write(_frame(), tmp_path / "train.csv")
    _write(_frame(3, 2), tmp_path / "dev.jsonl")
    _write(_frame(4, 4), tmp_path / "test.parquet")
    s = load_data(str(tmp_path))
    assert (len(s.train), len(s.validation), len(s.test)) == (50, 5, 8)
    assert s.source == str(tmp_path)


def test_folder_without_validation_carves_it_from_train(tmp_path: Path) -> None:
    _write(_frame(), tmp_path / "train.tsv")
    _write(_frame(4, 4), tmp_path / "test.tsv")
    s = load_data(str(tmp_path), validation_fraction=0.2)
    assert (len(s.train), len(s.validation), len(s.test)) == (40, 10, 8)
    assert set(s.validation.texts).isdisjoint(s.train.texts)


def test_folder_without_train_or_with_two_is_an_error(tmp_path: Path) -> None:
    _write(_frame(), tmp_path / "test.csv")
    with pytest.raises(ValueError, match="no train split"):
        load_data(str(tmp_path))
    _write(_frame(), tmp_path / "train.csv")
    _write(_frame(), tmp_path / "train.jsonl")
    with pytest.raises(ValueError, match=r"two train files.*keep one"):
        load_data(str(tmp_path))


def test_text_pairs_and_custom_columns(tmp_path: Path) -> None:
    df = _frame().rename(columns={"text": "premise", "label": "gold"})
    df["hypothesis"] = [f"h{i}" for i in range(len(df))]
    path = str(_write(df, tmp_path / "nli.jsonl"))
    s = load_data(path, text_column="premise", text_pair_column="hypothesis", label_column="gold")
    assert s.train.pairs is not None and len(s.train.pairs) == len(s.train)
    i = s.train.texts.index(df.premise[0])
    assert s.train.pairs[i] == "h0"


def test_unknown_column_lists_available(tmp_path: Path) -> None:
    path = str(_write(_frame(), tmp_path / "d.csv"))
    with pytest.raises(ValueError, match=r"'sentence' not found.*\['text', 'label'\]"):
        load_data(path, text_column="sentence")
    with pytest.raises(ValueError, match="text_pair_column"):
        load_data(path, text_pair_column="nope")


def test_single_class_is_an_error(tmp_path: Path) -> None:
    path = str(_write(_frame(10, 0), tmp_path / "d.csv"))
    with pytest.raises(ValueError, match=r"single class.*'pos'"):
        load_data(path)


def test_integer_labels(tmp_path: Path) -> None:
    df = pd.DataFrame({"text": POS[:20] + NEG[:20], "label": [1] * 20 + [0] * 20})
    path = str(_write(df, tmp_path / "d.csv"))
    assert load_data(path).label_names == ["0", "1"]
    s = load_data(path, label_names=["negative", "positive"])
    assert s.label_names == ["negative", "positive"]
    assert s.train.labels.count(1) == 16
    with pytest.raises(ValueError, match=r"outside 0..0"):
        load_data(path, label_names=["only"])


def test_integer_labels_are_remapped(tmp_path: Path) -> None:
    df = pd.DataFrame({"text": POS[:20] + NEG[:20], "label": [7] * 20 + [3] * 20})
    s = load_data(str(_write(df, tmp_path / "d.json")))
    assert s.label_names == ["3", "7"]
    assert set(s.train.labels) == {0, 1}


def test_string_labels_with_given_names(tmp_path: Path) -> None:
    path = str(_write(_frame(), tmp_path / "d.csv"))
    s = load_data(path, label_names=["pos", "neg"])
    assert s.label_names == ["pos", "neg"]
    assert Counter(s.train.labels)[0] == 24
    with pytest.raises(ValueError, match=r"'pos' in train row 1 of column 'label' .*not in the"):
        load_data(path, label_names=["neg", "neutral"])


def test_bad_labels(tmp_path: Path) -> None:
    df = pd.DataFrame({"text": POS[:4], "label": [0.5, 1.0, 0.0, 1.0]})
    with pytest.raises(ValueError, match="non-integer"):
        load_data(str(_write(df, tmp_path / "f.json")))
    df = pd.DataFrame({"text": POS[:4], "label": ["a", "", "b", "a"]})
    with pytest.raises(ValueError, match="no value in train row 2"):
        load_data(str(_write(df, tmp_path / "m.csv")))


@pytest.mark.parametrize("missing", ["NaN", "nan", "NA", "N/A", "null", "None", "<NA>", ""])
@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_missing_value_spellings_are_refused_as_labels_with_their_row(tmp_path, missing, suffix):
    labels = [0, 1, missing, 1, 0, 1] * 4
    df = pd.DataFrame({"text": (POS + NEG)[:24], "label": [str(v) for v in labels]})
    with pytest.raises(ValueError, match=rf"no value in train row 3 .*{missing!r}"):
        load_data(str(_write(df, tmp_path / f"d{suffix}")))


def test_a_missing_spelling_named_in_label_names_is_a_class(tmp_path: Path) -> None:
    df = pd.DataFrame({"text": POS[:20] + NEG[:20], "label": ["NA"] * 20 + ["EU"] * 20})
    s = load_data(str(_write(df, tmp_path / "d.csv")), label_names=["EU", "NA"])
    assert s.label_names == ["EU", "NA"] and set(s.train.labels) == {0, 1}


def test_json_null_and_float_nan_labels_are_refused(tmp_path: Path) -> None:
    df = pd.DataFrame({"text": POS[:4] + NEG[:4], "label": [1, 0, None, 1, 0, 1, 0, 1]})
    with pytest.raises(ValueError, match="no value in train row 3"):
        load_data(str(_write(df, tmp_path / "n.jsonl")))


def test_empty_texts_are_dropped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    df = _frame()
    df.loc[0, "text"] = "   "
    with caplog.at_level(logging.WARNING, logger="phalanx.data"):
        s = load_data(str(_write(df, tmp_path / "d.csv")))
    assert len(_all_texts(s)) == 49
    assert "dropped 1" in caplog.text


def test_limit_is_stratified_and_deterministic(tmp_path: Path) -> None:
    path = str(_write(_frame(), tmp_path / "d.csv"))
    s = load_data(path, limit=10)
    assert (len(s.train), len(s.validation), len(s.test)) == (10, 5, 5)
    assert Counter(s.train.labels) == {1: 6, 0: 4}
    assert load_data(path, limit=10).train.texts == s.train.texts
    with pytest.raises(ValueError, match="limit"):
        load_data(path, limit=0)


def test_missing_empty_and_unsupported_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope.csv"):
        load_data(str(tmp_path / "nope.csv"))
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match="empty"):
        load_data(str(tmp_path / "empty.csv"))
    (tmp_path / "header.csv").write_text("text,label\n")
    with pytest.raises(ValueError, match="no rows"):
        load_data(str(tmp_path / "header.csv"))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="could not parse"):
        load_data(str(tmp_path / "bad.json"))
    (tmp_path / "x.xlsx").write_text("x")
    with pytest.raises(ValueError, match="unsupported"):
        load_data(str(tmp_path / "x.xlsx"))


def test_non_utf8_bytes_are_replaced_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines = ["text,label"] + [f"{t},pos" for t in POS[:10]] + [f"{t},neg" for t in NEG[:10]]
    raw = "\n".join(lines).encode().replace(b"lovely film number 3", b"lovely caf\xe9 number 3")
    (tmp_path / "latin.csv").write_bytes(raw)
    with caplog.at_level(logging.WARNING, logger="phalanx.data"):
        s = load_data(str(tmp_path / "latin.csv"))
    assert any("caf\ufffd" in t for t in _all_texts(s))
    assert "not valid UTF-8" in caplog.text


def test_unknown_builtin_name_lists_known() -> None:
    with pytest.raises(ValueError, match=r"did you mean the built-in 'rotten_tomatoes'.*reuters8"):
        load_data("rotten_tomatos")


def test_builtin_not_downloaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHALANX_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"vadersentiment==3.3.2.*phalanx assets download"):
        load_data("rotten_tomatoes")


def test_hf_save_to_disk_folder(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
    )
    df = _frame()
    df["label"] = (df.label == "pos").astype(int)
    dd = datasets.DatasetDict(
        train=datasets.Dataset.from_pandas(df, features=features),
        test=datasets.Dataset.from_pandas(df.iloc[:10], features=features),
    )
    dd.save_to_disk(str(tmp_path / "saved"))
    s = load_data(str(tmp_path / "saved"))
    assert s.label_names == ["neg", "pos"]
    assert (len(s.train), len(s.validation), len(s.test)) == (45, 5, 10)


def test_hf_data_files_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    (tmp_path / "data").mkdir()
    _write(_frame(), tmp_path / "data" / "train-00000-of-00001.parquet")
    _write(_frame(2, 2), tmp_path / "data" / "test-00000-of-00001.parquet")
    s = load_data(str(tmp_path))
    assert (len(s.train), len(s.validation), len(s.test)) == (45, 5, 4)


def test_hf_hub_name(monkeypatch: pytest.MonkeyPatch) -> None:
    datasets = pytest.importorskip("datasets")
    calls = []

    def fake_load_dataset(name: str) -> object:
        calls.append(name)
        if name != "someorg/reviews":
            raise FileNotFoundError(f"Dataset {name} doesn't exist on the Hub")
        return datasets.DatasetDict(
            train=datasets.Dataset.from_pandas(_frame()),
            unsupervised=datasets.Dataset.from_dict({}),
        )

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    s = load_data("someorg/reviews")
    assert calls == ["someorg/reviews"] and len(_all_texts(s)) == 50
    with pytest.raises(ValueError, match=r"nor a loadable Hugging Face dataset.*doesn't exist"):
        load_data("otherorg/missing")


def test_stratified_take_exact_counts() -> None:
    labels = [0] * 51 + [1] * 49 + [2] * 3
    taken, kept = stratified_take(labels, 10, 42, "x")
    assert len(taken) == 10 and sorted(taken + kept) == list(range(len(labels)))
    assert Counter(labels[i] for i in taken) == {0: 5, 1: 5}


def test_text_dataset_checks_lengths() -> None:
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        TextDataset(["a", "b"], [0])
    ds = TextDataset(["a", "b", "c"], [0, 1, 0], ["x", "y", "z"])
    assert ds.subset([2, 0]) == TextDataset(["c", "a"], [0, 0], ["z", "x"])


# ----------------------------------------------------------------------------- real data


@pytest.mark.integration
def test_rotten_tomatoes_pinned_split() -> None:
    s = load_data("rotten_tomatoes")
    assert s.label_names == ["negative", "positive"]
    assert s.checksums == data.ROTTEN_TOMATOES_CHECKSUMS
    sizes = {k: len(getattr(s, k)) for k in ("train", "validation", "test")}
    assert sizes == data.ROTTEN_TOMATOES_SIZES == {"train": 8483, "validation": 1061, "test": 1061}
    labels = s.train.labels + s.validation.labels + s.test.labels
    assert Counter(labels) == {1: 5331, 0: 5274}
    assert Counter(s.test.labels) == {1: 533, 0: 528}
    assert len(set(_all_texts(s))) > 10_500  # splits are disjoint rows (a few duplicate texts)


@pytest.mark.integration
def test_rotten_tomatoes_checksum_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(data.ROTTEN_TOMATOES_CHECKSUMS, "test", "0" * 64)
    with pytest.raises(RuntimeError, match="differs from the pinned"):
        load_data("rotten_tomatoes")


@pytest.mark.integration
@pytest.mark.parametrize(
    ("name", "n_train", "n_test", "n_classes"),
    [("newsgroups20", 11293, 7528, 20), ("reuters8", 5485, 2189, 8)],
)
def test_orange_datasets_keep_their_test_split(
    name: str, n_train: int, n_test: int, n_classes: int
) -> None:
    s = load_data(name, limit=None)
    assert len(s.train) + len(s.validation) == n_train and len(s.test) == n_test
    assert len(s.validation) == int(n_train * 0.1 + 0.5)
    assert s.num_labels == n_classes and s.label_names == sorted(s.label_names)
    small = load_data(name, limit=50)
    assert len(small.train) == len(small.test) == 50


@pytest.mark.parametrize(("suffix", "sep"), [(".csv", ","), (".tsv", "\t")])
def test_a_header_of_millions_of_columns_is_refused_before_parsing(tmp_path, suffix, sep):
    import time

    path = tmp_path / f"wide{suffix}"
    path.write_text(sep.join(f"c{i}" for i in range(2_000_000)) + "\n" + "x" + "\n")
    start = time.perf_counter()
    with pytest.raises(ValueError, match="2,000,000 columns, more than the 10,000"):
        load_data(str(path))
    assert time.perf_counter() - start < 5


def test_a_json_table_of_too_many_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wide.json"
    path.write_text("[{" + ",".join(f'"c{i}": 1' for i in range(10_001)) + "}]")
    with pytest.raises(ValueError, match="10,001 columns"):
        load_data(str(path))


@pytest.mark.parametrize("cell", [["pos"], {"a": 1}, [0, 1]])
@pytest.mark.parametrize("column", ["text", "label"])
def test_a_list_or_mapping_cell_is_refused_with_its_row(tmp_path, cell, column):
    records = [{"text": t, "label": i % 2} for i, t in enumerate(POS[:10] + NEG[:10])]
    records[4][column] = cell
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records))
    with pytest.raises(ValueError, match=rf"column '{column}' holds a \w+ in train row 5"):
        load_data(str(path))
