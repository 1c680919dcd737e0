"""What a run shows: no raw Trainer dicts, progress and evaluation rows through ``logging``
(nothing when logging is not configured), no "newly initialized" report when an adapter
supplies the head, and a missing ``report_to`` tracker refused before any slow work."""

from __future__ import annotations

import importlib.util
import logging
import re
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from transformers import (
    AutoModelForSequenceClassification,
    BertModel,
    PrinterCallback,
    ProgressCallback,
    TrainerControl,
)
from transformers.utils import logging as hf_logging

from phalanx import load_classifier
from phalanx.errors import InputError
from phalanx.models.loading import load_base_classifier
from phalanx.training import train
from phalanx.training.progress import (
    COLUMNS,
    METRIC_COLUMNS,
    EpochReport,
    TrainingProgress,
    format_duration,
)
from phalanx.training.trackers import check_report_to
from tests.helpers import config, make_tokenizer, tiny_config

HEADER = "  ".join(
    f"{name:>{width}}"
    for name, width in (*COLUMNS, *((h, w) for h, w, _, _ in METRIC_COLUMNS["single_label"]))
)
ROW = re.compile(r"^\s*\d+\.\d\d\s+\d+\s+(\d\.\d{4}|-)\s+\d\.\d{4}\s+\d+\.\d\d%\s+(\d\.\d{4}|-)$")
STEP_LINE = re.compile(r"^step \d+/\d+ \(\d+%\), loss \d\.\d{4}, [\d.e+]+ steps/s, ETA \S+$")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def library_logging():
    """The ``phalanx`` logger as a library user finds it: a CLI run earlier in this process
    gives it a handler of its own and stops propagation, which would hide it from caplog."""
    logger = logging.getLogger("phalanx")
    saved = logger.handlers[:], logger.level, logger.propagate
    logger.handlers, logger.propagate = [], True
    logger.setLevel(logging.NOTSET)  # (setLevel also clears the loggers' level caches)
    yield
    logger.handlers, logger.propagate = list(saved[0]), saved[2]
    logger.setLevel(saved[1])


@pytest.fixture
def hf_warnings():
    """What transformers logs at its default verbosity (a CLI run in this process sets it to
    error); its handler writes to the stderr of import time, so the records are read here."""
    before = hf_logging.get_verbosity()
    hf_logging.set_verbosity_warning()
    seen: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: seen.append(record.getMessage())
    logging.getLogger("transformers").addHandler(handler)
    yield seen
    logging.getLogger("transformers").removeHandler(handler)
    hf_logging.set_verbosity(before)


def _no_head_report(messages: list[str], err: str) -> None:
    for text in (*messages, err):
        assert "LOAD REPORT" not in text and "MISSING" not in text, text
        assert "newly initialized" not in text and "TRAIN this model" not in text, text


@pytest.fixture(scope="module")
def headless_base(tmp_path_factory) -> Path:
    """A tiny BERT saved without a classification head, as base checkpoints are."""
    path = tmp_path_factory.mktemp("headless")
    torch.manual_seed(0)
    BertModel(tiny_config("bert")).save_pretrained(path)
    make_tokenizer(path, 128, "encoder")
    return path


def _train_records(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "phalanx.train"]


# ----------------------------------------------------------------------------- a real run


def test_rows_and_progress_lines_come_through_logging_and_nothing_is_printed(
    tiny_base, toy_csv, tmp_path, caplog, capfd, library_logging
):
    caplog.set_level(logging.INFO, logger="phalanx.train")
    cfg = config(tiny_base("bert"), toy_csv, tmp_path / "run", progress=True, logging_steps=5)
    result = train(cfg)  # 76 training rows, batch 8: 10 steps an epoch, 2 epochs
    out, err = capfd.readouterr()
    assert out == ""  # library code prints nothing
    assert "{'loss'" not in err and "'epoch':" not in err
    assert "training:" not in err  # no bar: stderr is not a terminal here
    messages = _train_records(caplog)
    assert messages.count(HEADER) == 1
    rows = [m for m in messages if ROW.match(m)]
    assert len(rows) == 2 and rows[0].split()[:2] == ["1.00", "10"]
    assert rows[1].split()[:2] == ["2.00", "20"]
    steps = [m for m in messages if m.startswith("step ")]
    assert steps and all(STEP_LINE.match(m) for m in steps), steps
    assert steps[0].startswith("step 5/20 (25%)") and steps[-1].startswith("step 20/20 (100%)")
    # the row's validation figures are those the Trainer recorded for that evaluation
    evals = [h for h in result.history if "eval_accuracy" in h]
    assert f"{100 * evals[0]['eval_accuracy']:.2f}%" in rows[0]
    assert f"{evals[0]['eval_loss']:.4f}" in rows[0]


