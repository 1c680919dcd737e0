"""Exports of multi-label and regression models (issue 20): the graph's ``logits`` and
``scores`` outputs and their parity (fp32, int8), the ``problem`` entry of the metadata,
``Pipeline`` and the export classifier reading it, and older exports without one."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from phalanx import load_classifier
from phalanx.errors import InputError
from phalanx.export import Pipeline, export_onnx, quantize_export, read_export_meta
from phalanx.export.classifier import ExportClassifier
from phalanx.export.format import META_FILE
from phalanx.problems import Problem
from tests.helpers import SENTENCES
from tests.unit.export.problem_folders import (
    SCALE,
    TARGET,
    TOPICS,
    multi_label_adapter,
    regression_adapter,
)

pytestmark = pytest.mark.usefixtures("one_thread")

TEXTS = [*SENTENCES, "", " ".join(["the acting was painful but the music is great"] * 40)]
MAKERS = {"multi_label": multi_label_adapter, "regression": regression_adapter}


@pytest.fixture(scope="module")
def folders(tiny_base, tmp_path_factory):
    """``(problem type, arch) -> (adapter, fp32 export, int8 export)``, built once."""
    cache: dict[tuple[str, str], tuple] = {}

    def make(kind: str, arch: str = "bert"):
        if (kind, arch) not in cache:
            root = tmp_path_factory.mktemp(f"{kind}-{arch}")
            adapter = MAKERS[kind](tiny_base(arch), root / "adapter", method="lora")
            fp32 = export_onnx(adapter, root / "onnx")
            int8 = export_onnx(adapter, root / "onnx-int8", quantize="int8")
            cache[kind, arch] = (adapter, fp32, int8)
        return cache[kind, arch]

    return make


def _graph(export, texts=TEXTS) -> dict[str, np.ndarray]:
    """The export's graph outputs on ``texts``, encoded as the Pipeline encodes them."""
    from phalanx.inference.batching import pad, tokenize

    pipe = Pipeline.create(model_path=export)
    ids = tokenize(pipe.tokenizer, texts, pipe.max_length, empty_id=pipe.empty_id)["input_ids"]
    batch = pad({"input_ids": ids}, pipe.pad_id, pipe.padding_side, return_tensors="np")
    session = ort.InferenceSession(str(export / "model.onnx"), providers=["CPUExecutionProvider"])
    return dict(zip(["logits", "scores"], session.run(["logits", "scores"], batch), strict=True))


