"""Config files and option values: wrong types, bombs and bad YAML end in one line, at once,
and never reach a run folder."""

from __future__ import annotations

import re

import pytest

from phalanx.errors import InputError
from phalanx.training.config import TrainConfig
from tests.hardening.harness import BOMB_MEMORY, assert_refused, run_cli

LAUGHS = "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10)
)

WRONG_TYPES = [
    ("overwrite: 'false'", "overwrite must be true or false, got 'false'"),
    ("overwrite: yes please", "overwrite must be true or false, got 'yes please'"),
    ("epochs: three", "epochs must be a number, got 'three'"),
    ("lr: fast", "lr must be a number (or null), got 'fast'"),
    ("validation_fraction: '0.1'", "validation_fraction must be a number, got '0.1'"),
    ("dataset: [a, b]", "dataset must be text, got ['a', 'b']"),
    ("model: 12", "model must be text, got 12"),
    ("method_options: {density: abc}", "density must be a number (or null), got 'abc'"),
    ("method: lora\nmethod_options: {r: abc}", "r must be a whole number, got 'abc'"),
    ("batch_size: 1.5", "batch_size must be a whole number, got 1.5"),
    ("progress: 1", "progress must be true or false, got 1"),
]


@pytest.mark.parametrize(("line", "message"), WRONG_TYPES)
def test_wrong_types_from_python_and_yaml(line, message):
    import yaml

    with pytest.raises(InputError, match=re.escape(message)):
        TrainConfig.from_dict(yaml.safe_load(line))


@pytest.mark.parametrize(("line", "message"), WRONG_TYPES[:4] + WRONG_TYPES[7:9])
def test_a_wrongly_typed_config_never_touches_a_finished_run(tmp_path, line, message):
    run = tmp_path / "run"
    (run / "adapter").mkdir(parents=True)
    (run / "adapter" / "keep.txt").write_text("a finished run")
    config = tmp_path / "run.yaml"
    config.write_text(f"output: {run}\n{line}\n")
    assert_refused(run_cli("train", "--config", config), message)
    assert (run / "adapter" / "keep.txt").read_text() == "a finished run"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--method-options", "density=abc"], "density must be a number"),
        (["--method", "lora", "--method-options", "r=abc"], "r must be a whole number"),
        (["--method-options", "x=&a [*a]"], "refers to itself"),
    ],
)
def test_wrong_method_options_on_the_command_line(tmp_path, argv, message):
    assert_refused(run_cli("train", *argv, "-o", tmp_path / "run"), message)


@pytest.mark.parametrize("command", [["validate"], ["train", "--config"]])
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (LAUGHS, "expand to more than 100,000 values"),
        ("a: &a [*a]\n", "refers to itself"),
        ("epochs: [1, 2\n", "is not valid YAML"),
        ("- just\n- a list\n", "must hold a mapping"),
    ],
)
def test_bad_config_files_end_in_one_line_under_a_memory_cap(tmp_path, command, text, message):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    ended = run_cli(*command, path, memory=BOMB_MEMORY, timeout=60)
    assert_refused(ended, message, within=5)
