"""``train(config)``: data -> base model + method -> HF Trainer -> best epoch -> test -> adapter.

The run folder (``config.output``) ends up holding::

    adapter/             the method's adapter folder (load it with ``load_classifier``)
    README.md            the run's model card (``phalanx.folder.card``)
    train_config.yaml    the resolved config (defaults filled in)
    metrics.json         validation (best epoch) and test metrics, training history
    checkpoints/         checkpoint-<step>/ folders that ``resume=True`` continues from

No file of a finished run names the output folder by an absolute path: ``output`` is saved
as given when relative, else as the folder's name (``portable_path``), and an absolute
``best_model_checkpoint`` in the checkpoints is dropped (a resume finds the best checkpoint
again from ``best_global_step``). Inputs (a local base model, a data file) stay as given:
loading and evaluating on this machine read them."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from transformers import TrainerCallback

from ..assets import resolve_model
from ..data import DataSplits
from ..folder import PEFT_CONFIG_FILE, apply_umask, read_meta, write_json
from ..folder.card import portable_path, run_card, write_card
from ..inference.metrics import Evaluation
from ..models.loading import load_base_classifier, load_tokenizer
from ..problems import Problem
from ..registry import get_method
from .config import TrainConfig
from .inputs import PadCollator
from .output import barrier, check_output, clear_output
from .setup import (
    apply_method,
    base_model_id,
    load_splits,
    loss_function,
    model_dtype,
    predict_metrics,
    problem_for,
    select_best_metric,
    tokenize_splits,
    trainable_line,
    training_arguments,
    tune_problem,
)
from .trainer import (
    EpochReport,
    InterruptHandler,
    PhalanxTrainer,
    last_checkpoint,
    metrics_for,
)

__all__ = ["TrainResult", "TrainingInterrupted", "train"]

log = logging.getLogger("phalanx.train")


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on Ctrl-C after writing a checkpoint; ``resume=True`` continues."""

    def __init__(self, checkpoint: Path | None, step: int | None):
        self.checkpoint, self.step = checkpoint, step
        where = f"checkpoint {checkpoint}" if checkpoint else "no checkpoint yet"
        super().__init__(f"training interrupted at step {step} ({where}); rerun with --resume")


@dataclass
class TrainResult:
    """What a run produced: paths, metrics and the trained model (still in memory)."""

    output_dir: Path
    adapter_path: Path
    test: Evaluation
    """Test-split metrics of the best epoch (``loss``, ``accuracy``, ``macro_f1``,
    ``per_class``, ...: ``phalanx.metric_names``), printed in peft-sparta's layout."""
    validation: dict[str, float]
    """Validation metrics of the selected (best) evaluation under the same keys (``loss``,
    ``accuracy``, ``macro_f1``, ``balanced_accuracy``, ``mcc``, ``f1``; multi-label:
    ``micro_f1``, ..., at the tuned thresholds; regression: ``mse``, ...), ``epoch``,
    ``step``."""
    best_step: int | None
    best_epoch: float | None
    trainable_parameters: int
    trainable_line: str
    """peft's "trainable params: ... || all params: ... || trainable%: ..." line."""
    train_seconds: float
    steps: int
    config: TrainConfig
    history: list[dict[str, Any]] = field(default_factory=list, repr=False)
    problem: Problem = field(default_factory=Problem)
    """What the model predicts, with its tuned thresholds / target scale (saved with it)."""
    best_metric: str = "accuracy"
    """The validation metric that selected the best epoch."""
    model: Any = field(default=None, repr=False)
    tokenizer: Any = field(default=None, repr=False)


