"""Tokenizers of model folders saved without one (a phalanx full fine-tune keeps only weights)."""

import json

import pytest
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from phalanx.models.loading import load_tokenizer, tokenizer_source


def _weights_only(base, folder, meta=None):
    AutoModelForSequenceClassification.from_pretrained(base).save_pretrained(folder)
    if meta is not None:
        (folder / "phalanx.json").write_text(json.dumps(meta))
    return folder


def test_weights_only_folder_takes_its_base_models_tokenizer(tiny_base, tmp_path):
    base = tiny_base("bert")
    full = _weights_only(base, tmp_path / "full", {"base_model": str(base)})
    # a second generation (compress of a full fine-tune) still reaches the base
    again = _weights_only(base, tmp_path / "again", {"base_model": str(full)})
    want = AutoTokenizer.from_pretrained(base)("a charming movie")["input_ids"]
    for folder in (full, again):
        assert tokenizer_source(str(folder)) == str(base)
        tok = load_tokenizer(str(folder))
        assert len(tok) == len(AutoTokenizer.from_pretrained(base))
        assert tok("a charming movie")["input_ids"] == want


def test_folder_without_tokenizer_or_base_is_refused(tiny_base, tmp_path):
    bare = _weights_only(tiny_base("bert"), tmp_path / "bare")
    with pytest.raises(ValueError, match="no tokenizer files"):
        load_tokenizer(str(bare))
    selfref = _weights_only(tiny_base("bert"), tmp_path / "self")
    (selfref / "phalanx.json").write_text(json.dumps({"base_model": str(selfref)}))
    with pytest.raises(ValueError, match="no tokenizer files"):
        load_tokenizer(str(selfref))
