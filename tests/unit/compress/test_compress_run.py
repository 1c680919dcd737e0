"""``phalanx compress`` end to end on a tiny BERT: each example recipe, QAT, structured
pruning, SpaRTA on a pruned base, and the command line."""

from __future__ import annotations

import json
import re

import pytest
import torch
from safetensors.torch import load_file

from phalanx import load_classifier
from phalanx.cli.parser import main
from phalanx.compress.run import compress
from tests.helpers import (
    RECIPES,
    SEED_RECIPE,
    run_options,
    sparsify,
    toy_data,
    write_recipe,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("path", sorted(RECIPES.glob("*.yaml")), ids=lambda p: p.stem)
def test_example_recipe_runs_a_few_steps_and_loads(path, tiny_base, tmp_path):
    base = tiny_base("bert")
    out = tmp_path / "out"
    distils = "DistillationModifier" in path.read_text()
    result = compress(
        **run_options(base, toy_data(tmp_path), out, recipe=str(path), max_steps=3),
        teacher=str(base) if distils else None,
    )
    assert result.steps == 3
    assert (out / "recipe.yaml").read_text() == path.read_text()
    assert json.loads((out / "metrics.json").read_text())["test"]["n"] == 5
    assert "overall" in json.loads((out / "sparsity.json").read_text())
    clf = load_classifier(out)
    assert clf.classify(["a good movie"]).shape == (1, 2)
    if "structured" in path.stem:  # 1/3 of 4 heads and half of 64 neurons removed
        assert result.structure["heads_per_layer"] == [3, 3]
        assert result.structure["ffn_per_layer"] == [32, 32]
        assert clf.model.bert.encoder.layer[0].intermediate.dense.weight.shape == (32, 32)


def test_seed_recipe_runs_constant_pruning_distillation_and_qat(tiny_base, tmp_path):
    """The seed's recipe unchanged, on a 50%-sparse student: QAT starts at epoch 8 of 13."""
    base = sparsify(tiny_base("bert"), tmp_path / "sparse", 0.5)
    data = toy_data(tmp_path, n=24)  # 20 training sentences: 3 steps an epoch
    out = tmp_path / "out"
    result = compress(
        **run_options(base, data, out, recipe=str(SEED_RECIPE), batch_size=8),
        teacher=str(tiny_base("bert")),
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert result.steps == 39 and "test_qat_fake_quant" in metrics
    assert "test_int8_dynamic" in metrics
    assert result.sparsity["overall"] == pytest.approx(0.5, abs=1e-3)
    weights = load_file(str(out / "model.safetensors"))
    # QAT converted: every quantized weight row is a multiple of its int8 step
    for name in ("bert.encoder.layer.0.intermediate.dense.weight", "classifier.weight"):
        w = weights[name]
        step = w.abs().amax(dim=1, keepdim=True) / 127
        assert torch.allclose(w / step, (w / step).round(), atol=1e-3), name
    meta = json.loads((out / "phalanx.json").read_text())
    assert meta["compress"]["qat"] is True and meta["method"] == "full"


def test_sparta_on_a_pruned_base_keeps_pruned_weights_zero(tiny_base, tmp_path):
    base = sparsify(tiny_base("bert"), tmp_path / "sparse", 0.6)
    recipe = write_recipe(
        tmp_path,
        """
modifiers:
  - !EpochRangeModifier {start_epoch: 0, end_epoch: 2}
  - !LearningRateFunctionModifier {end_epoch: 2, init_lr: 3e-2}
  - !ConstantPruningModifier {params: __ALL_PRUNABLE__}
""",
    )
    out = tmp_path / "out"
    result = compress(
        **run_options(base, toy_data(tmp_path), out, recipe=str(recipe)),
        method="sparta",
        method_options={"density": 0.5},
    )
    assert (out / "sparse_deltas.safetensors").is_file()
    clf = load_classifier(out)
    dense = load_file(str(base / "model.safetensors"))
    merged = dict(clf.model.named_parameters())
    moved = 0
    for name, w in dense.items():
        if not name.startswith("bert.encoder") or not name.endswith("weight") or w.dim() != 2:
            continue
        now = merged[name].detach()
        assert torch.equal(now[w == 0], torch.zeros_like(now[w == 0])), name
        moved += int((now != w).sum())
    assert moved > 0  # the deltas trained, on unpruned positions only
    assert result.sparsity["overall"] == pytest.approx(0.6, abs=1e-3)


def test_sparta_refuses_modifiers_that_change_the_frozen_base(tiny_base, tmp_path):
    recipe = write_recipe(
        tmp_path, "modifiers:\n  - !GMPruningModifier {end_epoch: 1, final_sparsity: 0.5}\n"
    )
    with pytest.raises(ValueError, match="method=sparta freezes the base weights, so it cannot"):
        compress(
            **run_options(
                tiny_base("bert"), toy_data(tmp_path), tmp_path / "o", recipe=str(recipe)
            ),
            method="sparta",
        )


def test_cli_compress_and_its_one_line_errors(tiny_base, tmp_path, capsys):
    recipe = write_recipe(
        tmp_path,
        "modifiers:\n  - !EpochRangeModifier {end_epoch: 1}\n"
        "  - !GMPruningModifier {start_epoch: 0, end_epoch: 1, final_sparsity: 0.5}\n"
        "  - !DistillationModifier {hardness: 0.5, temperature: 2.0}\n",
    )
    data = toy_data(tmp_path)
    args = [
        "compress", "--recipe", str(recipe), "--model", str(tiny_base("bert")),
        "--dataset", str(data), "-o", str(tmp_path / "out"), "--batch-size", "8",
        "--max-length", "16", "--no-progress", "--teacher", str(tiny_base("bert")),
    ]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "sparsity of the pruned weights: 50.0%" in out and "accuracy:" in out
    assert re.search(r"teacher test accuracy: [\d.]+% \(the student keeps [\d.]+% of it\)", out)
    assert main(args) == 2  # the output folder is taken now
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pass --overwrite" in err
    assert main([*args[:2], str(tmp_path / "missing.yaml"), *args[3:], "--overwrite"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_structured_pruning_by_taylor_importance_from_training_batches(tiny_base, tmp_path):
    recipe = write_recipe(
        tmp_path,
        "modifiers:\n  - !EpochRangeModifier {end_epoch: 1}\n"
        "  - !StructuredPruningModifier {ffn_fraction: 0.25, importance: taylor}\n",
    )
    out = tmp_path / "out"
    result = compress(**run_options(tiny_base("bert"), toy_data(tmp_path), out, recipe=str(recipe)))
    assert result.structure["importance"] == "taylor"
    assert result.structure["ffn_per_layer"] == [48, 48]
    assert result.structure["heads_per_layer"] == [4, 4]
    assert (out / "pruning.json").is_file()
    assert load_classifier(out).classify(["a good movie"]).shape == (1, 2)


def test_qat_output_exports_to_onnx_int8_and_matches_pytorch(tiny_base, tmp_path):
    pytest.importorskip("onnxruntime")
    from phalanx.export import export_onnx

    recipe = write_recipe(
        tmp_path,
        "modifiers:\n  - !EpochRangeModifier {end_epoch: 2}\n"
        "  - !LearningRateFunctionModifier {end_epoch: 2, init_lr: 1e-2}\n"
        "  - !QuantizationModifier {start_epoch: 1, disable_quantization_observer_epoch: 1.5}\n",
    )
    out = tmp_path / "out"
    compress(**run_options(tiny_base("bert"), toy_data(tmp_path), out, recipe=str(recipe)))
    onnx = export_onnx(out, tmp_path / "onnx", quantize="int8")
    texts = ["a good movie", "bleak and desperate", "it was painful to watch"]
    torch_probs = load_classifier(out).classify(texts)
    from phalanx.export.classifier import ExportClassifier

    ort_probs = ExportClassifier(onnx).classify(texts)
    # the weights already sit on ORT's int8 grid; only activation rounding differs
    assert torch.allclose(torch.as_tensor(ort_probs), torch_probs, atol=0.02)


def test_sparta_trains_on_a_structurally_pruned_compress_output(tiny_base, tmp_path):
    data = toy_data(tmp_path)
    shrink = write_recipe(
        tmp_path,
        "modifiers:\n  - !EpochRangeModifier {end_epoch: 1}\n"
        "  - !StructuredPruningModifier {heads_fraction: 0.5, ffn_fraction: 0.5}\n",
        "shrink.yaml",
    )
    pruned = tmp_path / "pruned"
    compress(**run_options(tiny_base("bert"), data, pruned, recipe=str(shrink), max_steps=2))
    plain = write_recipe(tmp_path, "modifiers:\n  - !EpochRangeModifier {end_epoch: 1}\n")
    out = tmp_path / "sparta"
    compress(
        **run_options(pruned, data, out, recipe=str(plain), lr=1e-2),
        method="sparta",
        method_options={"density": 0.1},
    )
    clf = load_classifier(out)
    assert clf.model.bert.encoder.layer[1].intermediate.dense.weight.shape == (32, 32)
    assert clf.classify(["a good movie"]).shape == (1, 2)


def test_train_sparta_on_a_pruned_base_keeps_pruned_weights_zero(tiny_base, tmp_path):
    """`phalanx train --method sparta` on a pruned base: no delta revives a zeroed weight."""
    from phalanx.training import TrainConfig, train

    base = sparsify(tiny_base("bert"), tmp_path / "sparse", 0.6)
    opts = run_options(base, toy_data(tmp_path), tmp_path / "run", epochs=2, lr=3e-2)
    train(TrainConfig(method="sparta", method_options={"density": 0.5}, **opts))
    clf = load_classifier(tmp_path / "run" / "adapter")
    dense = load_file(str(base / "model.safetensors"))
    merged = dict(clf.model.named_parameters())
    moved = 0
    for name, w in dense.items():
        if name.startswith("bert.encoder") and name.endswith("weight") and w.dim() == 2:
            now = merged[name].detach()
            assert torch.equal(now[w == 0], torch.zeros_like(now[w == 0])), name
            moved += int((now != w).sum())
    assert moved > 0
