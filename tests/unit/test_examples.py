"""Every example config under examples/ loads, validates and survives a YAML round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from phalanx.cli.parser import main
from phalanx.training import TrainConfig

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))


def test_there_are_examples():
    assert any(p.name == "demo.yaml" for p in EXAMPLES)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_config_is_valid(path, tmp_path, capsys):
    cfg = TrainConfig.from_yaml(path)
    assert cfg.resolved_lr() > 0 and cfg.method_config() is not None
    # what is saved beside an adapter reads back to the same run
    again = TrainConfig.from_dict(yaml.safe_load(cfg.to_yaml()))
    assert again.resolved() == cfg.resolved()
    assert main(["validate", str(path), "--no-data"]) == 0
    assert "OK" in capsys.readouterr().out


def test_demo_config_is_the_seed_setup():
    cfg = TrainConfig.from_yaml(EXAMPLES[[p.name for p in EXAMPLES].index("demo.yaml")])
    assert (cfg.method, cfg.model, cfg.dataset, cfg.max_length) == (
        "sparta", "minilm-l6", "rotten_tomatoes", 64,
    )  # fmt: skip