def test_no_progress_keeps_the_rows_and_without_logging_nothing_shows(
    tiny_base, toy_csv, tmp_path, caplog, capfd, library_logging
):
    caplog.set_level(logging.INFO, logger="phalanx.train")
    train(config(tiny_base("bert"), toy_csv, tmp_path / "a", max_steps=10, logging_steps=5))
    messages = _train_records(caplog)
    assert messages.count(HEADER) == 1 and sum(bool(ROW.match(m)) for m in messages) == 1
    assert not [m for m in messages if m.startswith("step ")]  # progress=False
    caplog.clear()
    caplog.set_level(logging.WARNING, logger="phalanx.train")  # as when nobody configured it
    capfd.readouterr()
    cfg = config(tiny_base("bert"), toy_csv, tmp_path / "b", max_steps=10, progress=True)
    train(cfg)
    out, err = capfd.readouterr()
    assert out == "" and "training" not in err and "step " not in err and "loss" not in err
    assert not _train_records(caplog)


def test_the_trainer_keeps_none_of_the_hf_printers(tiny_base, toy_csv, tmp_path):
    from phalanx.training.setup import training_arguments
    from phalanx.training.trainer import PhalanxTrainer

    model = AutoModelForSequenceClassification.from_pretrained(tiny_base("bert"))
    for progress in (True, False):
        cfg = config(tiny_base("bert"), toy_csv, tmp_path / "run", progress=progress)
        args = training_arguments(cfg, tmp_path / "ckpt")
        trainer = PhalanxTrainer(
            model=model, args=args, eval_dataset=[{}], callbacks=[EpochReport()]
        )
        kinds = [type(c) for c in trainer.callback_handler.callbacks]
        assert PrinterCallback not in kinds and ProgressCallback not in kinds
        assert kinds.count(TrainingProgress) == int(progress) and EpochReport in kinds


# ----------------------------------------------------------------------------- the callbacks


def _state(**kw) -> SimpleNamespace:
    return SimpleNamespace(
        is_world_process_zero=True, global_step=0, max_steps=800, epoch=0.0, **kw
    )


def test_format_duration():
    assert [format_duration(s) for s in (0, 12.4, 250, 3720, float("inf"))] == [
        "0s", "12s", "4m10s", "1h02m", "?",
    ]  # fmt: skip


def test_progress_line_names_step_share_loss_rate_and_eta():
    progress = TrainingProgress()
    progress._start = time.perf_counter() - 10.0  # 50 steps in 10 s: 5 steps/s
    line = progress.line(50, 800, 0.43121)
    assert line.startswith("step 50/800 (6%), loss 0.4312, 5 steps/s, ETA 2m")
    assert STEP_LINE.match(line)


@pytest.mark.parametrize("setup", ["cli", "basicConfig"])
def test_on_a_terminal_one_bar_with_the_rows_written_above_it(setup, monkeypatch, library_logging):
    import io

    import phalanx.training.progress as progress_mod

    terminal = io.StringIO()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(progress_mod, "_stderr_is_terminal", lambda: True)
    handler = logging.StreamHandler(terminal)
    if setup == "cli":  # phalanx's own handler, no propagation
        logger = logging.getLogger("phalanx")
        logger.handlers, logger.propagate = [handler], False
    else:  # a library user's logging.basicConfig(level=INFO): the root's handler
        logger = logging.getLogger()
        monkeypatch.setattr(logger, "handlers", [handler])
    logging.getLogger("phalanx").setLevel(logging.INFO)
    bar, report = TrainingProgress(), EpochReport()
    args, control, state = SimpleNamespace(), TrainerControl(), _state()
    state.max_steps = 20
    for callback in (bar, report):
        callback.on_train_begin(args, state, control)
    assert logger.handlers != [handler]  # records go through tqdm.write while the bar is up
    for step in range(1, 11):
        state.global_step = step
        bar.on_step_end(args, state, control)
    bar.on_log(args, state, control, logs={"loss": 0.43121})
    report.on_log(args, state, control, logs={"loss": 0.43121})
    state.epoch = 1.0
    metrics = {"eval_loss": 0.5, "eval_accuracy": 0.8, "eval_macro_f1": 0.79}
    report.on_evaluate(args, state, control, metrics=metrics)
    bar.on_train_end(args, state, control)
    assert logger.handlers == [handler] and bar.bar is None  # given back
    text = terminal.getvalue()
    assert "training:" in text and "10/20" in text and "loss 0.4312" in text
    lines = [line.split("\r")[-1] for line in text.split("\n")]  # what the terminal shows
    assert lines.count(HEADER) == 1  # on a line of its own (the bar cleared first), once
    assert any(line.split()[:3] == ["1.00", "10", "0.4312"] for line in lines)
    assert "step 10/20" not in text  # the bar replaces the plain lines


