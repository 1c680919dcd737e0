"""``phalanx.training.setup``: the public steps train and compress are built from."""

from __future__ import annotations

import pytest
import torch

from phalanx.training import TrainConfig
from phalanx.training.setup import (
    base_model_id,
    load_splits,
    tokenize_splits,
    trainable_line,
    training_arguments,
)
from tests.helpers import tiny_config


def test_base_model_id_keeps_names_and_makes_folders_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "local").mkdir()
    assert base_model_id("minilm-l6") == "minilm-l6"
    assert base_model_id("org/some-model") == "org/some-model"
    assert base_model_id("local") == str((tmp_path / "local").resolve())


def test_splits_tokenized_and_training_arguments_follow_the_config(tiny_base, toy_csv, tmp_path):
    from phalanx.models.loading import load_tokenizer

    cfg = TrainConfig(
        model=str(tiny_base("bert")), dataset=str(toy_csv), output=str(tmp_path / "run"),
        max_length=8, batch_size=4, lr=1e-3, device="cpu", progress=False,
    )  # fmt: skip
    splits = load_splits(cfg)
    tok = load_tokenizer(cfg.model)
    data = tokenize_splits(cfg, splits, tok)
    assert {s: len(d) for s, d in data.items()} == {s: len(getattr(splits, s)) for s in data}
    assert max(len(ids) for ids in data["train"].features["input_ids"]) <= 8
    args = training_arguments(cfg, tmp_path / "ckpt")
    assert (args.learning_rate, args.per_device_train_batch_size) == (1e-3, 4)
    assert args.optim == "adamw_torch" and args.use_cpu
    with pytest.raises(ValueError, match="precision='bf16' needs a GPU"):
        training_arguments(TrainConfig(device="cpu", precision="bf16"), tmp_path / "x")


def test_trainable_line_of_a_plain_module():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    model[0].requires_grad_(False)
    assert trainable_line(model) == ("trainable params: 3 || all params: 9 || trainable%: 33.3333")


def test_sparta_notices_a_fused_optimizer_step():
    """The fused AdamW kernel does not bump version counters; SpaRTA compares values, so its
    next forward still sees the updated deltas (why ``optim`` need not avoid fused kernels)."""
    from transformers import AutoModelForSequenceClassification

    from phalanx.methods.sparta import SpaRTAMethodConfig, get_sparta_model

    torch.manual_seed(0)
    base = AutoModelForSequenceClassification.from_config(tiny_config("bert"))
    model = get_sparta_model(base, SpaRTAMethodConfig(density=0.05, seed=0))
    batch = {"input_ids": torch.tensor([[2, 10, 11, 12, 3]]), "labels": torch.tensor([1])}
    deltas = [p for n, p in model.named_parameters() if p.requires_grad and "delta" in n]
    opt = torch.optim.AdamW(deltas, lr=0.5, fused=True)
    model.train()
    model(**batch).loss.backward()
    versions = [d._version for d in deltas]
    opt.step()
    assert [d._version for d in deltas] == versions  # the kernel skipped the counters
    model.eval()
    with torch.no_grad():
        got = model(**batch).logits
        for sd in model.deltas.values():  # what the logits must be: W0 + delta, merged anew
            sd.merge()
        want = model(**batch).logits
    assert any(bool(d.detach().abs().sum() > 0) for d in deltas)
    torch.testing.assert_close(got, want)
    for sd in model.deltas.values():
        w = sd.weight.detach().reshape(-1)[sd.indices].float()
        torch.testing.assert_close(w, sd.original.float() + sd.delta.detach(), atol=1e-6, rtol=0)
