"""The trainer on tiny random models: outputs, small checkpoints, resume, Ctrl-C, DDP."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import safetensors.torch
import torch
from transformers import TrainerCallback

from phalanx import load_classifier
from phalanx.training import TrainConfig, TrainingInterrupted, last_checkpoint, train
from phalanx.training.trainer import TRAINABLE_FILE, trainable_state
from tests.helpers import config


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run far faster on one thread, and do not thrash when the cores are busy."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ----------------------------------------------------------------------------- config


def test_config_defaults_and_method_lr():
    cfg = TrainConfig()
    assert (cfg.method, cfg.model, cfg.dataset, cfg.epochs, cfg.max_length) == (
        "sparta", "minilm-l6", "rotten_tomatoes", 3, 64,
    )  # fmt: skip
    assert cfg.resolved_lr() == 3e-3 and cfg.batch_size == 32 and cfg.warmup_ratio == 0.06
    assert cfg.output == "runs/sparta-minilm-l6-rotten_tomatoes"
    assert cfg.method_config().density == 0.01 and cfg.method_config().seed == 42
    assert TrainConfig(seed=7).method_config().seed == 7  # the method's seed follows the run's


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "nope"}, "unknown method 'nope'; choose one of"),
        ({"epochs": 0}, "epochs must be > 0"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"lr": -1.0}, "lr must be > 0"),
        ({"warmup_ratio": 1.5}, "warmup_ratio must be in [0, 1)"),
        ({"precision": "fp8"}, "precision must be one of auto, fp32, bf16, fp16"),
        ({"best_metric": "f1"}, "best_metric must be one of"),
        ({"method_options": {"density": 2.0}}, "density must be in (0, 1]"),
        ({"method_options": {"densty": 0.1}}, "['densty']"),
        ({"input_template": "no field"}, "has no {field}"),
        ({"input_template": "{a} {b}"}, "must have exactly one"),
    ],
)
def test_bad_config_values_name_field_and_fix(kwargs, message):
    with pytest.raises(ValueError) as err:
        TrainConfig(**kwargs)
    assert message in str(err.value)


def test_config_from_dict_suggests_the_closest_option(tmp_path):
    with pytest.raises(ValueError, match=r"unknown training option 'epoch'; did you mean 'epochs'"):
        TrainConfig.from_dict({"epoch": 2})
    path = tmp_path / "c.yaml"
    TrainConfig(epochs=2, method_options={"density": 0.02}).to_yaml(path)
    back = TrainConfig.from_yaml(path, lr=0.1)
    assert back.epochs == 2 and back.method_options["density"] == 0.02 and back.lr == 0.1


# ----------------------------------------------------------------------------- training


def test_train_writes_adapter_config_metrics_and_small_checkpoints(tiny_base, toy_csv, tmp_path):
    cfg = config(tiny_base("bert"), toy_csv, tmp_path / "run", input_template="Review: {text}")
    result = train(cfg)
    out = tmp_path / "run"
    assert {p.name for p in out.iterdir()} == {
        "adapter",
        "checkpoints",
        "train_config.yaml",
        "metrics.json",
        "README.md",  # the run's model card
    }
    assert result.best_step is not None and 0 < result.test["accuracy"] <= 1
    assert result.trainable_line.startswith("trainable params: ")
    # checkpoints hold only the trainable tensors (deltas + head), never the base weights
    ckpt = last_checkpoint(out / "checkpoints")
    saved = safetensors.torch.load_file(str(ckpt / TRAINABLE_FILE))
    assert set(saved) == set(trainable_state(result.model))
    assert any(k.endswith("sparta_weight.delta") for k in saved)
    assert not (ckpt / "model.safetensors").exists()
    # the adapter reloads with the template and gives the trained model's predictions
    meta = json.loads((out / "adapter" / "phalanx.json").read_text())
    assert meta["input_template"] == "Review: {text}" and meta["max_length"] == 16
    assert meta["metrics"]["test"]["accuracy"] == result.test["accuracy"]
    assert meta["dataset"]["checksums"]["test"] and meta["training"]["lr"] == 1e-2
    clf = load_classifier(out / "adapter")
    again = clf.evaluate(*_test_split(toy_csv))
    assert again["accuracy"] == pytest.approx(result.test["accuracy"])
    assert again["loss"] == pytest.approx(result.test["loss"], abs=1e-4)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["best_step"] == result.best_step and metrics["history"]


def _test_split(path: Path):
    from phalanx.data import load_data

    splits = load_data(str(path))
    return splits.test.texts, splits.test.labels


class _CheckMerged(TrainerCallback):
    """After a few steps, the weights a forward sees must include the current deltas."""

    def __init__(self):
        self.checked = 0

    def on_step_end(self, args, state, control, model=None, train_dataloader=None, **kwargs):
        if state.global_step != 3:
            return control
        batch = next(iter(train_dataloader))
        batch.pop("labels")
        model.eval()
        with torch.no_grad():
            model(**batch)  # a forward merges whatever changed since the last one
        model.train()
        for sd in model.deltas.values():
            w = sd.weight.detach().reshape(-1)[sd.indices]
            torch.testing.assert_close(w, sd.original + sd.delta.detach(), rtol=0, atol=1e-6)
            self.checked += int(sd.delta.abs().sum() > 0)
        return control


def test_optimizer_updates_reach_the_merged_weights(tiny_base, toy_csv, tmp_path):
    # fused AdamW (the HF default on torch >= 2.8) writes parameters without bumping their
    # version counter, which SpaRTA uses to notice that its deltas changed
    check = _CheckMerged()
    train(config(tiny_base("bert"), toy_csv, tmp_path / "run", max_steps=4), callbacks=[check])
    assert check.checked > 0


def test_output_folder_is_refused_unless_overwrite(tiny_base, toy_csv, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="--overwrite"):
        train(config(tiny_base("bert"), toy_csv, out, max_steps=2))
    train(config(tiny_base("bert"), toy_csv, out, max_steps=2, overwrite=True))
    assert (out / "notes.txt").read_text() == "mine"  # only phalanx's own entries are replaced
    assert (out / "adapter" / "sparse_deltas.safetensors").is_file()


class _SigintAt(TrainerCallback):
    """Send this process SIGINT (as Ctrl-C does) once ``step`` is reached."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            os.kill(os.getpid(), signal.SIGINT)
        return control


