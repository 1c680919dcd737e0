"""Tiny random models (BERT, Llama, Gemma shapes) with real tokenizers, saved to folders."""

from __future__ import annotations

import os
from pathlib import Path

# before anything imports transformers: tests never reach a hub
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest
import torch

from tests.helpers import TOKENIZER_KIND, make_tokenizer, tiny_config


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
    from tests.helpers import write_toy_csv

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


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module's tiny models: faster on 2 cores, and reproducible."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
