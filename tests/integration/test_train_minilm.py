"""The trainer and CLI on the real all-MiniLM-L6-v2 and real rotten_tomatoes sentences."""

from __future__ import annotations

import json

import pytest

from phalanx import SpaRTAforSequenceClassification
from phalanx.training import TrainConfig, train

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def assets():
    from phalanx.assets import list_datasets, list_models

    have = {a["name"] for a in list_models() + list_datasets() if a["installed"]}
    if not {"minilm-l6", "rotten_tomatoes"} <= have:
        pytest.skip("run `phalanx assets download` for minilm-l6 and rotten_tomatoes")


def test_minilm_trains_saves_reloads_and_classifies(assets, tmp_path):
    cfg = TrainConfig(
        model="minilm-l6", dataset="rotten_tomatoes", limit=64, max_steps=6, batch_size=16,
        eval_batch_size=64, output=str(tmp_path / "run"), progress=False,
    )  # fmt: skip
    result = train(cfg)
    assert result.steps == 6 and result.test["n"] == 64
    # 1% of every encoder Linear weight + the head (pooler + classifier)
    assert 100_000 < result.trainable_parameters < 300_000
    meta = json.loads((result.adapter_path / "phalanx.json").read_text())
    assert meta["base_model"] == "minilm-l6" and meta["max_length"] == 64
    model = SpaRTAforSequenceClassification(adapter=str(result.adapter_path), device="cpu")
    assert "model = 'minilm-l6'" in repr(model)
    probs = model.classify(["I enjoyed very much the movie.", "It was a bad movie."])
    assert probs.shape == (2, 2) and probs.sum(1).allclose(probs.new_ones(2))
    from phalanx.data import load_data

    test = load_data("rotten_tomatoes", limit=64).test
    again = model.evaluate(test.texts, test.labels)
    assert again["accuracy"] == pytest.approx(result.test["accuracy"])
    assert again["loss"] == pytest.approx(result.test["loss"], abs=1e-4)