def train(config: TrainConfig, *, callbacks: Sequence[Any] = ()) -> TrainResult:
    """Fine-tune ``config.model`` with ``config.method`` on ``config.dataset``.

    ``callbacks`` are extra ``transformers.TrainerCallback`` objects. Ctrl-C stops after the
    current step, writes a checkpoint and raises ``TrainingInterrupted``.

    Example:
        >>> result = train(TrainConfig(dataset="rotten_tomatoes", epochs=1))  # doctest: +SKIP
        >>> print(result.test)  # doctest: +SKIP
        loss: 0.43
        accuracy: 80.3%
        ...
    """
    from transformers import set_seed

    output = Path(config.output).expanduser()
    ckpt_dir = output / "checkpoints"
    args = training_arguments(config, ckpt_dir)  # sets up torch.distributed under torchrun
    main = args.process_index == 0
    # refuses before any slow work
    resume_from = check_output(config, output, ckpt_dir, args.world_size)

    resolve_model(config.model)  # an unknown name fails now, not after loading the data
    set_seed(config.seed)  # the new head's initial weights
    splits = load_splits(config)
    problem = problem_for(config, splits)
    best_metric = select_best_metric(args, config, problem)
    model, tokenizer = _model_and_tokenizer(config, splits.label_names, model_dtype(args), problem)
    line = trainable_line(model)
    if main:
        log.info("%s", line)
    datasets = _datasets(config, splits, tokenizer, problem)

    clear_output(config, output, main)  # only now that data and model are known to load
    trainer, interrupt = _trainer(
        config, args, model, tokenizer, datasets, callbacks, problem, splits
    )
    if main:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        config.to_yaml(ckpt_dir / "train_config.yaml")
    seconds = _fit(trainer, interrupt, resume_from, ckpt_dir)

    problem = tune_problem(config, trainer, datasets["validation"], problem)
    test = predict_metrics(trainer, datasets["test"], list(splits.label_names), problem)
    result = _result(config, trainer, model, tokenizer, test, line, seconds)
    result.problem, result.best_metric = problem, best_metric
    if problem.thresholds:  # the figures at the tuned thresholds, as the test ones are
        tuned = predict_metrics(trainer, datasets["validation"], list(splits.label_names), problem)
        result.validation.update(
            (k, v) for k, v in tuned.items() if isinstance(v, int | float) and k != "loss"
        )
    if main:
        _save_run(result, splits)
    barrier()
    return result


# ----------------------------------------------------------------------------- steps


def _model_and_tokenizer(
    config: TrainConfig, label_names: list[str], dtype: torch.dtype, problem: Problem
):
    """The base model (a new head over ``label_names``) under the method, and its tokenizer."""
    if config.task == "generative":
        return _generative_model(config, label_names, dtype)
    base = load_base_classifier(
        config.model,
        dict(enumerate(label_names)),
        dtype=dtype,
        device="cpu",
        problem_type=problem.type,
    )
    tokenizer = load_tokenizer(config.model, base, max_length=config.max_length)
    return apply_method(config, base), tokenizer


def _datasets(
    config: TrainConfig, splits: DataSplits, tokenizer: Any, problem: Problem
) -> dict[str, Any]:
    """Tokenized splits; evaluation ones sorted by length (they pad far less)."""
    datasets = tokenize_splits(config, splits, tokenizer, problem)
    for s in ("validation", "test"):
        datasets[s] = datasets[s].sorted_by_length()
    if len(datasets["validation"]) == 0:
        raise ValueError(
            f"dataset {config.dataset!r} has no validation examples; give a validation split or "
            "a validation_fraction > 0 (best-epoch selection needs one)"
        )
    return datasets


def _trainer(
    config: TrainConfig,
    args: Any,
    model: Any,
    tokenizer: Any,
    datasets: dict,
    callbacks,
    problem: Problem,
    splits: DataSplits,
) -> tuple[PhalanxTrainer, InterruptHandler]:
    """The Trainer with its callbacks (Ctrl-C, epoch report, early stopping, the caller's)."""
    from transformers import EarlyStoppingCallback

    interrupt = InterruptHandler()
    all_callbacks = [
        interrupt,
        EpochReport(problem.type),
        _UmaskModes(),
        _BestCheckpoint(),
        *callbacks,
    ]
    if config.early_stopping_patience is not None:
        all_callbacks.append(EarlyStoppingCallback(config.early_stopping_patience))
    trainer = PhalanxTrainer(
        model=model,
        args=args,
        train_dataset=datasets["train"],
        eval_dataset=datasets["validation"],
        data_collator=PadCollator(tokenizer),
        compute_metrics=metrics_for(problem, list(splits.label_names)),
        callbacks=all_callbacks,
        layer_lr_decay=config.layer_lr_decay,
        loss_fn=loss_function(config, problem, splits),
    )
    return trainer, interrupt


