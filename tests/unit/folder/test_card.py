"""Model cards (``phalanx.folder.card``): every folder phalanx writes holds a README.md that
parses as YAML front matter + Markdown, whose figures are those of ``metrics.json``."""

from __future__ import annotations

import itertools
import json
import math
import re
from pathlib import Path

import pytest
import yaml

from phalanx.assets import BUILTIN_MODELS
from phalanx.folder.card import (
    BUILTIN_MODEL_HUB_IDS,
    adapter_card,
    card_metrics,
    export_card,
    portable_path,
    read_card,
)
from phalanx.training import train
from tests.helpers import OPTIONS, build_adapter, config, star_rows, write_stars

pytestmark = pytest.mark.usefixtures("one_thread")

TEMPLATE = "Review: {sentence}"


def _scalars(figures: dict) -> dict:
    """The finite numbers of one evaluation, computed here without the card module."""
    return {
        k: v
        for k, v in figures.items()
        if isinstance(v, int | float)
        and not isinstance(v, bool)
        and k not in ("n", "epoch", "step", "runtime")
        and not k.endswith("_per_second")
        and math.isfinite(v)
    }


def _index_metrics(front: dict) -> dict:
    (entry,) = front["model-index"]
    (result,) = entry["results"]
    assert result["task"]["type"] == "text-classification"
    assert result["dataset"]["split"] == "test" and result["dataset"]["name"]
    return {m["type"]: m["value"] for m in result["metrics"]}


def _table_rows(body: str, section: str) -> dict[str, list[str]]:
    """The first Markdown table under ``## section``: first cell -> the other cells."""
    part = body.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    first = part[part.index("\n|") + 1 :]
    lines = list(itertools.takewhile(lambda ln: ln.startswith("|"), first.splitlines()))
    return {
        cells[0]: cells[1:]
        for ln in lines[2:]
        for cells in [[c.strip() for c in ln.strip("|").split("|")]]
    }


@pytest.fixture(scope="module")
def star_run(tiny_base, tmp_path_factory):
    """A tiny LoRA run on 1/3/5-star reviews (3 labels, a template), trained into an absolute
    output folder."""
    root = tmp_path_factory.mktemp("card-run")
    data = write_stars(root / "stars.csv", star_rows(60))
    out = root / "out"
    result = train(
        config(
            tiny_base("bert"),
            data,
            out,
            method="lora",
            method_options=OPTIONS["lora"],
            text_column="review",
            label_column="stars",
            input_template=TEMPLATE,
            epochs=2,
        )
    )
    return out, result


def test_run_and_adapter_cards_parse_and_their_metrics_equal_metrics_json(star_run):
    out, result = star_run
    metrics = json.loads((out / "metrics.json").read_text())
    for folder, name in ((out, "out"), (out / "adapter", "out/adapter")):
        front, body = read_card(folder)
        assert front["library_name"] == "phalanx"
        assert front["pipeline_tag"] == "text-classification"
        assert front["base_model"] == Path(result.config.model).name  # a local base: its name
        assert {"phalanx", "lora", "peft", "single-label"} <= set(front["tags"])
        assert "datasets" not in front  # a local data file is no Hub dataset
        assert _index_metrics(front) == _scalars(metrics["test"])
        assert front["metrics"] == list(_index_metrics(front))
        assert front["model-index"][0]["name"] == name
        assert body.startswith(f"# {name}\n")
        rows = _table_rows(body, "Evaluation")
        assert len(rows) == len(_scalars(metrics["test"]))
        for key, value in _scalars(metrics["test"]).items():
            label = next(r for r in rows if r == _label(key))
            assert rows[label][-1] == f"{value:.4f}"
            if key in metrics["validation"]:
                assert rows[label][0] == f"{metrics['validation'][key]:.4f}"
        assert f"best: epoch {metrics['validation']['epoch']:g}" in body
        labels = _table_rows(body, "Labels")
        assert labels == {"0": ["1"], "1": ["3"], "2": ["5"]}
        assert f"`{TEMPLATE}`" in body
        assert f"trainable parameters: {result.trainable_parameters:,}" in body
        assert "AutoPeftModelForSequenceClassification.from_pretrained(" in body
        assert 'id2label={0: "1", 1: "3", 2: "5"}' in body
        assert str(out) not in body and "output:" not in body  # no path, no run control
    run_body = read_card(out)[1]
    assert "`adapter/`" in run_body and "## Training history" in run_body
    history = [h for h in metrics["history"] if "eval_loss" in h]
    assert len(_table_rows(run_body, "Training history")) == len(history)


def _label(key: str) -> str:
    from phalanx.metric_names import METRIC_LABELS

    return METRIC_LABELS.get(key, key.replace("_", " "))


def test_the_front_matter_is_yaml_safe_dump_of_plain_types(star_run):
    out, _ = star_run
    text = (out / "adapter" / "README.md").read_text()
    head = text.split("---\n")[1]
    assert yaml.safe_load(head) == read_card(out / "adapter")[0]
    assert "!!python" not in head


def test_export_cards_name_the_runtime_and_quantization(star_run, tmp_path):
    pytest.importorskip("onnxruntime")
    from phalanx.export import export_onnx
    from phalanx.export.quantize import quantize_export

    out, _ = star_run
    fp32 = export_onnx(out, tmp_path / "onnx")
    front, body = read_card(fp32)
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"onnx", "lora"} <= set(front["tags"]) and "int8" not in front["tags"]
    assert _index_metrics(front) == _scalars(metrics["test"])  # fp32: parity-checked
    assert "ONNX Runtime (CPU), fp32" in body and "exported from: `out`" not in body
    assert "exported from: `out/adapter`" in body and "Pipeline.create" in body
    int8 = quantize_export(fp32, tmp_path / "onnx-int8", "int8-dynamic")
    front, body = read_card(int8)
    assert "int8" in front["tags"] and front["base_model_relation"] == "quantized"
    assert "model-index" not in front  # the PyTorch figures are not the int8 graph's
    assert "int8-dynamic quantization" in body and "## Evaluation" in body


