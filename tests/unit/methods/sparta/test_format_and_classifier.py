"""Adapter folders (peft-sparta layout) and SpaRTAforSequenceClassification."""

from __future__ import annotations

import json

import pytest
import safetensors.torch
import torch
from transformers import AutoModelForSequenceClassification

from phalanx import (
    SpaRTAforSequenceClassification,
    load_classifier,
    save_sparta_adapter,
)
from tests.helpers import ARCHES, LABELS, SENTENCES, train_adapter


@pytest.mark.parametrize("arch", ARCHES)
def test_save_load_gives_identical_probabilities(tiny_base, tmp_path, arch):
    sparta, batch = train_adapter(tiny_base(arch), tmp_path / "ad")
    expected = sparta(**batch).logits.softmax(-1)
    clf = SpaRTAforSequenceClassification(tmp_path / "ad")
    got = clf.classify(SENTENCES, batch_size=3)  # several length-sorted batches
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    assert clf.decide_class(SENTENCES) == [
        clf.id2label[str(i)] for i in expected.argmax(-1).tolist()
    ]
    assert type(load_classifier(tmp_path / "ad")) is SpaRTAforSequenceClassification


def test_folder_has_exact_peft_sparta_layout(tiny_base, tmp_path):
    sparta, _ = train_adapter(tiny_base("llama"), tmp_path / "ad")
    files = sorted(p.name for p in (tmp_path / "ad").iterdir())
    assert files == [
        "README.md",  # the model card (phalanx.folder.card)
        "config.json",
        "head_init.safetensors",
        "phalanx.json",
        "sparse_deltas.safetensors",
    ]
    config = json.loads((tmp_path / "ad/config.json").read_text())
    assert config["sparta_pretrained_model"] == str(tiny_base("llama"))
    assert config["problem_type"] == "single_label_classification"
    assert config["id2label"] == {"0": "LABEL_0", "1": "LABEL_1"}
    tensors = safetensors.torch.load_file(tmp_path / "ad/sparse_deltas.safetensors")
    names = [n for n, _ in sparta.named_base_parameters()]
    assert sorted(tensors) == sorted(
        [f"indices.{n}" for n in names] + [f"deltas.{n}" for n in names]
    )
    for n, p in sparta.named_base_parameters():
        idx, d = tensors[f"indices.{n}"], tensors[f"deltas.{n}"]
        assert idx.dtype == torch.int32 and idx.shape == (d.numel(), p.dim())
        assert d.dtype == torch.float32
    assert tensors["deltas.score.weight"].numel() == sparta.model.score.weight.numel()
    assert tensors["deltas.model.embed_tokens.weight"].numel() == 0
    head = safetensors.torch.load_file(tmp_path / "ad/head_init.safetensors")
    torch.testing.assert_close(
        head["head"] + tensors["deltas.score.weight"].view(2, -1),
        sparta.model.score.weight.detach(),
    )
    meta = json.loads((tmp_path / "ad/phalanx.json").read_text())
    assert meta["method"] == "sparta" and meta["method_config"]["density"] == 0.1
    assert meta["labels"] == ["LABEL_0", "LABEL_1"] and meta["base_fingerprint"]["stats"]


def test_print_id2label_and_template_as_in_the_seed(tiny_base, tmp_path):
    template = "Sentence: {sentence} The sentiment is"
    train_adapter(
        tiny_base("llama"), tmp_path / "ad", template=template, labels=["negative", "positive"]
    )
    clf = SpaRTAforSequenceClassification(tmp_path / "ad")
    assert repr(clf) == (
        "(SpaRTA)ModelForSeqClassification(\n"
        f"\tadapter = '{tmp_path / 'ad'}'\n"
        f"\tmodel = '{tiny_base('llama')}'\n"
        "\tid2label = {0: 'negative', 1: 'positive'}\n)"
    )
    assert clf.id2label == {"0": "negative", "1": "positive"}
    assert clf.template == template
    as_dicts = clf.classify([{"sentence": s} for s in SENTENCES])
    torch.testing.assert_close(as_dicts, clf.classify(SENTENCES))
    with pytest.raises(ValueError, match="'sentence'"):
        clf.classify([{"text": "oops"}])


def test_evaluate_reports_seed_metrics(tiny_base, tmp_path):
    train_adapter(tiny_base("bert"), tmp_path / "ad", steps=20, labels=["negative", "positive"])
    clf = SpaRTAforSequenceClassification(tmp_path / "ad")
    result = clf.evaluate(SENTENCES, LABELS, batch_size=4)
    assert set(result) >= {
        "loss",
        "accuracy",
        "confusion_matrix",
        "balanced_accuracy",
        "mcc",
        "f1",
        "macro_f1",
        "per_class",
    }
    assert sum(map(sum, result["confusion_matrix"])) == len(SENTENCES)
    assert result["MCC"] == result["mcc"]  # peft-sparta's spelling still reads
    probs = clf.classify(SENTENCES)
    expected_loss = -probs[torch.arange(8), torch.tensor(LABELS)].log().mean().item()
    assert result["loss"] == pytest.approx(expected_loss, rel=1e-4)
    text = repr(result)
    assert text.startswith("loss: ") and "confusion matrix (rows: true" in text and "MCC: " in text
    assert "negative" in text and "weighted avg" in text
    names = clf.evaluate(SENTENCES, ["positive" if y else "negative" for y in LABELS])
    assert names["accuracy"] == result["accuracy"]
    with pytest.raises(ValueError, match="not in the label set"):
        clf.evaluate(SENTENCES[:2], [0, 7])