@pytest.mark.parametrize("arch", ["bert", "llama"])
@pytest.mark.parametrize("kind", ["multi_label", "regression"])
def test_fp32_export_matches_pytorch_on_logits_and_scores(folders, kind, arch):
    adapter, export, _ = folders(kind, arch)
    clf = load_classifier(adapter)
    meta = read_export_meta(export)
    assert meta["problem"] == clf.problem.to_meta() and meta["problem"]["type"] == kind
    assert meta["outputs"] == ["logits", "scores"]
    assert meta["parity_max_abs_diff_fp32"] < 1e-4 and meta["parity_max_diff_scores_fp32"] < 1e-4
    graph = onnx.load(str(export / "model.onnx")).graph
    assert [o.name for o in graph.output] == ["logits", "scores"]
    got = _graph(export)
    want_logits, want_scores = clf.logits(TEXTS).numpy(), clf.classify(TEXTS).numpy()
    np.testing.assert_allclose(got["logits"], want_logits, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(got["scores"], want_scores, atol=1e-4, rtol=1e-5)
    pipe = Pipeline.create(model_path=export, batch_size=3)
    assert pipe.problem == clf.problem
    np.testing.assert_allclose(pipe.classify(TEXTS), want_scores, atol=1e-4, rtol=1e-5)
    assert pipe(TEXTS[0]).keys() == clf.predict_records(TEXTS[:1])[0].keys()
    if kind == "regression":
        assert meta["labels"] == [TARGET] and got["scores"].shape == (len(TEXTS), 1)
        # the graph's scores are in the data's units: target_scale undone inside it
        np.testing.assert_allclose(got["scores"], got["logits"] * SCALE[1] + SCALE[0], rtol=1e-5)


@pytest.mark.parametrize("kind", ["multi_label", "regression"])
def test_int8_export_keeps_the_problem_and_scores_that_follow_its_logits(folders, kind):
    adapter, fp32, int8 = folders(kind, "llama")
    meta = read_export_meta(int8)
    assert meta["quantization"] == "int8-token" and meta["problem"]["type"] == kind
    ops = {n.op_type for n in onnx.load(str(int8 / "model.onnx")).graph.node}
    assert "MatMulInteger" in ops
    q, f = _graph(int8), _graph(fp32)
    problem = Problem.from_meta(meta)
    np.testing.assert_allclose(q["scores"], problem.scores(q["logits"]), atol=1e-5, rtol=1e-5)
    assert np.abs(q["logits"] - f["logits"]).max() < 0.1  # int8 noise, not another model
    clf = ExportClassifier(int8)
    assert clf.problem == load_classifier(adapter).problem
    np.testing.assert_allclose(clf.classify(TEXTS).numpy(), q["scores"], atol=1e-5, rtol=1e-5)
    # an fp32 export quantized later keeps its problem entry and its scores output too
    again = quantize_export(fp32, fp32.parent / f"later-{kind}", "int8-dynamic")
    later = _graph(again)
    assert read_export_meta(again)["problem"] == meta["problem"]
    np.testing.assert_allclose(later["scores"], problem.scores(later["logits"]), atol=1e-5)


def test_single_label_exports_give_a_softmax_scores_output(adapter_and_export):
    _, export = adapter_and_export("bert", "sparta")
    assert read_export_meta(export)["problem"] == {"type": "single_label"}
    got = _graph(export)
    np.testing.assert_allclose(got["scores"], Problem().scores(got["logits"]), atol=1e-6)
    np.testing.assert_allclose(got["scores"].sum(-1), 1.0, atol=1e-5)


def test_a_multi_label_export_never_returns_a_softmax(folders):
    adapter, export, int8 = folders("multi_label")
    for folder in (adapter, export, int8):
        clf = load_classifier(folder)
        probs = clf.classify(SENTENCES).numpy()
        # two labels true for every text: both near 1, so the row sums past 1
        assert (probs[:, :2] > 0.9).all() and (probs.sum(-1) > 1.5).all(), folder
        assert clf.decide_class(SENTENCES[:2]) == [TOPICS[:2]] * 2
        pipe = Pipeline.create(model_path=folder)
        np.testing.assert_allclose(pipe.classify(SENTENCES), probs, atol=2e-2)
        record = pipe(SENTENCES[0])
        assert record["labels"] == TOPICS[:2] and set(record) == {"labels", "probabilities"}
        assert list(record["probabilities"]) == TOPICS
        assert sum(record["probabilities"].values()) > 1.5
        ranked = pipe(SENTENCES[0], top_k=2)  # transformers' shape, by each label's own p
        assert [r["label"] for r in ranked] == sorted(
            TOPICS[:2], key=record["probabilities"].get, reverse=True
        )
    assert (_graph(export)["scores"][:, :2] > 0.9).all()


def test_a_regression_export_gives_values_and_refuses_top_k(folders):
    adapter, export, _ = folders("regression")
    want = load_classifier(adapter).predict_records(SENTENCES[:2])
    pipe = Pipeline.create(model_path=export)
    got = pipe(SENTENCES[:2])
    assert [set(r) for r in got] == [{"value"}] * 2
    np.testing.assert_allclose([r["value"] for r in got], [r["value"] for r in want], rtol=1e-5)
    assert 20 < got[0]["value"] < 80  # the data's units: around the mean 50, not the logit
    assert "problem='regression'" in repr(pipe)
    with pytest.raises(InputError, match=r"regression model.*drop top_k"):
        pipe(SENTENCES[0], top_k=1)
    with pytest.raises(InputError, match="regression model"):
        pipe(SENTENCES[0], top_k=None)
    clf = load_classifier(export)
    assert clf.problem.type == "regression" and clf.labels == [TARGET]
    assert clf.decide_class(SENTENCES[:1]) == pytest.approx([got[0]["value"]], rel=1e-5)


def test_an_export_of_another_problem_type_is_refused(folders):
    _, export, _ = folders("multi_label")
    with pytest.raises(InputError, match="is a multi_label model, not single_label"):
        ExportClassifier(export, problem_type="single_label")
    assert ExportClassifier(export, problem_type="multi_label_classification").problem.type == (
        "multi_label"
    )


def test_an_older_export_without_problem_or_scores_loads_as_single_label(
    adapter_and_export, tmp_path
):
    from phalanx.export.format import export_info

    _, export = adapter_and_export("bert", "sparta")
    old = tmp_path / "old"
    shutil.copytree(export, old)
    meta = json.loads((old / META_FILE).read_text())
    for key in ("problem", "outputs", "parity_max_diff_scores_fp32"):
        meta.pop(key)
    (old / META_FILE).write_text(json.dumps(meta))
    model = onnx.load(str(old / "model.onnx"))
    kept = [o for o in model.graph.output if o.name == "logits"]
    del model.graph.output[:]
    model.graph.output.extend(kept)  # as exports before the scores output
    onnx.save(model, str(old / "model.onnx"))
    pipe = Pipeline.create(model_path=old)
    assert pipe.problem == Problem()
    record = pipe(SENTENCES[0])
    assert set(record) == {"label", "score", "probabilities"}
    np.testing.assert_allclose(pipe.classify(SENTENCES), Pipeline.create(model_path=export)
                               .classify(SENTENCES), atol=1e-6)  # fmt: skip
    assert load_classifier(old).problem.type == "single_label"
    assert export_info(old)["problem"] == {"type": "single_label"}


def test_a_malformed_problem_entry_names_the_file_and_the_fix(folders, tmp_path):
    _, export, _ = folders("regression")
    cases = {
        "string": ("regression", "problem.*an object"),
        "unknown": ({"type": "ranking"}, "unknown problem type 'ranking'"),
        "thresholds": ({"type": "multi_label", "thresholds": [0.5, 0.5]}, "2 thresholds for 1"),
        "regression with two labels": (None, "regression export has one output"),
    }
    for name, (entry, match) in cases.items():
        bad = tmp_path / name.replace(" ", "-")
        shutil.copytree(export, bad)
        meta = json.loads((bad / META_FILE).read_text())
        if entry is None:
            meta.update(id2label={"0": "a", "1": "b"}, labels=["a", "b"])
        else:
            meta["problem"] = entry
        (bad / META_FILE).write_text(json.dumps(meta))
        with pytest.raises(InputError, match=match) as err:
            Pipeline.create(model_path=bad)
        assert str(bad / META_FILE) in str(err.value) and "export the adapter again" in str(
            err.value
        )


def test_a_regression_on_raw_targets_exports_scores_equal_to_its_logits(tiny_base, tmp_path):
    adapter = regression_adapter(tiny_base("bert"), tmp_path / "adapter", scale=None)
    export = export_onnx(adapter, tmp_path / "onnx", quantize="int8-dynamic")
    assert read_export_meta(export)["problem"] == {"type": "regression"}
    got = _graph(export)
    np.testing.assert_array_equal(got["scores"], got["logits"])
    assert [o.name for o in onnx.load(str(export / "model.onnx")).graph.output] == [
        "logits",
        "scores",
    ]
