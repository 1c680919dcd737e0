"""``train(config)``: data -> base model + method -> HF Trainer -> best epoch -> test -> adapter.

The run folder (``config.output``) ends up holding::

    adapter/             the method's adapter folder (load it with ``load_classifier``)
    train_config.yaml    the resolved config (defaults filled in)
    metrics.json         validation (best epoch) and test metrics, training history
    checkpoints/         checkpoint-<step>/ folders that ``resume=True`` continues from
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..data import DataSplits, load_data
from ..folder import write_json
from ..inference.metrics import Evaluation
from ..models.loading import load_base_classifier, load_tokenizer, resolve_model
from ..registry import get_method
from .config import TrainConfig
from .inputs import PadCollator, tokenize_split
from .output import barrier, check_output, clear_output
from .trainer import (
    EpochReport,
    InterruptHandler,
    PhalanxTrainer,
    compute_metrics,
    evaluation_from_logits,
    last_checkpoint,
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
    """Test-split metrics of the best epoch, in the seed's printed layout."""
    validation: dict[str, float]
    """Validation metrics of the selected (best) evaluation."""
    best_step: int | None
    best_epoch: float | None
    trainable_parameters: int
    trainable_line: str
    """peft's "trainable params: ... || all params: ... || trainable%: ..." line."""
    train_seconds: float
    steps: int
    config: TrainConfig
    history: list[dict[str, Any]] = field(default_factory=list, repr=False)
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
    from transformers import EarlyStoppingCallback, set_seed

    output = Path(config.output).expanduser()
    ckpt_dir = output / "checkpoints"
    args = _training_args(config, ckpt_dir)  # sets up torch.distributed under torchrun
    main = args.process_index == 0
    resume_from = check_output(config, output, ckpt_dir)  # refuses before any slow work

    resolve_model(config.model)  # an unknown name fails now, not after loading the data
    set_seed(config.seed)  # the new head's initial weights
    splits = _load_splits(config)
    id2label = dict(enumerate(splits.label_names))
    dtype = _model_dtype(config, args)
    method = get_method(config.method)
    if config.task == "generative":
        model, tokenizer = _generative_model(config, splits.label_names, dtype)
    else:
        base = load_base_classifier(config.model, id2label, dtype=dtype, device="cpu")
        tokenizer = load_tokenizer(config.model, base, max_length=config.max_length)
        model = method.apply(base, config.method_config())
        if config.method == "sparta":
            # a pruned base (phalanx compress) stays pruned: no delta may revive a zeroed weight
            from ..compress.prune import restrict_sparta_to_unpruned

            if dropped := restrict_sparta_to_unpruned(model):
                log.info("SpaRTA: %d delta positions on pruned (zero) weights dropped", dropped)
    line = _trainable_line(model)
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if main:
        log.info("%s", line)
    datasets = {
        s: tokenize_split(getattr(splits, s), tokenizer, config.input_template, config.max_length)
        for s in ("train", "validation", "test")
    }
    for s in ("validation", "test"):
        datasets[s] = datasets[s].sorted_by_length()
    if len(datasets["validation"]) == 0:
        raise ValueError(
            f"dataset {config.dataset!r} has no validation examples; give a validation split or "
            "a validation_fraction > 0 (best-epoch selection needs one)"
        )

    clear_output(config, output, main)  # only now that data and model are known to load
    interrupt = InterruptHandler()
    all_callbacks = [interrupt, EpochReport(), *callbacks]
    if config.early_stopping_patience:
        all_callbacks.append(EarlyStoppingCallback(config.early_stopping_patience))
    trainer = PhalanxTrainer(
        model=model,
        args=args,
        train_dataset=datasets["train"],
        eval_dataset=datasets["validation"],
        data_collator=PadCollator(tokenizer),
        compute_metrics=compute_metrics,
        callbacks=all_callbacks,
        layer_lr_decay=config.layer_lr_decay,
    )
    if main:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        config.to_yaml(ckpt_dir / "train_config.yaml")
    start = time.perf_counter()
    interrupt.install()
    try:
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    finally:
        interrupt.uninstall()
    seconds = time.perf_counter() - start
    if interrupt.stopped_at is not None:
        raise TrainingInterrupted(last_checkpoint(ckpt_dir), interrupt.stopped_at)

    state = trainer.state
    validation = _best_eval(state.log_history, state.best_global_step)
    test = Evaluation()
    if len(datasets["test"]):
        pred = trainer.predict(datasets["test"], metric_key_prefix="test")
        logits, labels = torch.from_numpy(pred.predictions), torch.from_numpy(pred.label_ids)
        test = evaluation_from_logits(logits, labels)
    best_epoch = validation.get("epoch")
    adapter = output / "adapter"
    if main:
        metrics = {
            "validation": validation,
            "test": dict(test),
            "best_step": state.best_global_step,
            "best_epoch": best_epoch,
            "steps": state.global_step,
            "train_seconds": round(seconds, 1),
        }
        meta = {
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
                },
            },
            "training": config.resolved(),
            "trainable_line": line,
        }
        base_id = _base_model_id(config.model)
        if config.task == "generative":
            from ..generative.scorer import save_generative

            meta["labels"] = list(splits.label_names)
            save_generative(
                model,
                adapter,
                base_model=base_id,
                method=config.method,
                meta=meta,
                overwrite=True,
            )
        else:
            method.save(model, adapter, base_model=base_id, meta=meta, overwrite=True)
        config.to_yaml(output / "train_config.yaml")
        write_json(output / "metrics.json", {**metrics, "history": state.log_history})
        log.info("adapter saved to %s", adapter)
    barrier()
    return TrainResult(
        output_dir=output,
        adapter_path=adapter,
        test=test,
        validation=validation,
        best_step=state.best_global_step,
        best_epoch=best_epoch,
        trainable_parameters=n_trainable,
        trainable_line=line,
        train_seconds=seconds,
        steps=state.global_step,
        config=config,
        history=list(state.log_history),
        model=model,
        tokenizer=tokenizer,
    )