def test_loss_is_finite_when_probabilities_underflow(tiny_base, tmp_path):
    train_adapter(tiny_base("bert"), tmp_path / "ad")
    clf = SpaRTAforSequenceClassification(tmp_path / "ad")
    clf._heads["classifier"].weight.data *= 1e6  # absurdly confident head
    clf._heads["classifier"].bias.data = torch.tensor([1e5, -1e5])
    result = clf.evaluate(SENTENCES, LABELS)
    assert torch.isfinite(torch.tensor(result["loss"])) and result["loss"] > 1000


def test_adapters_share_one_base_and_switching_restores_it(tiny_base, tmp_path):
    base = tiny_base("bert")
    train_adapter(base, tmp_path / "a", seed=1)
    train_adapter(base, tmp_path / "b", seed=2, labels=["x", "y", "z"])
    shared = AutoModelForSequenceClassification.from_pretrained(base).eval()
    pristine = {n: p.detach().clone() for n, p in shared.named_parameters()}
    clf_a = SpaRTAforSequenceClassification(tmp_path / "a", model=shared)
    clf_b = SpaRTAforSequenceClassification(tmp_path / "b", model=clf_a)
    alone = SpaRTAforSequenceClassification(tmp_path / "a")
    pa = clf_a.classify(SENTENCES)
    assert clf_b.classify(SENTENCES).shape == (len(SENTENCES), 3)
    torch.testing.assert_close(clf_a.classify(SENTENCES), pa)  # switched back exactly
    torch.testing.assert_close(pa, alone.classify(SENTENCES), rtol=1e-5, atol=1e-6)
    clf_a.unload()
    for n, p in shared.named_parameters():
        assert torch.equal(p, pristine[n]), n
    assert shared.classifier.out_features == 2


def test_empty_inputs_truncation_and_bad_inputs(tiny_base, tmp_path):
    train_adapter(tiny_base("bert"), tmp_path / "ad")
    clf = SpaRTAforSequenceClassification(tmp_path / "ad", max_length=8)
    assert clf.classify([]).shape == (0, 2)
    long = " ".join(["movie"] * 500)
    assert clf.classify([long, ""]).shape == (2, 2)  # truncated, never an error
    with pytest.raises(ValueError, match="input 1 is int"):
        clf.classify(["fine", 3])
    with pytest.raises(ValueError, match="no input_template"):
        clf.classify([{"sentence": "x"}])


def test_missing_files_and_mismatches_are_named(tiny_base, tmp_path):
    train_adapter(tiny_base("bert"), tmp_path / "ad")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        SpaRTAforSequenceClassification(tmp_path / "nope")
    (tmp_path / "ad/head_init.safetensors").rename(tmp_path / "head.bak")
    with pytest.raises(FileNotFoundError, match=r"head_init\.safetensors"):
        SpaRTAforSequenceClassification(tmp_path / "ad")
    (tmp_path / "head.bak").rename(tmp_path / "ad/head_init.safetensors")
    config = json.loads((tmp_path / "ad/config.json").read_text())
    (tmp_path / "ad/config.json").write_text(json.dumps({**config, "num_labels": 3}))
    with pytest.raises(ValueError, match="num_labels=3 but id2label has 2"):
        SpaRTAforSequenceClassification(tmp_path / "ad")
    (tmp_path / "ad/config.json").write_text(json.dumps(config))
    other = AutoModelForSequenceClassification.from_pretrained(tiny_base("bert"))
    with torch.no_grad():
        other.bert.encoder.layer[0].attention.self.query.weight.mul_(3)
    with pytest.raises(ValueError, match="base model mismatch"):
        SpaRTAforSequenceClassification(tmp_path / "ad", model=other)


def test_overwrite_is_refused_and_writes_are_atomic(tiny_base, tmp_path, monkeypatch):
    sparta, _ = train_adapter(tiny_base("bert"), tmp_path / "ad")
    with pytest.raises(FileExistsError, match="--overwrite"):
        save_sparta_adapter(sparta, tmp_path / "ad", base_model="x")
    import phalanx.methods.sparta.format as fmt

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fmt, "write_json", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        save_sparta_adapter(sparta, tmp_path / "ad", base_model="x", overwrite=True)
    # the old folder is intact and no temporary folder is left behind
    assert SpaRTAforSequenceClassification(tmp_path / "ad").classify(["ok"]).shape == (1, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ad"]


def test_legacy_pt_files_load_with_weights_only(tiny_base, tmp_path):
    sparta, batch = train_adapter(tiny_base("llama"), tmp_path / "ad")
    ad = tmp_path / "ad"
    tensors = safetensors.torch.load_file(ad / "sparse_deltas.safetensors")
    legacy = {
        "indices": {k[8:]: v for k, v in tensors.items() if k.startswith("indices.")},
        "deltas": {k[7:]: v for k, v in tensors.items() if k.startswith("deltas.")},
    }
    torch.save(legacy, ad / "sparse_deltas.pt")
    torch.save(
        safetensors.torch.load_file(ad / "head_init.safetensors")["head"], ad / "head_init.pt"
    )
    for name in ("sparse_deltas.safetensors", "head_init.safetensors", "phalanx.json"):
        (ad / name).unlink()
    config = json.loads((ad / "config.json").read_text())
    config["_name_or_path"] = config.pop("sparta_pretrained_model")
    (ad / "config.json").write_text(json.dumps(config))
    clf = SpaRTAforSequenceClassification(ad)
    torch.testing.assert_close(
        clf.classify(SENTENCES), sparta(**batch).logits.softmax(-1), rtol=1e-5, atol=1e-6
    )
