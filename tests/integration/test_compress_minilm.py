"""phalanx compress on the real all-MiniLM-L6-v2 and real rotten_tomatoes sentences."""

from __future__ import annotations

import json

import pytest

from phalanx import load_classifier
from phalanx.compress import compress

pytestmark = pytest.mark.integration

RECIPE = """
num_epochs: 1
modifiers:
  - !EpochRangeModifier {start_epoch: 0, end_epoch: eval(num_epochs)}
  - !LearningRateFunctionModifier {end_epoch: eval(num_epochs), init_lr: 1e-4}
  - !StructuredPruningModifier {start_epoch: 0, heads_fraction: 0.3333, ffn_fraction: 0.5}
  - !GMPruningModifier
      {start_epoch: 0, end_epoch: eval(num_epochs), final_sparsity: 0.5, update_frequency: 0.5}
  - !DistillationModifier {hardness: 0.5, temperature: 2.0}
"""


@pytest.fixture(scope="module")
def assets():
    from phalanx.assets import list_datasets, list_models

    have = {a["name"] for a in list_models() + list_datasets() if a["installed"]}
    if not {"minilm-l6", "rotten_tomatoes"} <= have:
        pytest.skip("run `phalanx assets download` for minilm-l6 and rotten_tomatoes")


def test_minilm_compresses_loads_and_classifies(assets, tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    out = tmp_path / "out"
    # teacher: the MiniLM encoder with a fresh head (a Hub-style folder, generic labels);
    # it exercises the path, not the accuracy
    result = compress(
        recipe=str(recipe), model="minilm-l6", dataset="rotten_tomatoes", teacher="minilm-l6",
        output=str(out), limit=32, batch_size=16, progress=False,
    )  # fmt: skip
    assert result.steps == 2 and result.test["n"] == 32
    assert result.structure["heads_per_layer"] == [8] * 6  # 12 heads -> 8
    assert result.structure["ffn_per_layer"] == [768] * 6  # 1536 neurons -> 768
    assert result.sparsity["overall"] == pytest.approx(0.5, abs=1e-4)
    clf = load_classifier(out)
    probs = clf.classify(["I enjoyed very much the movie.", "It was a bad movie."])
    assert probs.shape == (2, 2) and probs.sum(1).allclose(probs.new_ones(2))
    assert clf.labels == ["negative", "positive"]
    meta = json.loads((out / "phalanx.json").read_text())
    assert meta["base_model"] == "minilm-l6" and meta["compress"]["teacher"]["source"]
