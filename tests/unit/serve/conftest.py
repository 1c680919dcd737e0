"""Adapters on one tiny BERT base (two SpaRTA, two LoRA) and a running server over them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

try:  # the server's tests need the serve extra; the batcher's and registry's do not
    import fastapi  # noqa: F401
    import httpx  # noqa: F401
except ImportError:
    collect_ignore = [
        "test_app.py",
        "test_cli_serve.py",
        "test_export_serving.py",
        "test_page_browser.py",
        "test_problem_types.py",
        "test_page_problem_types_browser.py",
    ]


@pytest.fixture(scope="session")
def adapters(tiny_base, tmp_path_factory) -> dict[str, Path]:
    """name -> folder: ``pos`` (2 labels), ``topic`` (3 labels + a template), ``lora1/2``."""
    from phalanx import get_method
    from phalanx.models.loading import load_base_classifier
    from tests.helpers import train_adapter

    base = tiny_base("bert")
    root = tmp_path_factory.mktemp("serve-adapters")
    train_adapter(base, root / "pos", density=0.01, seed=1)
    train_adapter(
        base, root / "topic", density=0.01, seed=2, labels=["x", "y", "z"], template="T: {sentence}"
    )
    lora = get_method("lora")
    for name, seed in (("lora1", 3), ("lora2", 4)):
        torch.manual_seed(seed)
        model = load_base_classifier(str(base), {0: "neg", 1: "pos"})
        wrapped = lora.apply(model, lora.config_cls.from_dict({"r": 4}))
        with torch.no_grad():  # non-zero B, so each LoRA changes the outputs its own way
            for n, p in wrapped.named_parameters():
                if "lora_B" in n:
                    p.normal_(0, 0.5)
        lora.save(wrapped, root / name, base_model=str(base))
    return {p.name: p for p in root.iterdir()}


@pytest.fixture(scope="session")
def registry(adapters):
    from phalanx.serve import ModelRegistry

    return ModelRegistry.load(
        [f"{n}={adapters[n]}" for n in ("pos", "topic", "lora1", "lora2")], batch_size=8
    )


#: multi-label thresholds of ``tags``: a and b pass theirs, c stays below its own
TAG_THRESHOLDS = (0.5, 0.6, 0.3)
#: regression ``rating``: values come back in the data's units (logit * std + mean)
RATING_SCALE = (3.0, 2.0)


@pytest.fixture(scope="session")
def problem_adapters(tiny_base, tmp_path_factory) -> dict[str, Path]:
    """name -> folder on the same tiny BERT: ``tags`` (SpaRTA, multi-label a/b/c, a and b
    always on), ``tags_lora`` (LoRA, multi-label p/q, p on, q off), ``rating`` (SpaRTA,
    regression of the target ``score``)."""
    from phalanx.problems import Problem
    from tests.unit.serve.problem_models import problem_adapter

    base = tiny_base("bert")
    root = tmp_path_factory.mktemp("serve-problem-adapters")
    multi = Problem("multi_label", thresholds=TAG_THRESHOLDS)
    regression = Problem("regression", target_scale=RATING_SCALE)
    specs = {
        "tags": ("sparta", ["a", "b", "c"], multi, [4.0, 4.0, -4.0]),
        "tags_lora": ("lora", ["p", "q"], Problem("multi_label"), [4.0, -4.0]),
        "rating": ("sparta", ["score"], regression, [0.25]),
    }
    for name, (method, labels, problem, bias) in specs.items():
        problem_adapter(base, root / name, method=method, labels=labels, problem=problem, bias=bias)
    return {name: root / name for name in specs}