class _UmaskModes(TrainerCallback):
    """Each checkpoint folder gets the user's umask (safetensors writes its files 0600)."""

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and folder.is_dir():
            apply_umask(folder)


class _BestCheckpoint(TrainerCallback):
    """On resume, the best checkpoint found from ``best_global_step`` when the checkpoint's
    state names none (a finished run's checkpoints record no absolute path)."""

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.best_model_checkpoint is None and state.best_global_step:
            folder = Path(args.output_dir) / f"checkpoint-{state.best_global_step}"
            if folder.is_dir():
                state.best_model_checkpoint = str(folder)


def _fit(
    trainer: PhalanxTrainer, interrupt: InterruptHandler, resume_from: Path | None, ckpt_dir: Path
) -> float:
    """Train (resuming from ``resume_from``); seconds taken. Raises TrainingInterrupted."""
    start = time.perf_counter()
    interrupt.install()
    try:
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    finally:
        interrupt.uninstall()
    if interrupt.stopped_at is not None:
        world_size = trainer.args.world_size
        raise TrainingInterrupted(last_checkpoint(ckpt_dir, world_size), interrupt.stopped_at)
    return time.perf_counter() - start


def _result(
    config: TrainConfig,
    trainer: PhalanxTrainer,
    model: Any,
    tokenizer: Any,
    test: Evaluation,
    line: str,
    seconds: float,
) -> TrainResult:
    """What the run produced, with the validation metrics of the selected (best) epoch."""
    state = trainer.state
    validation = _best_eval(state.log_history, state.best_global_step)
    output = Path(config.output).expanduser()
    return TrainResult(
        output_dir=output,
        adapter_path=output / "adapter",
        test=test,
        validation=validation,
        best_step=state.best_global_step,
        best_epoch=validation.get("epoch"),
        trainable_parameters=sum(p.numel() for p in model.parameters() if p.requires_grad),
        trainable_line=line,
        train_seconds=seconds,
        steps=state.global_step,
        config=config,
        history=list(state.log_history),
        model=model,
        tokenizer=tokenizer,
    )


def _save_run(result: TrainResult, splits: DataSplits) -> None:
    """The adapter (with its phalanx.json), train_config.yaml, metrics.json and the run's
    README.md; the checkpoints lose their absolute paths (``_portable_checkpoints``)."""
    config, adapter = result.config, result.adapter_path
    metrics = {
        "validation": result.validation,
        "test": dict(result.test),
        "best_step": result.best_step,
        "best_epoch": result.best_epoch,
        "steps": result.steps,
        "train_seconds": round(result.train_seconds, 1),
    }
    meta = _adapter_meta(config, splits, metrics, result.trainable_line, result.problem)
    base_id = base_model_id(config.model)
    if config.task == "generative":
        from ..generative.scorer import save_generative

        meta["labels"] = list(splits.label_names)
        save_generative(
            result.model,
            adapter,
            base_model=base_id,
            method=config.method,
            meta=meta,
            overwrite=True,
        )
    else:
        get_method(config.method).save(
            result.model, adapter, base_model=base_id, meta=meta, overwrite=True
        )
    _write_config(config, result.output_dir / "train_config.yaml")
    write_json(result.output_dir / "metrics.json", {**metrics, "history": result.history})
    card = run_card(
        {**read_meta(adapter), **meta},  # what the method added, the run's entries in order
        metrics,
        name=portable_path(result.output_dir) or "run",
        peft=(adapter / PEFT_CONFIG_FILE).is_file(),
        history=result.history,
    )
    write_card(result.output_dir, card)
    _portable_checkpoints(config, result.output_dir / "checkpoints")
    log.debug("adapter saved to %s", adapter)  # the method logs it; the CLI prints it


def _saved_config(config: TrainConfig) -> dict[str, Any]:
    """The resolved config as a saved run records it: ``output`` spelled portably."""
    return {**config.resolved(), "output": portable_path(config.output)}


