"""One padding / batching implementation: its pieces, and the same token ids from ``classify``,
the export ``Pipeline`` (ONNX and adapter backends) and the training collator."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from phalanx.inference.batching import (
    CPU_TOKEN_BUDGET,
    empty_token_id,
    length_batches,
    pad,
    run_in_batches,
    token_budget,
    tokenize,
)
from phalanx.training.inputs import PadCollator
from tests.helpers import SENTENCES, WORDS, build_adapter, tiny_config

HAS_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime"))


# -- the pieces -----------------------------------------------------------------------------
def test_the_empty_text_token_is_eos_even_when_its_id_is_0_else_pad():
    assert empty_token_id(SimpleNamespace(eos_token_id=0, pad_token_id=3)) == 0
    assert empty_token_id(SimpleNamespace(eos_token_id=None, pad_token_id=0)) == 0
    assert empty_token_id(SimpleNamespace(eos_token_id=None, pad_token_id=5)) == 5
    with pytest.raises(ValueError, match=r"set tokenizer\.pad_token"):
        empty_token_id(SimpleNamespace(eos_token_id=None, pad_token_id=None))


@pytest.mark.parametrize("side", ["left", "right"])
def test_pad_gives_the_same_values_as_numpy_and_torch(side):
    cols = {"input_ids": [[5, 6, 7], [8]], "token_type_ids": [[0, 0, 1], [0]]}
    as_np = pad(cols, pad_id=9, padding_side=side, return_tensors="np")
    as_pt = pad(cols, pad_id=9, padding_side=side, return_tensors="pt")
    assert list(as_np) == ["input_ids", "token_type_ids", "attention_mask"]
    for key in as_np:
        assert as_pt[key].dtype == torch.long and as_np[key].dtype == np.int64
        np.testing.assert_array_equal(as_pt[key].numpy(), as_np[key])
    if side == "left":
        assert as_np["input_ids"].tolist() == [[5, 6, 7], [9, 9, 8]]
        assert as_np["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]
        assert as_np["token_type_ids"].tolist() == [[0, 0, 1], [0, 0, 0]]
    else:
        assert as_np["input_ids"].tolist() == [[5, 6, 7], [8, 9, 9]]
        assert as_np["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_pad_refuses_a_missing_pad_token_and_unknown_options():
    with pytest.raises(ValueError, match="no pad token"):
        pad({"input_ids": [[1]]}, pad_id=None)
    with pytest.raises(ValueError, match="return_tensors"):
        pad({"input_ids": [[1]]}, pad_id=0, return_tensors="tf")
    with pytest.raises(ValueError, match="padding_side"):
        pad({"input_ids": [[1]]}, pad_id=0, padding_side="middle")


def test_length_batches_sort_cap_rows_and_tokens_and_respect_buckets():
    lengths = [5, 40, 3, 100, 33, 300, 4]
    assert length_batches(lengths, 2) == [[2, 6], [0, 4], [1, 3], [5]]
    # as the Pipeline buckets: never a batch across 32 / 64 / 128
    assert length_batches(lengths, 2, buckets=[32, 64, 128]) == [[2, 6], [0], [4, 1], [3], [5]]
    # a token budget of 100: at most 100 padded tokens, one row at the least
    assert length_batches(lengths, 8, max_tokens=100) == [[2, 6, 0], [4, 1], [3], [5]]
    assert length_batches([], 4) == []
    with pytest.raises(ValueError, match="batch_size"):
        length_batches(lengths, 0)


def test_token_budget_is_2048_on_cpu_and_none_on_gpus_unless_given():
    assert token_budget("cpu") == token_budget(torch.device("cpu")) == CPU_TOKEN_BUDGET == 2048
    assert token_budget("cuda:0") is None and token_budget(torch.device("cuda", 1)) is None
    assert token_budget("cuda", 512) == 512 and token_budget("cpu", 64) == 64


@pytest.mark.parametrize("tensors", ["np", "pt"])
def test_run_in_batches_gives_rows_back_in_input_order(tensors):
    ids = [[1, 2, 3], [4], [5, 6], [7, 8, 9, 10]]
    seen = []

    def forward(batch):  # one output row per input: its first real token
        seen.append(batch["input_ids"].shape)
        first = batch["input_ids"][:, :1]
        return first.astype(np.float32) if tensors == "np" else first.float()

    out = run_in_batches(
        {"input_ids": ids},
        forward,
        pad_id=0,
        padding_side="right",
        batch_size=2,
        return_tensors=tensors,
    )
    assert [float(v) for v in out[:, 0]] == [1.0, 4.0, 5.0, 7.0]
    assert [tuple(s) for s in seen] == [(2, 2), (2, 4)]  # each batch padded to its own longest


def test_tokenize_gives_an_empty_text_one_token_in_every_column(tiny_base):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_base("llama"))  # no special tokens added
    cols = tokenize(tok, ["a good movie", ""], max_length=8, empty_id=7)
    assert cols["input_ids"][1] == [7] and cols["attention_mask"][1] == [1]
    assert len(cols["input_ids"][0]) == 3
    pair = tokenize(tok, ["a good movie", ""], 8, pairs=["bad", ""])
    assert pair["input_ids"][1] == [empty_token_id(tok)]


def test_pad_collator_pads_every_column_and_stacks_labels():
    tok = SimpleNamespace(pad_token_id=0, padding_side="left")
    items = [
        {"input_ids": [3, 4], "attention_mask": [1, 1], "token_type_ids": [0, 1], "labels": 1},
        {"input_ids": [5], "attention_mask": [1], "token_type_ids": [0], "labels": 0},
    ]
    batch = PadCollator(tok)(items)
    assert batch["input_ids"].tolist() == [[3, 4], [0, 5]]
    assert batch["attention_mask"].tolist() == [[1, 1], [0, 1]]
    assert batch["token_type_ids"].tolist() == [[0, 1], [0, 0]]
    assert batch["labels"].tolist() == [1, 0]


# -- one tokenizer, four paths: the same token ids ---------------------------------------------
def _eos_zero_base(folder):
    """A tiny decoder (left padding, last-token pooling) whose tokenizer has EOS id 0, PAD 1
    and adds no special tokens, so an empty text tokenizes to nothing."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import AutoModelForSequenceClassification, PreTrainedTokenizerFast

    vocab = {"<eos>": 0, "[PAD]": 1, "[UNK]": 2}
    for w in dict.fromkeys(WORDS):
        if len(vocab) < 128:
            vocab[w] = len(vocab)
    while len(vocab) < 128:
        vocab[f"w{len(vocab)}"] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        eos_token="<eos>",
        model_max_length=128,
        model_input_names=["input_ids", "attention_mask"],
    ).save_pretrained(folder)
    cfg = tiny_config("llama")
    cfg.pad_token_id, cfg.eos_token_id = 1, 0
    torch.manual_seed(0)
    AutoModelForSequenceClassification.from_config(cfg).save_pretrained(folder)
    return folder


