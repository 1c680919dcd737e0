"""Outputs never clobber inputs, --overwrite replaces only a command's own files, and a resume
skips checkpoints a crash left incomplete (issue 18, classes 2 and 10)."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pytest
import torch

from phalanx.compress import compress
from phalanx.errors import InputError
from phalanx.export import export_onnx
from phalanx.folder import atomic_folder, check_apart
from phalanx.training import last_checkpoint, train
from phalanx.training.trainer import checkpoint_problem, trainable_state
from tests.hardening.harness import assert_refused, run_cli
from tests.helpers import config, write_recipe, write_toy_csv

RECIPE = "modifiers:\n  - !EpochRangeModifier {end_epoch: 1}\n"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def work(tmp_path_factory, tiny_base):
    """A finished 2-epoch run (checkpoint-5, checkpoint-10), its base and data, and the
    trainable state of the same run resumed from checkpoint-5 (the reference for class 10)."""
    root = tmp_path_factory.mktemp("outputs")
    base, data = tiny_base("bert"), write_toy_csv(root / "toy.csv", n=48)
    train(config(base, data, root / "run"))
    ref = root / "ref"
    shutil.copytree(root / "run", ref)
    shutil.rmtree(ref / "checkpoints" / "checkpoint-10")
    resumed = train(config(base, data, ref, resume=True))
    return {"root": root, "base": base, "data": data, "run": root / "run",
            "ref": trainable_state(resumed.model)}  # fmt: skip


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# ----------------------------------------------------------------------------- class 2


def test_export_cli_refuses_outputs_holding_or_inside_its_input(work):
    root, run = work["root"], work["run"]
    before = _snapshot(run)
    link = root / "adapter-link"
    link.symlink_to(run / "adapter")
    cases = [
        (run, run, "contains the input adapter"),  # the issue's `export RUN -o RUN`
        (run / "adapter", link, "is the input adapter"),  # the same folder through a symlink
    ]
    for source, output, fragment in cases:
        ended = run_cli("export", source, "-o", output, "--overwrite", cwd=root)
        assert_refused(ended, fragment, str(output))
        assert str(source if source != run else run / "adapter") in ended.last_line
    assert _snapshot(run) == before


@pytest.mark.parametrize(
    ("where", "output", "fragment"),
    [
        ("root", "run", "contains the input adapter"),
        ("root", "run/adapter", "is the input adapter"),
        ("root", "run/adapter/onnx", "lies inside the input adapter"),
        ("root", ".", "contains the input adapter"),  # a parent of the run
        ("root", "run/checkpoints/../adapter", "is the input adapter"),
        ("base", ".", "is the base model"),  # the adapter's local base folder
        ("base", "onnx", "lies inside the base model"),
    ],
)
def test_export_api_refuses_before_any_work(work, where, output, fragment):
    adapter = work["run"] / "adapter"
    assert json.loads((adapter / "phalanx.json").read_text())["base_model"] == str(work["base"])
    with pytest.raises(InputError, match=fragment):
        export_onnx(adapter, work[where] / output, overwrite=True)


def test_export_over_a_folder_replaces_only_its_own_files(work):
    out = work["root"] / "onnx"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "model.onnx").write_text("stale")
    (out / "merges.txt").write_text("a tokenizer file of an earlier export")
    with pytest.raises(FileExistsError, match="--overwrite"):
        export_onnx(work["run"] / "adapter", out)
    export_onnx(work["run"] / "adapter", out, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "model.onnx").stat().st_size > 1000 and (out / "phalanx_export.json").is_file()
    assert not (out / "merges.txt").exists()  # the export's own kind of file: replaced
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".onnx.")]  # no leftovers


def test_adapter_saved_over_another_method_leaves_no_stale_file(tmp_path):
    out = tmp_path / "ad"
    with atomic_folder(out) as tmp:
        for name in ("adapter_config.json", "adapter_model.safetensors", "phalanx.json"):
            (tmp / name).write_text("lora")
    (out / "notes.txt").write_text("mine")
    with atomic_folder(out, overwrite=True) as tmp:
        (tmp / "sparse_deltas.safetensors").write_text("sparta")
        (tmp / "phalanx.json").write_text("sparta")
    assert sorted(p.name for p in out.iterdir()) == [
        "notes.txt", "phalanx.json", "sparse_deltas.safetensors"]  # fmt: skip
    with pytest.raises(RuntimeError), atomic_folder(out, overwrite=True) as tmp:
        (tmp / "phalanx.json").write_text("half")
        raise RuntimeError("disk full")
    assert (out / "phalanx.json").read_text() == "sparta"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ad"]
    (tmp_path / "link").symlink_to(out)
    with atomic_folder(tmp_path / "link", overwrite=True) as tmp:
        (tmp / "phalanx.json").write_text("through the link")
    assert (tmp_path / "link").is_symlink() and (out / "notes.txt").read_text() == "mine"
    assert (out / "phalanx.json").read_text() == "through the link"


def test_check_apart_resolves_symlinks_and_dots(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "f.csv").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "a")
    check_apart(tmp_path / "a2", {"input": tmp_path / "a"})  # a sibling: fine
    check_apart(tmp_path / "a" / "out.csv", {"input": tmp_path / "a" / "f.csv"})
    check_apart(tmp_path / "x", {"model": "org/hub-id", "data": None})  # no local paths
    for out, inp in [
        (tmp_path / "link" / "b", tmp_path / "a" / "b"),
        (tmp_path / "a" / "b" / ".." / "..", tmp_path / "a"),
        (tmp_path / "link", tmp_path / "a" / "f.csv"),
        (tmp_path / "a" / "f.csv", tmp_path / "link" / "f.csv"),
    ]:
        with pytest.raises(InputError, match=r"\(= .*\).*choose another output"):
            check_apart(out, {"input": inp})
    os.link(tmp_path / "a" / "f.csv", tmp_path / "hard.csv")
    with pytest.raises(InputError, match="is the input"):
        check_apart(tmp_path / "hard.csv", {"input": tmp_path / "a" / "f.csv"})


def test_classify_and_evaluate_output_files_never_replace_an_input(work):
    root, run = work["root"], work["run"]
    data = root / "texts.csv"
    data.write_text("text\na charming journey\n")
    ended = run_cli("classify", run, "--input", data, "--output", data, cwd=root)
    assert_refused(ended, f"--output {data} is the --input file {data}")
    ended = run_cli("classify", run, "hi", "--output", run / "adapter" / "config.csv", cwd=root)
    assert_refused(ended, "lies inside the adapter", str(run / "adapter"))
    ended = run_cli("evaluate", run, "--dataset", "toy.csv", "--output", "./toy.csv", cwd=root)
    assert_refused(ended, "is the dataset toy.csv")
    assert data.read_text() == "text\na charming journey\n"


def test_validate_refuses_a_run_folder_over_its_model(work, tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"model: {work['base']}\ndataset: {work['data']}\noutput: {work['base']}/run\n")
    assert_refused(run_cli("validate", cfg), "lies inside the model", str(work["base"]))


def test_compress_refuses_its_model_or_teacher_folder(work, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(work["base"], model)
    recipe = write_recipe(tmp_path, RECIPE)
    opts = dict(recipe=str(recipe), model=str(model), dataset=str(work["data"]),
                batch_size=8, max_length=16, progress=False, overwrite=True)  # fmt: skip
    before = _snapshot(model)
    with pytest.raises(InputError, match="is the model"):
        compress(**opts, output=str(model))
    with pytest.raises(InputError, match="lies inside the model"):
        compress(**opts, output=str(model / "sub"))
    teacher_recipe = write_recipe(
        tmp_path, RECIPE + "  - !DistillationModifier {hardness: 0.5, temperature: 2.0}\n", "d.yaml"
    )
    with pytest.raises(InputError, match="lies inside the teacher"):
        compress(**{**opts, "recipe": str(teacher_recipe)}, teacher=str(work["run"]),
                 output=str(work["run"] / "adapter" / "student"))  # fmt: skip
    ended = run_cli("compress", "--recipe", recipe, "--model", model, "--dataset", work["data"],
                    "-o", tmp_path, "--overwrite")  # fmt: skip
    assert_refused(ended, f"output {tmp_path} contains the model {model}")
    assert _snapshot(model) == before


def test_compress_and_train_overwrite_replace_only_their_own_entries(work, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "sparse_deltas.safetensors").write_text("an earlier sparta model")
    compress(recipe=str(write_recipe(tmp_path, RECIPE)), model=str(work["base"]),
             dataset=str(work["data"]), output=str(out), batch_size=8, max_length=16,
             max_steps=1, progress=False, overwrite=True)  # fmt: skip
    names = {p.name for p in out.iterdir()}
    assert {"notes.txt", "model.safetensors", "recipe.yaml", "metrics.json"} <= names
    assert "sparse_deltas.safetensors" not in names and (out / "notes.txt").read_text() == "mine"

    run = tmp_path / "run"
    (run / "adapter").mkdir(parents=True)
    (run / "adapter" / "stale.txt").write_text("an earlier run's")
    (run / "data").mkdir()
    shutil.copy(work["data"], run / "data" / "toy.csv")
    (run / "notes.txt").write_text("mine")
    train(config(work["base"], work["data"], run, max_steps=1, overwrite=True))
    assert (run / "notes.txt").read_text() == "mine" and (run / "data").is_dir()
    assert not (run / "adapter" / "stale.txt").exists()  # adapter/ is train's own entry
    with pytest.raises(InputError, match="contains the dataset"):
        train(config(work["base"], run / "data" / "toy.csv", run, overwrite=True))
    with pytest.raises(InputError, match="is the model"):
        train(config(work["base"], work["data"], work["base"], overwrite=True))


# ----------------------------------------------------------------------------- class 10


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


TEARS = {
    "trainer_state.json empty": ("trainer_state.json", lambda p: p.write_text("")),
    "trainer_state.json truncated": ("trainer_state.json", _truncate),
    "optimizer.pt missing": ("optimizer.pt", Path.unlink),
    "trainable.safetensors empty": ("trainable.safetensors", lambda p: p.write_bytes(b"")),
    "trainable.safetensors truncated": ("trainable.safetensors", _truncate),
    "rng_state.pth truncated": ("rng_state.pth", _truncate),
}


@pytest.mark.parametrize("tear", sorted(TEARS))
def test_resume_skips_a_torn_checkpoint_for_the_older_complete_one(work, tmp_path, tear, caplog):
    name, damage = TEARS[tear]
    run = tmp_path / "run"
    shutil.copytree(work["run"], run)
    newest = run / "checkpoints" / "checkpoint-10"
    damage(newest / name)
    assert name in checkpoint_problem(newest)
    logger, level = logging.getLogger("phalanx"), logging.getLogger("phalanx").level
    logger.addHandler(caplog.handler)  # the CLI's logging setup stops propagation to the root
    logger.setLevel(logging.INFO)
    try:
        result = train(config(work["base"], work["data"], run, resume=True))
    finally:
        logger.removeHandler(caplog.handler)
        logger.setLevel(level)
    assert f"skipping the incomplete checkpoint {newest}: {name}" in caplog.text
    assert f"resuming from {run / 'checkpoints' / 'checkpoint-5'}" in caplog.text
    state = trainable_state(result.model)
    assert state.keys() == work["ref"].keys()
    assert all(torch.equal(state[k], work["ref"][k]) for k in state)


def test_resume_cli_names_the_skipped_checkpoint_or_refuses_when_none_is_complete(work, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(work["run"], run)
    (run / "checkpoints" / "checkpoint-10" / "trainer_state.json").write_text("")
    args = ["train", "--model", work["base"], "--dataset", work["data"], "-o", run,
            "--epochs", "2", "--batch-size", "8", "--eval-batch-size", "16", "--max-length",
            "16", "--lr", "0.01", "--no-progress", "--logging-steps", "5", "--resume"]  # fmt: skip
    ended = run_cli(*args)
    assert ended.code == 0, ended.stderr[-3000:]
    assert f"skipping the incomplete checkpoint {run / 'checkpoints' / 'checkpoint-10'}: " in (
        ended.stderr
    )
    assert f"resuming from {run / 'checkpoints' / 'checkpoint-5'}" in ended.stderr
    assert last_checkpoint(run / "checkpoints").name == "checkpoint-10"  # rewritten, whole
    for ckpt in (run / "checkpoints").glob("checkpoint-*"):
        (ckpt / "optimizer.pt").write_bytes(b"")
    ended = run_cli(*args)
    assert_refused(ended, "cannot resume: none of the", "optimizer.pt is empty", "--overwrite")
