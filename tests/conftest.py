"""Tiny random models (BERT, Llama, Gemma shapes) with real tokenizers, saved to folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WORDS = (
    "i enjoyed very much the movie it was painful to watch couldn't enjoy more a bad good "
    "great awful boring charming journey bleak and desperate slow film is acting music "
    "refreshingly serious look at young women sometimes tedious like doing last year's "
    "taxes with your ex-wife you don't have know about appreciate in exactly minutes most "
    "of which passed as slowly if i'd been sitting naked on an igloo sank from quirky "
    "jerky utter turkey nolan poised embark major career commercial yet inventive "
    "filmmaker costumes cinematography sound are all astounding . , ! ? -- ' this that "
    "not love hate fun dull"
).split()

SENTENCES = [
    "I enjoyed very much the movie.",
    "It was painful to watch.",
    "I couldn't enjoy more the movie.",
    "It was a bad movie.",
    "a charming journey",
    "bleak and desperate",
    "the acting, costumes, music, cinematography and sound are all astounding.",
    "it's slow -- very, very slow.",
]
LABELS = [1, 0, 1, 0, 1, 0, 1, 0]


def make_tokenizer(path: Path, vocab_size: int, kind: str):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "<eos>"]
    vocab = {t: i for i, t in enumerate(specials)}
    for w in dict.fromkeys(WORDS):
        if len(vocab) < vocab_size:
            vocab[w] = len(vocab)
    i = 0
    while len(vocab) < vocab_size:
        vocab[f"w{i}"] = len(vocab)
        i += 1
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    if kind == "encoder":
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            pair="[CLS] $A [SEP] $B [SEP]",
            special_tokens=[("[CLS]", 2), ("[SEP]", 3)],
        )
        fast = PreTrainedTokenizerFast(
            tokenizer_object=tok,
            unk_token="[UNK]",
            pad_token="[PAD]",
            cls_token="[CLS]",
            sep_token="[SEP]",
            model_max_length=128,
        )
    elif kind == "seq2seq":  # T5-like: pad 0, EOS appended
        tok.post_processor = processors.TemplateProcessing(
            single="$A <eos>", pair="$A <eos> $B <eos>", special_tokens=[("<eos>", 4)]
        )
        fast = PreTrainedTokenizerFast(
            tokenizer_object=tok,
            unk_token="[UNK]",
            pad_token="[PAD]",
            eos_token="<eos>",
            model_max_length=128,
            model_input_names=["input_ids", "attention_mask"],
        )
    else:  # decoders: no pad token of their own, as most LMs
        fast = PreTrainedTokenizerFast(
            tokenizer_object=tok,
            unk_token="[UNK]",
            eos_token="<eos>",
            model_max_length=128,
            model_input_names=["input_ids", "attention_mask"],
        )
    fast.save_pretrained(path)
    return fast


def tiny_config(arch: str, num_labels: int = 2):
    from transformers import BertConfig, GemmaConfig, LlamaConfig, T5Config

    common = dict(num_labels=num_labels, vocab_size=128)
    if arch == "bert":
        return BertConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=64,
            max_position_embeddings=128,
            hidden_dropout_prob=0.0,  # deterministic training steps in tests
            attention_probs_dropout_prob=0.0,
            **common,
        )
    if arch == "llama":
        return LlamaConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            pad_token_id=4,
            eos_token_id=4,
            bos_token_id=None,
            max_position_embeddings=128,
            tie_word_embeddings=False,
            **common,
        )
    if arch == "gemma":
        return GemmaConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=1,
            head_dim=8,
            pad_token_id=4,
            eos_token_id=4,
            bos_token_id=None,
            max_position_embeddings=128,
            **common,
        )
    if arch == "t5":
        return T5Config(
            d_model=32,
            d_kv=8,
            d_ff=64,
            num_layers=2,
            num_heads=4,
            pad_token_id=0,
            eos_token_id=4,
            decoder_start_token_id=0,
            dropout_rate=0.0,
            **common,
        )
    raise ValueError(arch)


ARCHES = ["bert", "llama", "gemma"]
TOKENIZER_KIND = {"bert": "encoder", "t5": "seq2seq", "llama": "decoder", "gemma": "decoder"}


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory):
    """``tiny_base(arch)`` -> folder holding a random *ForSequenceClassification + tokenizer."""
    from transformers import AutoModelForSequenceClassification

    cache: dict[str, Path] = {}

    def make(arch: str) -> Path:
        if arch not in cache:
            path = tmp_path_factory.mktemp(f"tiny-{arch}")
            torch.manual_seed(0)
            model = AutoModelForSequenceClassification.from_config(tiny_config(arch))
            model.save_pretrained(path)
            make_tokenizer(path, 128, TOKENIZER_KIND[arch])
            cache[arch] = path
        return cache[arch]

    return make


@pytest.fixture(scope="session")
def toy_csv(tmp_path_factory) -> Path:
    """A small two-class CSV from the tiny tokenizer's vocabulary (see write_toy_csv)."""
    from tests.test_train import write_toy_csv

    return write_toy_csv(tmp_path_factory.mktemp("data") / "toy.csv")


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory):
    """``tiny_lm(arch)`` -> folder holding a random causal / seq2seq LM + tokenizer."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    cache: dict[str, Path] = {}

    def make(arch: str) -> Path:
        if arch not in cache:
            path = tmp_path_factory.mktemp(f"tiny-lm-{arch}")
            torch.manual_seed(0)
            cls = AutoModelForSeq2SeqLM if arch == "t5" else AutoModelForCausalLM
            cls.from_config(tiny_config(arch)).save_pretrained(path)
            make_tokenizer(path, 128, TOKENIZER_KIND[arch])
            cache[arch] = path
        return cache[arch]

    return make