def _write_config(config: TrainConfig, path: Path) -> None:
    """``train_config.yaml`` (the resolved config; ``TrainConfig.to_yaml``'s layout)."""
    path.write_text(yaml.safe_dump(_saved_config(config), sort_keys=False))


def _portable_checkpoints(config: TrainConfig, ckpt_dir: Path) -> None:
    """A finished run's checkpoints without absolute paths of this machine: the saved
    config's ``output`` as in ``train_config.yaml``, and no absolute
    ``best_model_checkpoint`` in ``trainer_state.json`` (``_BestCheckpoint`` finds the best
    checkpoint again from ``best_global_step`` on a resume). Each file is replaced whole."""
    if not ckpt_dir.is_dir():
        return
    if (ckpt_dir / "train_config.yaml").is_file():
        _write_config(config, ckpt_dir / ".train_config.yaml.tmp")
        os.replace(ckpt_dir / ".train_config.yaml.tmp", ckpt_dir / "train_config.yaml")
    for file in sorted(ckpt_dir.glob("checkpoint-*/trainer_state.json")):
        try:
            state = json.loads(file.read_text())
        except (OSError, ValueError):
            continue  # a torn state: resume skips that checkpoint anyway
        best = state.get("best_model_checkpoint") if isinstance(state, dict) else None
        if isinstance(best, str) and portable_path(best) != best:
            state["best_model_checkpoint"] = None
            tmp = file.with_name(f".{file.name}.tmp")
            tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
            os.replace(tmp, file)


def _adapter_meta(
    config: TrainConfig,
    splits: DataSplits,
    metrics: dict[str, Any],
    line: str,
    problem: Problem | None = None,
) -> dict[str, Any]:
    """What phalanx.json records about the run: the problem (type, thresholds, target
    scale), template, data, metrics, the resolved config."""
    return {
        **({} if problem is None else {"problem": problem.to_meta()}),
        "input_template": config.input_template,
        "max_length": config.max_length,
        "text_pair": config.text_pair_column is not None,
        "metrics": metrics,
        "dataset": {
            "source": config.dataset,
            "checksums": splits.checksums,
            "sizes": {s: len(getattr(splits, s)) for s in ("train", "validation", "test")},
            "columns": {
                "text": config.text_column,
                "text_pair": config.text_pair_column,
                "label": config.label_column,
                # multi-label data's other spellings, which evaluate defaults to
                **(
                    {
                        "label_columns": config.label_columns,
                        "label_separator": config.label_separator,
                    }
                    if problem is not None and problem.type == "multi_label"
                    else {}
                ),
            },
        },
        "training": _saved_config(config),
        "trainable_line": line,
    }


def _generative_model(config: TrainConfig, label_names: list[str], dtype: Any):
    """An LM wrapped by the method, then by a LabelScorer over the verbalizers."""
    from ..generative.scorer import apply_generative, load_lm

    verbalizers = config.verbalizers or list(label_names)
    if len(verbalizers) != len(label_names):
        raise ValueError(
            f"{len(verbalizers)} verbalizers {verbalizers} for {len(label_names)} labels "
            f"{label_names}; give one per label, in id order"
        )
    lm = load_lm(config.model, dtype=dtype, device="cpu")
    tokenizer = load_tokenizer(config.model, lm, max_length=config.max_length)
    model = apply_generative(lm, tokenizer, config.method, config.method_config(), verbalizers)
    return model, tokenizer


def _best_eval(history: list[dict[str, Any]], best_step: int | None) -> dict[str, float]:
    evals = [h for h in history if "eval_loss" in h]
    if not evals:
        return {}
    chosen = next((h for h in evals if h.get("step") == best_step), evals[-1])
    out = {k.removeprefix("eval_"): v for k, v in chosen.items() if k.startswith("eval_")}
    out.update(epoch=chosen.get("epoch"), step=chosen.get("step"))
    for key in ("runtime", "samples_per_second", "steps_per_second"):
        out.pop(key, None)
    return out


def read_run_metrics(output: str | Path) -> dict[str, Any]:
    """metrics.json of a finished run."""
    return json.loads((Path(output) / "metrics.json").read_text())
