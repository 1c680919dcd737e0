"""``CompressConfig``: built on ``TrainConfig`` (shared fields are taken, not re-declared)."""

from __future__ import annotations

import dataclasses

import pytest

from phalanx.compress.config import (
    SHARED_OPTIONS,
    CompressConfig,
    can_compress,
    compress_methods,
)
from phalanx.registry import get_method
from phalanx.training import TrainConfig, field_docs

OPTIONS = {
    "recipe", "model", "dataset", "teacher", "distill_augment", "output", "method",
    "method_options", "text_column", "label_column", "label_names", "problem_type",
    "label_columns", "label_separator", "allow_empty_labels", "normalize_target", "loss",
    "pos_weight", "thresholds", "limit", "input_template",
    "max_length", "batch_size", "eval_batch_size", "max_steps", "lr", "seed", "device",
    "precision", "overwrite", "logging_steps", "progress",
}  # fmt: skip


def test_the_options_are_those_of_phalanx_compress():
    assert {f.name for f in dataclasses.fields(CompressConfig)} == OPTIONS


def test_shared_fields_have_the_train_config_type_default_and_doc():
    train = {f.name: f for f in dataclasses.fields(TrainConfig)}
    docs, train_docs = field_docs(CompressConfig), field_docs(TrainConfig)
    for f in dataclasses.fields(CompressConfig):
        if f.name in SHARED_OPTIONS:
            t = train[f.name]
            assert (f.type, f.default, f.default_factory) == (t.type, t.default, t.default_factory)
            assert docs[f.name] == train_docs[f.name]
        assert docs[f.name], f"{f.name} has no docstring"
    assert CompressConfig(recipe="r.yaml").method == "full"


def test_train_config_carries_the_shared_options_and_the_recipe_schedule():
    cfg = CompressConfig(
        recipe="r.yaml", dataset="toy.csv", max_length=16, batch_size=4, seed=7, lr=1e-4,
        method="sparta", method_options={"density": 0.02}, output="runs/x",
    )  # fmt: skip
    tcfg = cfg.train_config(epochs=2.0, weight_decay=0.01)
    for name in (*SHARED_OPTIONS, "method", "output"):
        assert getattr(tcfg, name) == getattr(cfg, name), name
    assert (tcfg.epochs, tcfg.lr, tcfg.weight_decay, tcfg.warmup_ratio) == (2.0, 1e-4, 0.01, 0)
    assert cfg.train_config(epochs=1.0, lr=3e-3).lr == 3e-3  # the recipe's lr wins
    assert tcfg.save_total_limit is None


def test_which_methods_compress_follows_their_capabilities():
    assert can_compress(get_method("full")) and can_compress(get_method("sparta"))
    assert not can_compress(get_method("lora")) and not can_compress(get_method("head"))
    assert {"full", "sparta"} <= set(compress_methods())
    with pytest.raises(ValueError, match="method 'lora' cannot compress; choose one of"):
        CompressConfig(recipe="r.yaml", method="lora")


def test_bad_options_are_refused_with_the_field_named():
    with pytest.raises(ValueError, match="unknown compress option 'epoch'"):
        CompressConfig.from_dict({"recipe": "r.yaml", "epoch": 3})
    with pytest.raises(ValueError, match="max_length must be a positive integer"):
        CompressConfig(recipe="r.yaml", max_length=0)
    with pytest.raises(ValueError, match="give the recipe"):
        CompressConfig()
