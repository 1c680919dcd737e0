"""ONNX export: parity with PyTorch for every method, metadata, int8, refusals."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from phalanx import load_classifier
from phalanx.export import Pipeline, export_onnx, is_export, quantize_export, read_export_meta
from phalanx.export.format import META_FILE
from tests.helpers import SENTENCES, build_adapter

LONG = " ".join(["the acting was painful to watch but the music is great"] * 60)
TEXTS = [*SENTENCES, "", LONG]


def _ort_logits(export_dir, texts, *, batch_size=3):
    pipe = Pipeline.create(model_path=export_dir, batch_size=batch_size)
    return pipe.logits(texts)


@pytest.mark.parametrize(
    "arch, method",
    [
        ("bert", "sparta"),
        ("bert", "lora"),
        ("bert", "ia3"),
        ("bert", "head"),
        ("bert", "full"),
        ("bert", "ptuning"),
        ("bert", "prompt_tuning"),
        ("llama", "sparta"),
        ("llama", "lora"),
    ],
)
def test_onnx_logits_match_pytorch(adapter_and_export, arch, method):
    adapter, export = adapter_and_export(arch, method)
    clf = load_classifier(adapter)
    want = clf.logits(TEXTS, batch_size=3).numpy()
    got = _ort_logits(export, TEXTS)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
    assert want.std() > 1e-3  # the adapter is not a no-op: parity is not trivially true


def test_bert_exports_compute_the_last_layer_for_the_first_token_only(adapter_and_export):
    # its head reads position 0 only; decoders pool the last token and keep the full layer
    _, bert = adapter_and_export("bert", "lora")
    _, llama = adapter_and_export("llama", "lora")
    assert read_export_meta(bert)["first_token_last_layer"] is True
    assert read_export_meta(llama)["first_token_last_layer"] is False
    # the last layer's FFN runs on [batch, 1, hidden]; the first layer's on every token
    import onnxruntime as ort

    model = onnx.load(str(bert / "model.onnx"))
    ffn = [
        n.output[0] for n in model.graph.node if n.op_type == "MatMul" and "intermediate" in n.name
    ]
    model.graph.output.extend(onnx.helper.make_empty_tensor_value_info(n) for n in ffn)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    ids = np.array([[2, 5, 6, 7, 8, 3]] * 2, dtype=np.int64)
    first, last = session.run([ffn[0], ffn[-1]], {"input_ids": ids, "attention_mask": ids * 0 + 1})
    assert first.shape[:2] == (2, 6) and last.shape[:2] == (2, 1)


def test_decoder_prompt_tokens_fold_into_the_export(adapter_and_export):
    # virtual tokens sit before a decoder's left padding (as in peft): compare one at a time
    adapter, export = adapter_and_export("llama", "ptuning")
    clf = load_classifier(adapter)
    want = clf.logits(SENTENCES, batch_size=1).numpy()
    got = _ort_logits(export, SENTENCES, batch_size=1)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
    assert read_export_meta(export)["virtual_tokens"] == 4


def test_export_folder_holds_model_tokenizer_and_metadata(adapter_and_export):
    _, export = adapter_and_export("llama", "sparta")
    assert is_export(export) and not is_export(export.parent / "adapter")
    meta = read_export_meta(export)
    assert meta["architecture"] == "LlamaForSequenceClassification"
    assert meta["padding_side"] == "left" and meta["labels"] == ["negative", "positive"]
    assert meta["max_length"] == 64 and meta["quantization"] is None
    assert meta["parity_max_abs_diff_fp32"] < 1e-4
    assert (export / "tokenizer.json").is_file()
    graph = onnx.load(str(export / "model.onnx")).graph
    dims = [d.dim_param for d in graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "sequence"]  # dynamic batch and sequence axes


@pytest.mark.parametrize(
    "mode, op",
    [
        ("int8", "MatMulInteger"),
        ("int8-dynamic", "MatMulInteger"),
        ("int8-static", "QuantizeLinear"),
    ],
)
def test_int8_export_is_quantized_and_close_to_fp32(adapter_and_export, tmp_path, mode, op):
    _, fp32 = adapter_and_export("bert", "sparta")
    out = quantize_export(fp32, tmp_path / mode, mode, calibration_texts=SENTENCES * 4)
    meta = read_export_meta(out)
    assert meta["quantization"] == ("int8-token" if mode == "int8" else mode)
    ops = {n.op_type for n in onnx.load(str(out / "model.onnx")).graph.node}
    assert op in ops
    got, want = _ort_logits(out, TEXTS), _ort_logits(fp32, TEXTS)
    assert np.abs(got - want).max() < 0.1  # int8 noise, not a different model
    with pytest.raises(ValueError, match="already quantized"):
        quantize_export(out, tmp_path / "again")


def test_static_int8_needs_calibration_texts(adapter_and_export, tmp_path):
    adapter, _ = adapter_and_export("bert", "sparta")
    with pytest.raises(ValueError, match="calibration texts"):
        export_onnx(adapter, tmp_path / "x", quantize="int8-static")
    with pytest.raises(ValueError, match="quantization 'int4' is unknown"):
        export_onnx(adapter, tmp_path / "x", quantize="int4")
    with pytest.raises(ValueError, match="opset 9 is too old"):
        export_onnx(adapter, tmp_path / "x", opset=9)


def test_export_folder_of_another_format_version_is_refused(adapter_and_export, tmp_path):
    import shutil

    _, export = adapter_and_export("bert", "sparta")
    old = tmp_path / "old"
    shutil.copytree(export, old)
    meta = json.loads((old / META_FILE).read_text())
    (old / META_FILE).write_text(json.dumps({**meta, "format_version": 99}))
    assert is_export(old)
    with pytest.raises(ValueError, match=r"format version 99 .* export the adapter again"):
        Pipeline.create(model_path=old)


def test_generative_adapter_is_refused_with_the_reason(tiny_lm, tmp_path):
    from phalanx import get_method
    from phalanx.generative.scorer import apply_generative, load_lm, save_generative
    from phalanx.models.loading import load_tokenizer

    lm = load_lm(str(tiny_lm("llama")))
    config = get_method("lora").config_cls.from_dict({"r": 4})
    tok = load_tokenizer(str(tiny_lm("llama")), lm)
    scorer = apply_generative(lm, tok, "lora", config, ["bad", "good"])
    save_generative(
        scorer,
        tmp_path / "gen",
        base_model=str(tiny_lm("llama")),
        method="lora",
        meta={"labels": ["negative", "positive"], "max_length": 64},
    )
    with pytest.raises(ValueError, match=r"generative adapters .* \*ForSequenceClassification"):
        export_onnx(tmp_path / "gen", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_exporter_failure_names_the_architecture(adapter_and_export, tmp_path, monkeypatch):
    adapter, _ = adapter_and_export("bert", "sparta")

    def unsupported(*args, **kwargs):
        raise RuntimeError("Exporting the operator 'aten::fft_rfft' to ONNX is not supported")

    monkeypatch.setattr(torch.onnx, "export", unsupported)
    with pytest.raises(ValueError, match=r"BertForSequenceClassification .*aten::fft_rfft"):
        export_onnx(adapter, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_t5_encoder_decoder_classifier_exports(tiny_base, tmp_path):
    adapter = build_adapter(tiny_base("t5"), "sparta", tmp_path / "ad")
    export = export_onnx(adapter, tmp_path / "onnx")
    want = load_classifier(adapter).logits(SENTENCES, batch_size=3).numpy()
    np.testing.assert_allclose(_ort_logits(export, SENTENCES), want, atol=1e-4, rtol=1e-4)