def test_ctrl_c_checkpoints_and_resume_matches_an_uninterrupted_run(tiny_base, toy_csv, tmp_path):
    base = tiny_base("bert")
    full = train(config(base, toy_csv, tmp_path / "full", epochs=3))
    cfg = config(base, toy_csv, tmp_path / "cut", epochs=3)
    with pytest.raises(TrainingInterrupted) as err:
        train(cfg, callbacks=[_SigintAt(13)])  # mid-epoch 2 (10 steps per epoch)
    # the signal lands after this step's check: training stops cleanly after the next one
    assert err.value.step == 14 and err.value.checkpoint.name == "checkpoint-14"
    assert not (tmp_path / "cut" / "adapter").exists()
    resumed = train(config(base, toy_csv, tmp_path / "cut", epochs=3, resume=True))
    a, b = trainable_state(full.model), trainable_state(resumed.model)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.best_step == full.best_step and resumed.test == full.test


class _RaiseAt(TrainerCallback):
    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt  # a hard stop: no chance to write a checkpoint
        return control


def test_hard_stop_leaves_last_epoch_checkpoint_loadable(tiny_base, toy_csv, tmp_path):
    base, out = tiny_base("bert"), tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(config(base, toy_csv, out), callbacks=[_RaiseAt(15)])
    # a checkpoint half-written when the process died must not be picked
    (out / "checkpoints" / "checkpoint-99").mkdir()
    assert last_checkpoint(out / "checkpoints").name == "checkpoint-10"
    with pytest.raises(ValueError, match=r"cannot resume: lr was 0\.01"):
        train(config(base, toy_csv, out, lr=0.5, resume=True))
    result = train(config(base, toy_csv, out, resume=True))
    assert result.steps == 20


def test_every_registered_method_trains_saves_and_reloads(tiny_base, toy_csv, tmp_path):
    from phalanx.registry import method_names

    x, y = _test_split(toy_csv)
    for method in method_names():
        result = train(
            config(tiny_base("bert"), toy_csv, tmp_path / method, method=method, max_steps=2)
        )
        again = load_classifier(result.adapter_path).evaluate(x, y)
        assert again["loss"] == pytest.approx(result.test["loss"], abs=1e-4), method


def test_decoder_with_left_padding_trains(tiny_base, toy_csv, tmp_path):
    result = train(config(tiny_base("llama"), toy_csv, tmp_path / "run", max_steps=4))
    clf = load_classifier(result.adapter_path)
    assert clf.tokenizer.padding_side == "left"
    assert clf.classify(["the movie was good", "bad"]).shape == (2, 2)


_DDP_SCRIPT = """
import sys
import safetensors.torch, torch
from phalanx.training import TrainConfig, train
from phalanx.training.trainer import trainable_state
base, data, out = sys.argv[1:4]
cfg = TrainConfig(model=base, dataset=data, output=out, max_steps=4, batch_size=4,
                  max_length=16, lr=1e-2, progress=False, overwrite=True)
result = train(cfg)
rank = torch.distributed.get_rank()
assert torch.distributed.get_world_size() == 2
safetensors.torch.save_file(trainable_state(result.model), f"{out}/rank{rank}.safetensors")
"""


def test_torchrun_two_cpu_processes_end_with_identical_deltas(tiny_base, toy_csv, tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun is not installed next to this Python")
    script = tmp_path / "ddp.py"
    script.write_text(textwrap.dedent(_DDP_SCRIPT))
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [torchrun, "--nproc_per_node", "2", "--master_port", str(29500 + os.getpid() % 1000)]
    proc = subprocess.run(
        [*cmd, str(script), str(tiny_base("bert")), str(toy_csv), str(out)],
        capture_output=True, text=True, env=env, timeout=280, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = safetensors.torch.load_file(str(out / "rank0.safetensors"))
    r1 = safetensors.torch.load_file(str(out / "rank1.safetensors"))
    assert set(r0) == set(r1) and any(k.endswith(".delta") for k in r0)
    assert all(torch.equal(r0[k], r1[k]) for k in r0)
    assert any(r0[k].abs().sum() > 0 for k in r0 if k.endswith(".delta"))  # it did train
    assert (out / "adapter" / "sparse_deltas.safetensors").is_file()
