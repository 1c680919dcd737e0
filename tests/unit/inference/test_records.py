"""One record per prediction (issue 19, point 8): the builder, its flat form, ``top_k``, and
the same record from the CLI (JSON / JSONL / CSV), ``Pipeline``, HTTP and ``predict_records``
over an adapter folder and over its ONNX export."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from phalanx import load_classifier
from phalanx.cli.parser import main
from phalanx.errors import InputError
from phalanx.inference.records import (
    check_top_k,
    flat_columns,
    flat_record,
    prediction_records,
    ranked,
    record_from_flat,
)
from tests.helpers import SENTENCES, train_adapter

LABELS = ["bad", "so.so", "very good"]  # a dot and a space: the flat names still read back
TEXTS = [*SENTENCES[:6], ""]
FIELDS = {"label", "score", "probabilities"}


# -- the builder -----------------------------------------------------------------------------
def test_one_record_per_row_from_tensors_arrays_and_lists():
    probs = [[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]]
    want = [
        {"label": "so.so", "score": 0.5, "probabilities": dict(zip(LABELS, probs[0], strict=True))},
        {"label": "bad", "score": 0.6, "probabilities": dict(zip(LABELS, probs[1], strict=True))},
    ]
    for given in (
        probs,
        np.array(probs, dtype=np.float64),
        torch.tensor(probs, dtype=torch.float64),
    ):
        assert prediction_records(given, LABELS) == want
    got = prediction_records(np.array(probs, dtype=np.float32), LABELS)
    assert all(type(v) is float for r in got for v in (r["score"], *r["probabilities"].values()))
    assert prediction_records(np.empty((0, 3)), LABELS) == []


def test_ties_take_the_first_label_and_rounding_follows_the_choice():
    (tie,) = prediction_records([[0.4, 0.4, 0.2]], LABELS)
    assert tie["label"] == "bad"
    # equal once rounded: the label is the larger one before rounding, not the first
    (r,) = prediction_records([[0.4999996, 0.4999998, 0.0000006]], LABELS, decimals=6)
    assert r["probabilities"] == {"bad": 0.5, "so.so": 0.5, "very good": 0.000001}
    assert r["label"] == "so.so" and r["score"] == 0.5
    with pytest.raises(ValueError, match="2 probabilities for 3 labels"):
        prediction_records([[0.5, 0.5]], LABELS)


def test_the_flat_form_reads_back_as_the_record(tmp_path):
    records = prediction_records([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]], LABELS)
    flat = [flat_record(r) for r in records]
    assert list(flat[0]) == flat_columns(LABELS)
    assert flat_columns(LABELS) == [
        "label", "score", "probabilities.bad", "probabilities.so.so", "probabilities.very good",
    ]  # fmt: skip
    assert [record_from_flat(f) for f in flat] == records
    path = tmp_path / "p.csv"  # through a CSV file: every cell comes back as text
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["text", *flat[0]])
        writer.writeheader()
        writer.writerows({"text": t, **r} for t, r in zip("ab", flat, strict=True))
    assert [record_from_flat(row) for row in csv.DictReader(path.open())] == records


def test_ranked_is_transformers_top_k_shape():
    (r,) = prediction_records([[0.2, 0.5, 0.3]], LABELS)
    assert ranked(r) == [
        {"label": "so.so", "score": 0.5},
        {"label": "very good", "score": 0.3},
        {"label": "bad", "score": 0.2},
    ]
    assert ranked(r, 1) == [{"label": "so.so", "score": 0.5}]
    assert ranked(r, 10) == ranked(r, None)  # more than there are labels: all of them
    (tie,) = prediction_records([[0.3, 0.3, 0.4]], LABELS)
    assert [x["label"] for x in ranked(tie)] == ["very good", "bad", "so.so"]  # stable
    for bad in (0, -1, True, 1.5, "2"):
        with pytest.raises(InputError, match="top_k must be an int >= 1 or None"):
            check_top_k(bad)


# -- every entry point gives the same record ------------------------------------------------
@pytest.fixture(scope="module")
def folders(tiny_base, tmp_path_factory) -> dict[str, Path]:
    """``adapter``: a 3-label SpaRTA adapter; ``export``: its fp32 ONNX export."""
    pytest.importorskip("onnxruntime")
    from phalanx.export import export_onnx

    root = tmp_path_factory.mktemp("records")
    train_adapter(tiny_base("bert"), root / "adapter", labels=LABELS, seed=3)
    return {"adapter": root / "adapter", "export": export_onnx(root / "adapter", root / "onnx")}


def _assert_same(got: list[dict], want: list[dict], where: str) -> None:
    assert len(got) == len(want), where
    for g, w in zip(got, want, strict=True):
        assert set(g) == FIELDS and g["label"] == w["label"], (where, g, w)
        assert list(g["probabilities"]) == LABELS, where
        assert g["score"] == g["probabilities"][g["label"]], where
        np.testing.assert_allclose(
            [g["probabilities"][c] for c in LABELS],
            [w["probabilities"][c] for c in LABELS],
            atol=1e-5,
            err_msg=where,
        )


def _cli_records(folder: Path, tmp_path: Path, capsys) -> dict[str, list[dict]]:
    """The records of ``phalanx classify`` printed as JSON and written as JSONL and CSV."""
    assert main(["classify", str(folder), *TEXTS, "--json"]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    found = {"cli json": printed}
    for suffix in ("jsonl", "csv"):
        target = tmp_path / f"out.{suffix}"
        args = ["classify", str(folder), "--input", str(source), "--text-column", "text"]
        assert main([*args, "--output", str(target)]) == 0, capsys.readouterr().err
        capsys.readouterr()
        if suffix == "csv":
            rows = list(csv.DictReader(target.open(encoding="utf-8")))
            assert list(rows[0]) == ["text", *flat_columns(LABELS)]
        else:
            rows = [json.loads(line) for line in target.read_text().splitlines()]
        found[f"cli {suffix}"] = rows
    for name, rows in found.items():
        assert [r.pop("text") for r in rows] == TEXTS, name
    found["cli csv"] = [record_from_flat(r) for r in found["cli csv"]]
    return found


def _http_records(folder: Path) -> list[dict]:
    pytest.importorskip("fastapi")
    import httpx

    from phalanx.serve import BackgroundServer, ModelRegistry, create_app

    registry = ModelRegistry.load([f"m={folder}"])
    with BackgroundServer(create_app(registry)) as server:
        body = httpx.post(server.url + "/v1/classify", json={"texts": TEXTS}, timeout=60).json()
    assert body["model"] == "m" and body["labels"] == LABELS
    return body["results"]


@pytest.mark.parametrize("kind", ["adapter", "export"])
def test_cli_pipeline_http_and_predict_records_give_one_record(folders, kind, tmp_path, capsys):
    from phalanx.export import Pipeline

    folder = folders[kind]
    clf = load_classifier(folder)
    want = clf.predict_records(TEXTS)
    _assert_same(want, want, "predict_records")
    # the peft-sparta / scikit-learn-like names keep their returns
    assert [r["label"] for r in want] == clf.decide_class(TEXTS) == clf.predict(TEXTS)
    probs = clf.classify(TEXTS)
    assert isinstance(probs, torch.Tensor) and torch.equal(probs, clf.predict_proba(TEXTS))
    _assert_same(prediction_records(probs, LABELS), want, "classify")
    got = {
        "pipeline": Pipeline.create(model_path=folder)(TEXTS),
        "http": _http_records(folder),
        **_cli_records(folder, tmp_path, capsys),
    }
    for where, records in got.items():
        _assert_same(records, want, f"{kind}: {where}")


def test_the_export_gives_the_adapters_records(folders):
    a = load_classifier(folders["adapter"]).predict_records(TEXTS)
    e = load_classifier(folders["export"]).predict_records(TEXTS)
    assert [r["label"] for r in a] == [r["label"] for r in e]
    np.testing.assert_allclose(
        [list(r["probabilities"].values()) for r in e],
        [list(r["probabilities"].values()) for r in a],
        atol=1e-4,
    )


# -- Pipeline: transformers' conventions ----------------------------------------------------
@pytest.fixture(scope="module")
def pipe(folders):
    from phalanx.export import Pipeline

    return Pipeline.create(model_path=folders["export"], batch_size=4)


def test_a_string_gives_one_record_and_a_list_a_list(pipe):
    one = pipe(TEXTS[1])
    assert isinstance(one, dict) and set(one) == FIELDS
    many = pipe(TEXTS)
    assert isinstance(many, list) and len(many) == len(TEXTS)
    _assert_same([one], [many[1]], "one vs list")
    assert pipe([TEXTS[1]]) == [pipe(TEXTS[1])]
    assert pipe([]) == [] and pipe([], top_k=None) == []


def test_top_k_gives_transformers_shape(pipe):
    record = pipe(TEXTS[0])
    every = pipe(TEXTS[0], top_k=None)
    assert [set(x) for x in every] == [{"label", "score"}] * 3
    assert sorted(x["label"] for x in every) == sorted(LABELS)
    assert [x["score"] for x in every] == sorted((x["score"] for x in every), reverse=True)
    assert every[0] == {"label": record["label"], "score": record["score"]}
    assert {x["label"]: x["score"] for x in every} == record["probabilities"]
    assert pipe(TEXTS[0], top_k=1) == every[:1] and pipe(TEXTS[0], top_k=7) == every
    lists = pipe(TEXTS, top_k=2)
    assert len(lists) == len(TEXTS) and all(len(x) == 2 for x in lists)
    assert lists[0] == every[:2]
    with pytest.raises(InputError, match="top_k must be an int >= 1 or None"):
        pipe(TEXTS, top_k=0)


def test_top_k_matches_transformers_own_pipeline(folders, pipe):
    from transformers import pipeline

    from phalanx.export.merge import merge_for_export

    merged = merge_for_export(folders["adapter"])
    hf = pipeline("text-classification", model=merged.module.model, tokenizer=merged.tokenizer)
    texts = TEXTS[:4]
    for top_k in (None, 1, 2):
        want, got = hf(texts, top_k=top_k), pipe(texts, top_k=top_k)
        assert [[x["label"] for x in row] for row in got] == [
            [x["label"] for x in row] for row in want
        ]
        np.testing.assert_allclose(
            [[x["score"] for x in row] for row in got],
            [[x["score"] for x in row] for row in want],
            atol=1e-4,
        )
    assert [x["label"] for x in hf(texts[0], top_k=None)] == [
        x["label"] for x in pipe(texts[0], top_k=None)
    ]  # a single string with top_k: one list, as transformers gives


def test_task_names_of_transformers_and_deepsparse(folders):
    from phalanx.export import Pipeline
    from phalanx.export.runtime import TASKS

    assert TASKS == ("text-classification", "sentiment-analysis", "text_classification")
    for task in TASKS:
        assert Pipeline.create(task, model_path=folders["export"])(TEXTS[0])["label"] in LABELS
    with pytest.raises(InputError, match="task 'summarization' is not supported") as err:
        Pipeline.create("summarization", model_path=folders["export"])
    assert all(task in str(err.value) for task in TASKS)