def test_epoch_report_averages_the_training_loss_since_the_last_evaluation(caplog, library_logging):
    caplog.set_level(logging.INFO, logger="phalanx.train")
    report, args, control = EpochReport(), SimpleNamespace(), TrainerControl()
    state = _state()
    report.on_train_begin(args, state, control)
    for step, loss in ((5, 0.7), (10, 0.5)):
        state.global_step = step
        report.on_log(args, state, control, logs={"loss": loss})
    control.should_evaluate = True
    report.on_epoch_end(args, state, control)
    assert control.should_log  # the Trainer logs the loss right before it evaluates
    state.epoch = 1.0
    metrics = {"eval_loss": 0.61, "eval_accuracy": 0.75, "eval_macro_f1": 0.7}
    report.on_evaluate(args, state, control, metrics=metrics)
    report.on_evaluate(args, state, control, metrics=metrics)  # no loss logged in between
    messages = _train_records(caplog)
    assert messages[0] == HEADER and len(messages) == 3
    assert messages[1].split() == ["1.00", "10", "0.6000", "0.6100", "75.00%", "0.7000"]
    assert messages[2].split()[2] == "-"
    assert all(len(m) == len(HEADER) for m in messages)  # aligned under the header


# ----------------------------------------------------------------------------- head report


def test_a_base_without_a_head_loads_without_the_newly_initialized_report(
    headless_base, capfd, hf_warnings
):
    AutoModelForSequenceClassification.from_pretrained(headless_base, num_labels=2)
    assert any("LOAD REPORT" in m for m in hf_warnings)  # what transformers says on its own
    hf_warnings.clear()
    load_base_classifier(str(headless_base), {0: "neg", 1: "pos"})
    load_base_classifier(str(headless_base), {0: "a", 1: "b", 2: "c"})
    _no_head_report(hf_warnings, capfd.readouterr().err)


@pytest.mark.parametrize("method", ["sparta", "lora"])
def test_loading_a_trained_adapter_prints_no_newly_initialized_warning(
    method, headless_base, toy_csv, tmp_path, capfd, hf_warnings
):
    options = {"sparta": {"density": 0.1}, "lora": {"r": 4}}[method]
    cfg = config(headless_base, toy_csv, tmp_path / "run", method=method, max_steps=2)
    cfg.method_options = options
    train(cfg)
    _no_head_report(hf_warnings, capfd.readouterr().err)  # nor at training start
    clf = load_classifier(tmp_path / "run" / "adapter")
    _no_head_report(hf_warnings, capfd.readouterr().err)
    assert clf.classify(["a good movie"]).shape == (1, 2)


def test_weights_missing_outside_the_head_are_still_reported(
    headless_base, tmp_path, caplog, library_logging
):
    from safetensors.torch import load_file, save_file

    broken = tmp_path / "broken"
    broken.mkdir()
    for f in headless_base.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    weights = load_file(str(broken / "model.safetensors"))
    gone = next(k for k in weights if "encoder.layer.0" in k and k.endswith("dense.weight"))
    del weights[gone]
    save_file(weights, str(broken / "model.safetensors"), metadata={"format": "pt"})
    caplog.set_level(logging.WARNING, logger="phalanx")
    load_base_classifier(str(broken), {0: "neg", 1: "pos"})
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "outside the classification head" in warned[0]
    assert gone.split(".", 1)[-1] in warned[0] and "classifier" not in warned[0]


# ----------------------------------------------------------------------------- report_to


def test_report_to_keywords_and_installed_trackers_pass():
    check_report_to([])
    check_report_to(["none"])
    check_report_to(["all"])


def test_an_unknown_tracker_is_refused_with_the_choices():
    with pytest.raises(InputError, match=r"report_to='tensorbord' is not a tracker; .*tensorboard"):
        check_report_to(["tensorbord"])


@pytest.mark.skipif(
    importlib.util.find_spec("tensorboard") is not None
    or importlib.util.find_spec("tensorboardX") is not None,
    reason="tensorboard is installed here",
)
def test_train_refuses_a_missing_tracker_before_loading_anything(tmp_path):
    cfg = config(
        tmp_path / "no-such-model", tmp_path / "no-such.csv", tmp_path / "run",
        report_to=["tensorboard"],
    )  # fmt: skip
    with pytest.raises(InputError) as err:
        train(cfg)  # neither the model nor the data exist: they were never looked at
    message = str(err.value)
    assert "tensorboard" in message and "pip install 'phalanx[tensorboard]'" in message
    assert "\n" not in message and not (tmp_path / "run").exists()


def test_a_tracker_found_by_its_module_passes(monkeypatch):
    import phalanx.training.trackers as trackers

    monkeypatch.setattr(trackers, "_installed", lambda module: module == "tensorboardX")
    check_report_to(["tensorboard"])  # tensorboardX is enough, as for transformers
    with pytest.raises(InputError, match="pip install wandb"):
        check_report_to(["tensorboard", "wandb"])
