"""``Pipeline``: the serving contract, bucketing, bad inputs, parity with the classifier API."""

from __future__ import annotations

import numpy as np
import pytest

from phalanx import load_classifier
from phalanx.export import Pipeline, export_onnx
from tests.helpers import SENTENCES, build_adapter

LONG = "the acting was painful to watch " * 400  # far past max_length: truncated


@pytest.mark.parametrize("arch", ["bert", "llama"])
@pytest.mark.parametrize("backend", ["onnx", "adapter"])
def test_pipeline_outputs_equal_the_classification_api(adapter_and_export, arch, backend):
    adapter, export = adapter_and_export(arch, "lora")
    clf = load_classifier(adapter)
    texts = [*SENTENCES, "", LONG, "  "]
    pipe = Pipeline.create(
        "sentiment-analysis", model_path=export if backend == "onnx" else adapter, batch_size=4
    )
    assert pipe.backend == ("onnxruntime" if backend == "onnx" else "pytorch")
    want = clf.classify(texts).numpy()
    got = pipe.classify(texts)
    assert got.dtype == np.float32 and got.shape == (len(texts), 2)
    np.testing.assert_allclose(got, want, atol=1e-3)
    results = pipe(texts)
    assert [r["label"] for r in results] == clf.decide_class(texts)
    for r, row in zip(results, want, strict=True):
        assert r["score"] == pytest.approx(float(row.max()), abs=1e-3)
        assert list(r["probabilities"]) == ["negative", "positive"]
        assert sum(r["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_a_string_gives_one_dict_and_a_list_keeps_input_order(adapter_and_export):
    _, export = adapter_and_export("bert", "sparta")
    pipe = Pipeline.create(model_path=export, batch_size=2, sequence_length=[4, 8])
    one = pipe(SENTENCES[6])
    assert isinstance(one, dict) and set(one) == {"label", "score", "probabilities"}
    many = pipe(SENTENCES)
    # each sentence alone gives the same answer as inside the (length-sorted) batch
    for text, r in zip(SENTENCES, many, strict=True):
        assert r["label"] == pipe(text)["label"]
        assert r["score"] == pytest.approx(pipe(text)["score"], abs=1e-5)
    assert pipe([]) == [] and pipe.classify([]).shape == (0, 2)
    assert pipe.id2label == {0: "negative", 1: "positive"}
    assert pipe.labels == ["negative", "positive"] and pipe.template is None


def test_batches_are_sorted_and_never_cross_a_bucket(adapter_and_export):
    _, export = adapter_and_export("bert", "sparta")
    pipe = Pipeline.create(model_path=export, batch_size=2, sequence_length=[32, 64, 128])
    lengths = [5, 40, 3, 100, 33, 300, 4]
    assert pipe._batches(lengths) == [[2, 6], [0], [4, 1], [3], [5]]
    assert Pipeline.create(model_path=export, sequence_length=16).sequence_length == [16]


def test_dict_inputs_fill_a_template_with_several_fields(tiny_base, tmp_path):
    template = "Review: {review} Topic: {topic}"
    adapter = build_adapter(
        tiny_base("bert"), "sparta", tmp_path / "ad", meta={"input_template": template}
    )
    export = export_onnx(adapter, tmp_path / "onnx")
    items = [{"review": s, "topic": "film"} for s in SENTENCES[:4]]
    pipe = Pipeline.create(model_path=export)
    assert pipe.template == template
    want = load_classifier(adapter).classify(items).numpy()
    np.testing.assert_allclose(pipe.classify(items), want, atol=1e-4)
    assert isinstance(pipe(items[0]), dict)
    with pytest.raises(ValueError, match="lacks the template field 'topic'"):
        pipe([{"review": "good"}])


def test_bad_arguments_are_refused_with_the_fix(adapter_and_export, tmp_path):
    _, export = adapter_and_export("bert", "sparta")
    with pytest.raises(ValueError, match="task 'summarization' is not supported"):
        Pipeline.create("summarization", model_path=export)
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        Pipeline.create(model_path=tmp_path / "missing")
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        Pipeline.create(model_path=export, batch_size=0)
    with pytest.raises(ValueError, match="sequence_length must be a positive int"):
        Pipeline.create(model_path=export, sequence_length=[32, 0])
    with pytest.raises(ValueError, match="num_threads must be an int >= 1"):
        Pipeline.create(model_path=export, num_threads=0)
    with pytest.raises(ValueError, match="give strings"):
        Pipeline.create(model_path=export)([1, 2])


def test_one_thread_and_shorter_truncation_match_pytorch(adapter_and_export):
    adapter, export = adapter_and_export("bert", "sparta")
    pipe = Pipeline.create(model_path=export, num_threads=1, max_length=8)
    assert pipe.max_length == 8
    clf = load_classifier(adapter, max_length=8)
    long = "a charming journey " * 10
    np.testing.assert_allclose(
        pipe.classify([long]), clf.classify([long]).numpy(), atol=1e-4
    )  # truncated at 8 tokens in both
