"""Layer-wise learning-rate decay: depths per architecture, and the lrs the trainer uses."""

from __future__ import annotations

import pytest
from transformers import TrainerCallback

from phalanx.training import TrainConfig, train
from phalanx.training.layer_lr import layer_depths
from tests.helpers import config


@pytest.mark.parametrize(
    ("names", "depths", "n_layers"),
    [
        (  # BERT: embeddings, two blocks, pooler and head on top
            [
                "bert.embeddings.word_embeddings.weight",
                "bert.embeddings.LayerNorm.weight",
                "bert.encoder.layer.0.attention.self.query.weight",
                "bert.encoder.layer.1.output.dense.bias",
                "bert.pooler.dense.weight",
                "classifier.weight",
            ],
            [0, 0, 1, 2, 3, 3],
            2,
        ),
        (  # Llama / Gemma: the final norm and score head sit above the blocks
            [
                "model.embed_tokens.weight",
                "model.layers.0.mlp.up_proj.weight",
                "model.layers.11.self_attn.q_proj.weight",
                "model.norm.weight",
                "score.weight",
            ],
            [0, 1, 12, 13, 13],
            12,
        ),
        (  # T5: the shared embedding is at the bottom, each stack numbers its own blocks
            ["shared.weight", "encoder.block.1.layer.0.SelfAttention.q.weight", "lm_head.weight"],
            [0, 2, 3],
            2,
        ),
    ],
)
def test_layer_depths_per_architecture(names, depths, n_layers):
    assert layer_depths(names) == (depths, n_layers)


class _Lrs(TrainerCallback):
    """The learning rate of each parameter name at the first optimizer step."""

    def __init__(self):
        self.lrs = {}

    def on_step_end(self, args, state, control, optimizer=None, model=None, **kwargs):
        if not self.lrs:
            by_param = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
            self.lrs = {
                n: by_param[id(p)] for n, p in model.named_parameters() if id(p) in by_param
            }
        return control


def test_full_fine_tuning_decays_the_lr_towards_the_embeddings(tiny_base, toy_csv, tmp_path):
    seen = _Lrs()
    cfg = config(
        tiny_base("bert"), toy_csv, tmp_path / "run", method="full", max_steps=2,
        layer_lr_decay=0.5, weight_decay=0.01, warmup_ratio=0.0,
    )  # fmt: skip
    result = train(cfg, callbacks=[seen])
    lrs = seen.lrs
    n_layers = result.model.config.num_hidden_layers
    head = lrs["classifier.weight"]
    assert lrs["bert.pooler.dense.weight"] == head
    for i in range(n_layers):
        block = [v for n, v in lrs.items() if f"encoder.layer.{i}." in n]
        assert block and all(v == pytest.approx(head * 0.5 ** (n_layers - i)) for v in block)
    emb = lrs["bert.embeddings.word_embeddings.weight"]
    assert emb == pytest.approx(head * 0.5 ** (n_layers + 1))
    assert TrainConfig.from_yaml(tmp_path / "run" / "train_config.yaml").layer_lr_decay == 0.5


def test_layer_lr_decay_is_refused_without_numbered_blocks(tiny_base, toy_csv, tmp_path):
    cfg = config(tiny_base("bert"), toy_csv, tmp_path / "run", method="head", layer_lr_decay=0.8)
    with pytest.raises(ValueError, match="needs numbered transformer blocks"):
        train(cfg)


@pytest.mark.parametrize("bad", [0.0, 1.5, -0.2])
def test_layer_lr_decay_out_of_range_is_refused(bad):
    with pytest.raises(ValueError, match=r"layer_lr_decay must be in \(0, 1\]"):
        TrainConfig(layer_lr_decay=bad)
