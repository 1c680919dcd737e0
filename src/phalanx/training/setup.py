"""The steps a training run is built from, public so that ``phalanx compress`` builds on them:
data splits, the base model under a method, tokenized splits, ``TrainingArguments``, the
trainable-parameter line and test metrics.

Example:
    >>> base_model_id("minilm-l6")
    'minilm-l6'
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import Any

import torch

from ..data import DataSplits, TextDataset, load_data
from ..inference.metrics import Evaluation, evaluation_from_logits
from ..problems import Problem
from ..registry import get_method
from .config import LOWER_IS_BETTER, TrainConfig
from .inputs import TokenizedDataset, tokenize_split

__all__ = [
    "apply_method",
    "base_model_id",
    "load_splits",
    "loss_function",
    "model_dtype",
    "predict_metrics",
    "problem_for",
    "select_best_metric",
    "tokenize_splits",
    "trainable_line",
    "training_arguments",
    "training_targets",
    "tune_problem",
]

log = logging.getLogger("phalanx.train")

SPLITS = ("train", "validation", "test")


def base_model_id(name: str) -> str:
    """What an adapter records as its base: built-in names and hub ids stay as they are,
    local folders become absolute."""
    from ..assets import BUILTIN_MODELS

    if name in BUILTIN_MODELS:
        return name
    path = Path(name).expanduser()
    return str(path.resolve()) if path.is_dir() else name


def load_splits(config: TrainConfig) -> DataSplits:
    """Train / validation / test splits of ``config.dataset`` (carve-outs, limit, labels)."""
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
        problem_type=config.problem_type,
        label_columns=config.label_columns,
        label_separator=config.label_separator,
        allow_empty_labels=config.allow_empty_labels,
    )
    log.info(
        "data %s: %d train / %d validation / %d test examples, %s, labels %s",
        config.dataset,
        len(splits.train),
        len(splits.validation),
        len(splits.test),
        splits.problem_type,
        splits.label_names,
    )
    return splits


def problem_for(config: TrainConfig, splits: DataSplits) -> Problem:
    """The problem the data poses, before training: its type (and, for regression with
    ``normalize_target``, the train targets' mean and std). Multi-label thresholds come
    after training (``tune_problem``)."""
    problem_type = splits.problem_type
    if config.task == "generative" and problem_type != "single_label":
        raise ValueError(
            f"{config.dataset!r} holds {problem_type} data; task=generative scores one "
            "label's words per text: use task=classification"
        )
    config.loss_for(problem_type)  # refuse a loss / best metric of another type now
    config.resolved_best_metric(problem_type)
    if problem_type != "regression" or not config.normalize_target:
        return Problem(problem_type)
    y = torch.tensor(splits.train.labels, dtype=torch.float64)
    std = y.std(correction=0).item()
    if not std > 0:
        raise ValueError(f"the train targets of {config.dataset!r} are all {y[0].item()}")
    return Problem("regression", target_scale=(y.mean().item(), std))


def select_best_metric(args: Any, config: TrainConfig, problem: Problem) -> str:
    """Point the Trainer's best-epoch selection at the problem type's metric."""
    metric = config.resolved_best_metric(problem.type)
    args.metric_for_best_model = metric
    args.greater_is_better = metric not in LOWER_IS_BETTER
    return metric


def training_targets(problem: Problem, ds: TextDataset, num_labels: int) -> list[Any]:
    """What the loss compares the logits with: class ids, multi-hot rows, or targets
    normalised by the problem's ``target_scale``."""
    if problem.type == "multi_label":
        from ..data.targets import multi_hot

        return multi_hot(ds.labels, num_labels)
    if problem.type == "regression":
        mean, std = problem.target_scale or (0.0, 1.0)
        return [(float(y) - mean) / std for y in ds.labels]
    return list(ds.labels)


def loss_function(config: TrainConfig, problem: Problem, splits: DataSplits) -> Any:
    """The training loss of ``problem`` (``pos_weight=auto``: from the train labels)."""
    from ..problems.loss import ProblemLoss, pos_weights

    weights = None
    if config.pos_weight == "auto":
        if problem.type != "multi_label":
            raise ValueError(f"pos_weight=auto applies to multi_label data, not {problem.type}")
        weights = pos_weights(training_targets(problem, splits.train, splits.num_labels))
    return ProblemLoss(problem, config.loss_for(problem.type), weights)


def tokenize_splits(
    config: TrainConfig, splits: DataSplits, tokenizer: Any, problem: Problem | None = None
) -> dict[str, TokenizedDataset]:
    """Each split rendered with ``config.input_template`` and tokenized (unpadded), with
    the targets of ``problem`` (default: single_label class ids)."""
    problem = problem or Problem()
    return {
        s: tokenize_split(
            getattr(splits, s),
            tokenizer,
            config.input_template,
            config.max_length,
            training_targets(problem, getattr(splits, s), splits.num_labels),
        )
        for s in SPLITS
    }


def apply_method(config: TrainConfig, base: Any) -> Any:
    """``base`` wrapped by ``config.method``; a pruned base (``phalanx compress``) stays
    pruned: the method's ``restrict_to_unpruned`` hook drops adapter positions on zeros."""
    method = get_method(config.method)
    model = method.apply(base, config.method_config())
    hook = method.restrict_to_unpruned
    if hook is not None and (dropped := hook(model)):
        log.info("%s: %d positions on pruned (zero) weights dropped", method.name, dropped)
    return model


def training_arguments(config: TrainConfig, output_dir: Path):
    """The HF ``TrainingArguments`` of ``config`` (sets up torch.distributed under torchrun);
    a ``report_to`` tracker that is not installed is refused first."""
    from transformers import TrainingArguments

    from .trackers import check_report_to

    check_report_to(config.report_to)
    use_cpu = config.device == "cpu" or not torch.cuda.is_available()
    if config.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but no CUDA GPU is visible; use device='auto' or 'cpu'")
    precision = _precision(config.precision, use_cpu)
    return TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=config.epochs,
        max_steps=-1 if config.max_steps is None else config.max_steps,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        learning_rate=config.resolved_lr(),
        # not "adamw_torch_fused" (the HF default on torch >= 2.8), so results stay those of
        # earlier runs. SpaRTA would also be right with it: it notices changed deltas by
        # value (SparseDelta.is_merged), fused kernels that skip version counters included
        optim="adamw_torch",
        lr_scheduler_type="linear",
        warmup_steps=config.warmup_ratio,
        weight_decay=config.weight_decay,
        gradient_accumulation_steps=config.grad_accum,
        max_grad_norm=config.max_grad_norm,
        eval_strategy="epoch" if config.eval_steps is None else "steps",
        save_strategy="epoch" if config.eval_steps is None else "steps",
        eval_steps=config.eval_steps,
        save_steps=500 if config.eval_steps is None else config.eval_steps,
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


def model_dtype(args: Any) -> torch.dtype:
    """bf16 base weights when training in bf16 on a GPU (trainable tensors stay fp32)."""
    return torch.bfloat16 if args.bf16 and not args.use_cpu else torch.float32


def trainable_line(model: Any) -> str:
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


def predict_metrics(
    trainer: Any,
    dataset: TokenizedDataset,
    label_names: list[str] | None = None,
    problem: Problem | None = None,
) -> Evaluation:
    """The metric set of ``trainer.model`` on ``dataset`` (empty when it is) for ``problem``
    (default single_label), with the label names printed on it (default: the model
    config's ``id2label``)."""
    if not len(dataset):
        return Evaluation()
    logits, labels = _predict(trainer, dataset)
    if label_names is None:
        label_names = _config_labels(trainer.model, logits.shape[-1])
    if problem is None or problem.type == "single_label":
        return evaluation_from_logits(logits, labels, label_names)
    from ..problems.metrics import evaluation_for
    from .trainer import data_units

    return evaluation_for(problem, logits, data_units(problem, labels), label_names)


def _predict(trainer: Any, dataset: TokenizedDataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and labels of ``trainer.model`` on ``dataset``."""
    pred = trainer.predict(dataset, metric_key_prefix="test")
    return torch.from_numpy(pred.predictions), torch.from_numpy(pred.label_ids)


def tune_problem(
    config: TrainConfig, trainer: Any, validation: TokenizedDataset, problem: Problem
) -> Problem:
    """``problem`` with its multi-label decision thresholds set by ``config.thresholds``
    (a fixed value, or tuned on ``validation`` to maximise F1); other types unchanged."""
    if problem.type != "multi_label":
        return problem
    from ..problems.thresholds import threshold_setting, tune_thresholds

    setting = threshold_setting(config.thresholds)
    if isinstance(setting, float):
        return Problem("multi_label", thresholds=(setting,))
    logits, labels = _predict(trainer, validation)
    thresholds = tune_thresholds(problem.scores(logits).numpy(), labels.numpy(), setting)
    log.info("multi-label thresholds (%s, tuned on validation): %s", setting, thresholds)
    return Problem("multi_label", thresholds=tuple(thresholds))


def _config_labels(model: Any, num_labels: int) -> list[str] | None:
    """The model config's label names in id order, if it has one per logit column."""
    id2label = getattr(getattr(model, "config", None), "id2label", None) or {}
    names = {int(k): str(v) for k, v in id2label.items()}
    return [names[i] for i in range(num_labels)] if set(names) == set(range(num_labels)) else None