# ----------------------------------------------------------------------------- helpers


def _training_args(config: TrainConfig, ckpt_dir: Path):
    from transformers import TrainingArguments

    use_cpu = config.device == "cpu" or not torch.cuda.is_available()
    if config.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but no CUDA GPU is visible; use device='auto' or 'cpu'")
    precision = _precision(config.precision, use_cpu)
    return TrainingArguments(
        output_dir=str(ckpt_dir),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        learning_rate=config.resolved_lr(),
        # not "adamw_torch_fused" (the HF default on torch >= 2.8): the fused kernel writes the
        # parameters without bumping their version counters, and SpaRTA re-merges its deltas
        # into the frozen weights when their version changes
        optim="adamw_torch",
        lr_scheduler_type="linear",
        warmup_steps=config.warmup_ratio,
        weight_decay=config.weight_decay,
        gradient_accumulation_steps=config.grad_accum,
        max_grad_norm=config.max_grad_norm,
        eval_strategy="steps" if config.eval_steps else "epoch",
        save_strategy="steps" if config.eval_steps else "epoch",
        eval_steps=config.eval_steps,
        save_steps=config.eval_steps or 500,
        save_total_limit=config.save_total_limit,
        load_best_model_at_end=True,
        metric_for_best_model=config.best_metric,
        greater_is_better=config.best_metric != "loss",
        logging_strategy="steps",
        logging_steps=config.logging_steps,
        report_to=config.report_to,
        seed=config.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=use_cpu,
        label_names=["labels"],
        remove_unused_columns=False,
        disable_tqdm=not config.progress,
        dataloader_num_workers=0,
        ddp_broadcast_buffers=False,  # buffers (SpaRTA indices, rotary tables) never change
        ddp_find_unused_parameters=False,
        save_only_model=False,
    )


def _precision(precision: str, use_cpu: bool) -> str:
    if precision == "auto":
        if use_cpu:
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if use_cpu and precision != "fp32":
        raise ValueError(
            f"precision={precision!r} needs a GPU here; use precision='fp32' or 'auto'"
        )
    return precision


def _model_dtype(config: TrainConfig, args) -> torch.dtype:
    """bf16 base weights when training in bf16 on a GPU (trainable tensors stay fp32)."""
    return torch.bfloat16 if args.bf16 and not args.use_cpu else torch.float32


def _load_splits(config: TrainConfig) -> DataSplits:
    splits = load_data(
        config.dataset,
        text_column=config.text_column,
        text_pair_column=config.text_pair_column,
        label_column=config.label_column,
        label_names=config.label_names,
        validation_fraction=config.validation_fraction,
        test_fraction=config.test_fraction,
        seed=config.seed,
        limit=config.limit,
    )
    log.info(
        "data %s: %d train / %d validation / %d test examples, labels %s",
        config.dataset,
        len(splits.train),
        len(splits.validation),
        len(splits.test),
        splits.label_names,
    )
    return splits


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


def _trainable_line(model: Any) -> str:
    """The method's own "trainable params: ..." line (captured, not printed)."""
    printer = getattr(model, "print_trainable_parameters", None)
    if callable(printer):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            returned = printer()
        text = returned if isinstance(returned, str) else buf.getvalue().strip()
        if text:
            return text.splitlines()[-1]
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return (
        f"trainable params: {trainable:,d} || all params: {total:,d} "
        f"|| trainable%: {100 * trainable / total:.4f}"
    )


def _best_eval(history: list[dict[str, Any]], best_step: int | None) -> dict[str, float]:
    evals = [h for h in history if "eval_accuracy" in h]
    if not evals:
        return {}
    chosen = next((h for h in evals if h.get("step") == best_step), evals[-1])
    out = {k.removeprefix("eval_"): v for k, v in chosen.items() if k.startswith("eval_")}
    out.update(epoch=chosen.get("epoch"), step=chosen.get("step"))
    for key in ("runtime", "samples_per_second", "steps_per_second"):
        out.pop(key, None)
    return out


def _base_model_id(name: str) -> str:
    """Built-in names and hub ids stay as they are; local folders become absolute."""
    from ..assets import BUILTIN_MODELS

    if name in BUILTIN_MODELS:
        return name
    path = Path(name).expanduser()
    return str(path.resolve()) if path.is_dir() else name


def read_run_metrics(output: str | Path) -> dict[str, Any]:
    """metrics.json of a finished run."""
    return json.loads((Path(output) / "metrics.json").read_text())