def _rows(input_ids, attention_mask, pad_id: int, side: str) -> list[tuple[int, ...]]:
    """The real tokens of each padded row; padding must be ``pad_id`` on ``side``."""
    out = []
    pairs = zip(np.asarray(input_ids).tolist(), np.asarray(attention_mask).tolist(), strict=True)
    for ids, mask in pairs:
        n = sum(mask)
        real, padding = (ids[-n:], ids[:-n]) if side == "left" else (ids[:n], ids[n:])
        ones, zeros = [1] * n, [0] * (len(ids) - n)
        assert mask == (zeros + ones if side == "left" else ones + zeros)
        assert set(padding) <= {pad_id}
        out.append(tuple(real))
    return out


@pytest.mark.skipif(not HAS_ONNX, reason="needs the export extra: pip install 'phalanx[export]'")
def test_classify_pipeline_and_collator_feed_the_same_tokens_with_eos_id_0(tmp_path):
    from phalanx import load_classifier
    from phalanx.data import TextDataset
    from phalanx.export import Pipeline, export_onnx
    from phalanx.models.loading import load_base_classifier, load_tokenizer
    from phalanx.training.inputs import tokenize_split

    base = _eos_zero_base(tmp_path / "base")
    adapter = build_adapter(base, "sparta", tmp_path / "adapter")
    export = export_onnx(adapter, tmp_path / "onnx")
    texts = [*SENTENCES[:4], "", "a charming journey", "bleak"]

    clf = load_classifier(adapter)
    tok = clf.tokenizer
    assert (tok.eos_token_id, tok.pad_token_id, tok.padding_side) == (0, 1, "left")
    want = sorted(
        [tuple(ids) or (0,) for ids in tok(texts, truncation=True, max_length=64)["input_ids"]]
    )
    assert (0,) in want  # the empty text: one EOS token, id 0

    fed: dict[str, list] = {"classify": [], "onnx": [], "adapter": []}
    clf.model.register_forward_pre_hook(
        lambda m, args, kw: fed["classify"].append((kw["input_ids"], kw["attention_mask"])),
        with_kwargs=True,
    )
    probs = {"classify": clf.classify(texts, batch_size=3).numpy()}
    for backend, path in (("onnx", export), ("adapter", adapter)):
        pipe = Pipeline.create(model_path=path, batch_size=3)
        run = pipe._run

        def recording(batch, run=run, seen=fed[backend]):
            seen.append((batch["input_ids"], batch["attention_mask"]))
            return run(batch)

        pipe._run = recording
        probs[backend] = pipe.classify(texts)

    model = load_base_classifier(str(base), {0: "negative", 1: "positive"})
    train_tok = load_tokenizer(str(base), model, max_length=64)
    items = list(tokenize_split(TextDataset(texts, [0] * len(texts)), train_tok, None, 64))
    batch = PadCollator(train_tok)(items)
    fed["collator"] = [(batch["input_ids"], batch["attention_mask"])]

    for path, batches in fed.items():
        rows = [r for ids, mask in batches for r in _rows(ids, mask, 1, "left")]
        assert sorted(rows) == want, path
    for backend in ("onnx", "adapter"):
        np.testing.assert_allclose(probs[backend], probs["classify"], atol=1e-4)