@pytest.mark.parametrize("method", ["sparta", "head", "full", "ia3"])
def test_every_method_folder_gets_a_card(method, tiny_base, tmp_path):
    folder = build_adapter(tiny_base("bert"), method, tmp_path / method)
    front, body = read_card(folder)
    assert front["library_name"] == "phalanx" and method in front["tags"]
    assert ("peft" in front["tags"]) == (method == "ia3")
    assert ("### peft" in body) == (method == "ia3")
    assert ("### transformers" in body) == (method == "full")
    assert front["base_model_relation"] == ("finetune" if method == "full" else "adapter")
    assert "model-index" not in front  # saved without figures: none claimed
    assert "More Information Needed" not in body  # never peft's blank template


def test_builtin_base_and_dataset_are_named_by_their_hub_ids():
    meta = {
        "method": "sparta",
        "base_model": "minilm-l6",
        "labels": ["negative", "positive"],
        "dataset": {"source": "rotten_tomatoes"},
        "metrics": {"test": {"accuracy": 0.8, "n": 1061, "loss": float("nan")}},
    }
    front = read_card(adapter_card(meta, name="demo"))[0]
    assert front["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert front["license"] == "apache-2.0"
    assert front["datasets"] == ["cornell-movie-review-data/rotten_tomatoes"]
    assert _index_metrics(front) == {"accuracy": 0.8}  # no count, no NaN
    hub = {**meta, "base_model": "org/model", "dataset": {"source": "org/data"}}
    front = read_card(adapter_card(hub, name="x"))[0]
    assert front["base_model"] == "org/model" and front["datasets"] == ["org/data"]
    assert "license" not in front


def test_every_builtin_model_has_a_hub_id():
    assert set(BUILTIN_MODEL_HUB_IDS) == set(BUILTIN_MODELS)


def test_multi_label_card_lists_each_labels_threshold():
    meta = {
        "method": "lora",
        "labels": ["billing", "bug", "question"],
        "problem": {"type": "multi_label", "thresholds": [0.3, 0.5, 0.7]},
        "metrics": {"test": {"micro_f1": 0.9, "thresholds": [0.3, 0.5, 0.7]}},
    }
    front, body = read_card(adapter_card(meta, name="tickets", peft=True))
    assert "multi-label" in front["tags"]
    assert _table_rows(body, "Labels") == {
        "0": ["billing", "0.3000"],
        "1": ["bug", "0.5000"],
        "2": ["question", "0.7000"],
    }
    assert 'problem_type="multi_label_classification"' in body
    assert _index_metrics(front) == {"micro_f1": 0.9}


def test_regression_card_names_the_target_and_its_scale():
    meta = {
        "method": "sparta",
        "labels": ["score"],
        "problem": {"type": "regression", "target_scale": {"mean": 0.5, "std": 2.0}},
        "metrics": {"test": {"mse": 0.25, "spearman": 0.8}},
    }
    front, body = read_card(adapter_card(meta, name="ratings"))
    assert "regression" in front["tags"]
    assert "the target `score`" in body and "mean 0.5000, std 2.0000" in body
    assert _index_metrics(front) == {"mse": 0.25, "spearman": 0.8}


def test_a_meta_without_problem_uses_the_model_configs_problem_type():
    card = adapter_card({"labels": ["y"]}, name="x", problem_type="regression")
    assert "regression" in read_card(card)[0]["tags"]


def test_export_card_of_a_minimal_export_meta():
    meta = {"labels": ["a", "b"], "source": {"method": "full"}, "quantization": "int8"}
    front, body = read_card(export_card(meta, name="onnx"))
    assert front["tags"][:3] == ["phalanx", "full", "onnx"] and "int8" in front["tags"]
    assert "## Usage" in body


def test_card_metrics_keeps_finite_numbers_only():
    figures = {"loss": 0.5, "n": 10, "epoch": 2.0, "ok": True, "mcc": float("inf"), "f1": 1}
    assert card_metrics(figures) == {"loss": 0.5, "f1": 1}


@pytest.mark.parametrize(
    ("given", "saved"),
    [
        ("runs/reviews", "runs/reviews"),
        ("runs/reviews/adapter", "runs/reviews/adapter"),
        ("/home/me/runs/reviews", "reviews"),
        ("/home/me/runs/reviews/adapter", "reviews/adapter"),
        ("../elsewhere/run", "run"),
        ("~/runs/x", "~/runs/x"),
        (None, None),
    ],
)
def test_portable_path(given, saved):
    assert portable_path(given) == saved


def test_read_card_refuses_text_without_front_matter(tmp_path):
    (tmp_path / "README.md").write_text("# just markdown\n")
    with pytest.raises(ValueError, match="no YAML front matter"):
        read_card(tmp_path)
    assert read_card("---\n---\nbody") == ({}, "body")


def test_no_card_line_names_a_path_of_this_machine(star_run):
    out, _ = star_run
    for folder in (out, out / "adapter"):
        text = (folder / "README.md").read_text()
        assert not re.search(r"(?<![\w.])/(tmp|home|root|work)/", text)
