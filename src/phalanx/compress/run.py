"""``compress(config)``: recipe -> (pruned) student + teacher -> HF Trainer -> model folder.

The output folder is a model folder ``phalanx.load_classifier`` reads, plus::

    recipe.yaml      the recipe, verbatim
    sparsity.json    fraction of exact zeros per pruned weight and overall
    metrics.json     validation history, test metrics (and the QAT model's before conversion)

Example:
    >>> result = compress(recipe="examples/recipes/minilm_gmp80_distill.yaml",
    ...                   teacher="runs/full/adapter", output="runs/gmp80")  # doctest: +SKIP
    >>> result.test["accuracy"]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..data import DataSplits, TextDataset
from ..folder import write_json
from ..inference.metrics import Evaluation
from ..models.loading import load_base_classifier, load_tokenizer, resolve_model
from ..registry import get_method
from ..training.inputs import PadCollator, TokenizedDataset, tokenize_split
from ..training.run import _base_model_id, _load_splits, _training_args
from ..training.trainer import EpochReport, compute_metrics, evaluation_from_logits
from .augment import augment_texts
from .callbacks import TEACHER_KEY, CompressTrainer, RecipeCallback, steps_per_epoch
from .config import CompressConfig
from .distill import Teacher, load_teacher, teacher_meta
from .modifiers import (
    GMPruningModifier,
    QuantizationModifier,
    SetWeightDecayModifier,
    StructuredPruningModifier,
)
from .prune import restrict_sparta_to_unpruned, sparsity_report
from .recipe import Recipe, load_recipe

__all__ = ["CompressResult", "check_method", "compress"]

log = logging.getLogger("phalanx.compress")


@dataclass
class CompressResult:
    """What a compression run produced (the model stays in memory)."""

    output_dir: Path
    test: Evaluation
    validation: dict[str, float]
    sparsity: dict[str, Any]
    train_seconds: float
    steps: int
    structure: dict[str, Any] | None = None
    teacher: dict[str, float] = field(default_factory=dict)  # its accuracy on the splits
    history: list[dict[str, Any]] = field(default_factory=list, repr=False)
    model: Any = field(default=None, repr=False)
    tokenizer: Any = field(default=None, repr=False)

    @property
    def recovery(self) -> float | None:
        """The student's test accuracy as a fraction of the teacher's (None without one)."""
        return _recovery(self.test, self.teacher)


def _recovery(test: Evaluation, teacher: dict[str, float]) -> float | None:
    # the sparse-model literature's figure: what the student keeps of its teacher's accuracy
    if not teacher.get("test") or "accuracy" not in test:
        return None
    return test["accuracy"] / teacher["test"]


def check_method(recipe: Recipe, method: str) -> None:
    """SpaRTA keeps the base frozen, so only modifiers that leave the base alone compose."""
    if method != "sparta":
        return
    bad = [
        m.name
        for m in recipe.modifiers
        if isinstance(m, GMPruningModifier | StructuredPruningModifier | QuantizationModifier)
    ]
    if bad:
        raise ValueError(
            f"method=sparta freezes the base weights, so it cannot run {', '.join(bad)}; "
            "prune/quantize with method=full first, then train SpaRTA on that model with a "
            "recipe of ConstantPruningModifier, DistillationModifier and schedule modifiers"
        )


class _WithTeacher(torch.utils.data.Dataset):
    def __init__(self, base: Any, logits: torch.Tensor):
        self.base, self.logits = base, logits

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {**self.base[i], TEACHER_KEY: self.logits[i]}


class _TeacherCollator:
    """PadCollator for the token columns; teacher logits (when present) are stacked."""

    def __init__(self, pad: PadCollator):
        self.pad = pad

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        teacher = [it.pop(TEACHER_KEY) for it in items if TEACHER_KEY in it]
        batch = self.pad(items)
        if teacher:
            batch[TEACHER_KEY] = torch.stack(teacher)
        return batch


def _augmented(
    config: CompressConfig,
    texts: TextDataset,
    tokenized: TokenizedDataset,
    logits: torch.Tensor,
    teacher: Teacher,
    tokenizer: Any,
) -> tuple[TokenizedDataset, torch.Tensor]:
    """Originals plus ``distill_augment`` teacher-labelled variants of each training text."""
    if texts.pairs is not None:
        raise ValueError(
            "distill_augment crops single texts; this dataset has text pairs: set it to 0"
        )
    extra = augment_texts(texts.texts, config.distill_augment, seed=config.seed)
    extra_logits = teacher.logits(extra, batch_size=config.eval_batch_size)
    # the hard-label part of the loss (hardness < 1) follows the teacher on the variants
    labels = extra_logits.argmax(-1).tolist()
    extra_ds = tokenize_split(
        TextDataset(extra, labels), tokenizer, config.input_template, config.max_length
    )
    features = {k: v + extra_ds.features[k] for k, v in tokenized.features.items()}
    merged = TokenizedDataset(features, tokenized.labels + extra_ds.labels)
    return merged, torch.cat([logits, extra_logits])


def compress(config: CompressConfig | None = None, **options: Any) -> CompressResult:
    """Run a recipe on ``config.model`` over ``config.dataset`` and save the result.

    ``options`` build the config when none is given: ``compress(recipe=..., teacher=...)``.
    """
    config = config if config is not None else CompressConfig.from_dict(options)
    recipe = load_recipe(config.recipe)
    check_method(recipe, config.method)
    output = Path(config.output).expanduser()
    if output.exists() and (not output.is_dir() or any(output.iterdir())) and not config.overwrite:
        raise FileExistsError(
            f"output {str(output)!r} exists and is not empty; pass --overwrite or choose "
            "another --output"
        )
    distill = recipe.distillation
    if distill is not None and not config.teacher:
        raise ValueError(
            f"recipe {config.recipe} has a DistillationModifier; give --teacher (a phalanx "
            "adapter/run folder such as runs/full/adapter, or a transformers model)"
        )
    if config.distill_augment and distill is None:
        raise ValueError(
            f"distill_augment={config.distill_augment} needs a recipe with a "
            "DistillationModifier (the teacher labels the copies); set it to 0"
        )
    if config.teacher and distill is None:
        raise ValueError(
            f"--teacher {config.teacher} given but recipe {config.recipe} has no "
            "DistillationModifier; add one (hardness, temperature) or drop --teacher"
        )
    wd = recipe.one(SetWeightDecayModifier)
    tcfg = config.train_config(
        epochs=recipe.num_epochs,
        lr=recipe.init_lr,
        weight_decay=wd.weight_decay if wd is not None and wd.start == 0 else 0.0,
    )
    resolve_model(config.model)
    output.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{output.name}.work-", dir=output.parent))
    try:
        args = _training_args(tcfg, work)
        # the final model is the result (sparsity / QAT are only complete at the end), so
        # no best-epoch reload and no checkpoints
        args = dataclasses.replace(args, save_strategy="no", load_best_model_at_end=False)
        return _run(config, recipe, tcfg, args, output)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(config: CompressConfig, recipe: Recipe, tcfg, args, output: Path) -> CompressResult:
    from transformers import set_seed

    set_seed(config.seed)
    splits = _load_splits(tcfg)
    labels = list(splits.label_names)
    base = load_base_classifier(config.model, dict(enumerate(labels)), device="cpu")
    tokenizer = load_tokenizer(config.model, base, max_length=config.max_length)
    datasets = {
        s: tokenize_split(getattr(splits, s), tokenizer, config.input_template, config.max_length)
        for s in ("train", "validation", "test")
    }
    structure = None
    smod = recipe.one(StructuredPruningModifier)
    if smod is not None:
        structure = _prune_structured(base, smod, datasets["train"], tokenizer)
    method = get_method(config.method)
    model = method.apply(base, tcfg.method_config())
    if config.method == "sparta":
        dropped = restrict_sparta_to_unpruned(model)
        log.info("SpaRTA: %d delta positions on pruned weights dropped", dropped)

    # before the teacher's pass: bad pruning params fail fast
    n_train = len(datasets["train"]) * (1 + config.distill_augment)
    spe = steps_per_epoch(n_train, config.batch_size, 1, args.world_size)
    callback = RecipeCallback(recipe, inner_model(model), spe)
    train_ds: Any = datasets["train"]
    teacher_scores: dict[str, float] = {}
    if recipe.distillation is not None:
        teacher = load_teacher(config.teacher, labels, device="cpu")
        start = time.perf_counter()
        logits = teacher.logits(splits.train.texts, batch_size=config.eval_batch_size)
        if config.distill_augment:
            train_ds, logits = _augmented(
                config, splits.train, train_ds, logits, teacher, tokenizer
            )
        log.info(
            "teacher %s: logits of %d training texts in %.0f s",
            config.teacher,
            len(logits),
            time.perf_counter() - start,
        )
        train_ds = _WithTeacher(train_ds, logits)
        teacher_scores = _score_teacher(teacher, splits, config.eval_batch_size)
    trainer = CompressTrainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=datasets["validation"].sorted_by_length(),
        data_collator=_TeacherCollator(PadCollator(tokenizer)),
        compute_metrics=compute_metrics,
        callbacks=[EpochReport(), callback],
        recipe=recipe,
        steps_per_epoch=spe,
    )
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    callback.apply_masks()

    test_ds = datasets["test"].sorted_by_length()
    metrics: dict[str, Any] = {
        "steps": trainer.state.global_step,
        "train_seconds": round(seconds, 1),
    }
    test = _test(trainer, test_ds)
    inner = inner_model(model)
    if callback.qat_started:
        from .quantize import convert_qat

        metrics["test_qat_fake_quant"] = dict(test)
        inner = convert_qat(inner)
        trainer.model = inner
        test = _test(trainer, test_ds)
        if len(test_ds) and inner.device.type == "cpu":
            # the int8 figure: PyTorch dynamic int8 (weights and per-batch activations)
            from .quantize import quantize_dynamic_int8

            trainer.model = quantize_dynamic_int8(inner)
            metrics["test_int8_dynamic"] = dict(_test(trainer, test_ds))
            trainer.model = inner
    if recipe.distillation is not None:
        metrics["teacher"] = teacher_scores  # what the student is held to, on the same splits
        if (recovery := _recovery(test, teacher_scores)) is not None:
            metrics["recovery"] = recovery
            log.info(
                "teacher test accuracy %.2f%%, student %.2f%%: recovery %.1f%%",
                100 * teacher_scores["test"],
                100 * test["accuracy"],
                100 * recovery,
            )
    evals = [h for h in trainer.state.log_history if "eval_accuracy" in h]
    validation = {k.removeprefix("eval_"): v for k, v in (evals[-1] if evals else {}).items()}
    report = sparsity_report(inner)
    metrics.update(
        validation=validation,
        test=dict(test),
        sparsity=report["overall"],
        pruning_schedule=callback.schedule(),
        history=trainer.state.log_history,
    )
    meta = {
        "input_template": config.input_template,
        "max_length": config.max_length,
        "metrics": {k: metrics[k] for k in ("validation", "test", "sparsity", "steps")},
        "compress": {
            "recipe": Path(config.recipe).name,
            "config": config.to_dict(),
            "structure": structure,
            "qat": callback.qat_started,
            "teacher": (
                {**teacher_meta(teacher), **{f"{k}_accuracy": v for k, v in teacher_scores.items()}}
                if recipe.distillation is not None
                else None
            ),
        },
        "dataset": {"source": config.dataset, "checksums": splits.checksums},
    }
    _save(config, model if config.method == "sparta" else inner, tokenizer, output, meta, smod)
    (output / "recipe.yaml").write_text(recipe.text)
    write_json(output / "sparsity.json", report)
    write_json(output / "metrics.json", metrics)
    log.info("compressed model saved to %s (sparsity %.1f%%)", output, 100 * report["overall"])
    return CompressResult(
        output_dir=output,
        test=test,
        validation=validation,
        sparsity=report,
        train_seconds=seconds,
        steps=trainer.state.global_step,
        structure=structure,
        teacher=teacher_scores,
        history=list(trainer.state.log_history),
        model=inner,
        tokenizer=tokenizer,
    )


def inner_model(model: Any) -> Any:
    """The transformers model inside a SpaRTA wrapper (or the model itself)."""
    from ..methods.sparta import SpaRTAModel

    return model.model if isinstance(model, SpaRTAModel) else model


def _test(trainer: CompressTrainer, test_ds: Any) -> Evaluation:
    if not len(test_ds):
        return Evaluation()
    pred = trainer.predict(test_ds, metric_key_prefix="test")
    return evaluation_from_logits(
        torch.from_numpy(pred.predictions), torch.from_numpy(pred.label_ids)
    )


def _score_teacher(teacher: Teacher, splits: DataSplits, batch_size: int) -> dict[str, float]:
    """The teacher's accuracy on this run's validation and test splits (empty ones skipped)."""
    scores = {}
    for name in ("validation", "test"):
        split = getattr(splits, name)
        if len(split.texts):
            logits = teacher.logits(split.texts, batch_size=batch_size)
            scores[name] = evaluation_from_logits(logits, torch.tensor(split.labels))["accuracy"]
    return scores


def _prune_structured(model, smod: StructuredPruningModifier, train_ds, tokenizer) -> dict:
    from .structured import prune_structured

    scores = None
    if smod.importance == "taylor":
        from .structured import taylor_scores

        collate = PadCollator(tokenizer)
        batches = [collate([train_ds[j] for j in range(i, min(i + 32, len(train_ds)))])
                   for i in range(0, min(len(train_ds), 32 * 16), 32)]  # fmt: skip
        scores = taylor_scores(model, batches)
    report = prune_structured(
        model,
        heads_fraction=smod.heads_fraction,
        ffn_fraction=smod.ffn_fraction,
        importance=smod.importance,
        scores=scores,
    )
    log.info("structured pruning: %s", {k: v for k, v in report.items() if "per_layer" in k})
    return report


def _save(config: CompressConfig, model, tokenizer, output: Path, meta: dict, smod) -> None:
    if config.method == "sparta":
        meta["base_model"] = _base_model_id(config.model)
        get_method("sparta").save(
            model, output, base_model=_base_model_id(config.model), meta=meta, overwrite=True
        )
        return
    if smod is not None:
        from ..models.pruned import save_pruned

        meta["base_model"] = _base_model_id(config.model)
        save_pruned(model, tokenizer, output, meta, overwrite=True)
        return
    get_method("full").save(
        model, output, base_model=_base_model_id(config.model), meta=meta, overwrite=True
    )
    tokenizer.save_pretrained(str(output))
