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

from ..assets import resolve_model
from ..data import DataSplits, TextDataset
from ..folder import check_apart, resolve_adapter, write_json
from ..inference.metrics import Evaluation, evaluation_from_logits
from ..models.loading import load_base_classifier, load_tokenizer
from ..registry import get_method
from ..training.inputs import PadCollator, TokenizedDataset, tokenize_split
from ..training.setup import (
    apply_method,
    base_model_id,
    load_splits,
    predict_metrics,
    tokenize_splits,
    training_arguments,
)
from ..training.trainer import EpochReport, compute_metrics
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
from .prune import sparsity_report
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
    """A method that keeps the base frozen composes only with modifiers that leave it alone."""
    if not get_method(method).frozen_base:
        return
    bad = [
        m.name
        for m in recipe.modifiers
        if isinstance(m, GMPruningModifier | StructuredPruningModifier | QuantizationModifier)
    ]
    if bad:
        raise ValueError(
            f"method={method} freezes the base weights, so it cannot run {', '.join(bad)}; "
            f"prune/quantize with method=full first, then train {method} on that model with a "
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
    check_compress_output(config, output)
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
        args = training_arguments(tcfg, work)
        # the final model is the result (sparsity / QAT are only complete at the end), so
        # no best-epoch reload and no checkpoints
        args = dataclasses.replace(args, save_strategy="no", load_best_model_at_end=False)
        return _run(config, recipe, tcfg, args, output)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check_compress_output(config: CompressConfig, output: Path) -> None:
    """Refuse an output that is, holds or lies inside the model, the dataset or a teacher, or
    a non-empty one without ``overwrite`` (which then replaces only the model folder's files,
    recipe.yaml, sparsity.json and metrics.json)."""
    teachers = [_teacher_folder(t.strip()) for t in (config.teacher or "").split(",")]
    inputs = {"model": config.model, "dataset": config.dataset}
    for i, teacher in enumerate(filter(None, teachers), 1):
        inputs["teacher" if len(teachers) == 1 else f"teacher {i}"] = teacher
    check_apart(output, inputs)
    if output.exists() and (not output.is_dir() or any(output.iterdir())) and not config.overwrite:
        raise FileExistsError(
            f"output {str(output)!r} exists and is not empty; pass --overwrite or choose "
            "another --output"
        )


def _teacher_folder(teacher: str) -> str:
    """A teacher run folder's ``adapter/`` (what is read), else the teacher as given."""
    try:
        return str(resolve_adapter(teacher)) if Path(teacher).is_dir() else teacher
    except ValueError:
        return teacher


def _run(config: CompressConfig, recipe: Recipe, tcfg, args, output: Path) -> CompressResult:
    from transformers import set_seed

    set_seed(config.seed)
    splits = load_splits(tcfg)
    smod = recipe.one(StructuredPruningModifier)
    model, tokenizer, datasets, structure = _student(config, tcfg, splits, smod)
    # before the teacher's pass: bad pruning params fail fast
    n_train = len(datasets["train"]) * (1 + config.distill_augment)
    spe = steps_per_epoch(n_train, config.batch_size, 1, args.world_size)
    callback = RecipeCallback(recipe, inner_model(model), spe)
    teacher, train_ds, teacher_scores = None, datasets["train"], {}
    if recipe.distillation is not None:
        teacher, train_ds, teacher_scores = _distillation(config, splits, train_ds, tokenizer)
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
    scores = None if teacher is None else teacher_scores
    inner, test, metrics, report = _evaluate(trainer, model, callback, datasets, scores, seconds)
    teacher_info = None if teacher is None else _teacher_info(teacher, teacher_scores)
    meta = _meta(config, recipe, metrics, structure, callback.qat_started, teacher_info, splits)
    _save(config, model, inner, tokenizer, output, meta, smod)
    (output / "recipe.yaml").write_text(recipe.text)
    write_json(output / "sparsity.json", report)
    write_json(output / "metrics.json", metrics)
    log.info("compressed model saved to %s (sparsity %.1f%%)", output, 100 * report["overall"])
    return CompressResult(
        output_dir=output,
        test=test,
        validation=metrics["validation"],
        sparsity=report,
        train_seconds=seconds,
        steps=trainer.state.global_step,
        structure=structure,
        teacher=teacher_scores,
        history=list(trainer.state.log_history),
        model=inner,
        tokenizer=tokenizer,
    )


def _student(config: CompressConfig, tcfg, splits: DataSplits, smod):
    """The student under the method (structurally pruned first when the recipe says so), its
    tokenizer, the tokenized splits and the structured-pruning report (or None)."""
    base = load_base_classifier(config.model, dict(enumerate(splits.label_names)), device="cpu")
    tokenizer = load_tokenizer(config.model, base, max_length=config.max_length)
    datasets = tokenize_splits(tcfg, splits, tokenizer)
    structure = None
    if smod is not None:
        structure = _prune_structured(base, smod, datasets["train"], tokenizer)
    return apply_method(tcfg, base), tokenizer, datasets, structure


def _distillation(config: CompressConfig, splits: DataSplits, train_ds: Any, tokenizer: Any):
    """The teacher, the training set with its logits (plus augmented copies), and the
    teacher's accuracy on the validation and test splits."""
    teacher = load_teacher(config.teacher, list(splits.label_names), device="cpu")
    start = time.perf_counter()
    logits = teacher.logits(splits.train.texts, batch_size=config.eval_batch_size)
    if config.distill_augment:
        train_ds, logits = _augmented(config, splits.train, train_ds, logits, teacher, tokenizer)
    log.info(
        "teacher %s: logits of %d training texts in %.0f s",
        config.teacher,
        len(logits),
        time.perf_counter() - start,
    )
    scores = _score_teacher(teacher, splits, config.eval_batch_size)
    return teacher, _WithTeacher(train_ds, logits), scores


def _evaluate(
    trainer: CompressTrainer,
    model: Any,
    callback: RecipeCallback,
    datasets: dict[str, Any],
    teacher_scores: dict[str, float] | None,
    seconds: float,
) -> tuple[Any, Evaluation, dict[str, Any], dict[str, Any]]:
    """The final model, its test metrics, the run's metrics.json and its sparsity report."""
    metrics: dict[str, Any] = {
        "steps": trainer.state.global_step,
        "train_seconds": round(seconds, 1),
    }
    inner, test = _final_test(trainer, inner_model(model), callback, datasets["test"], metrics)
    if teacher_scores is not None:
        _compare_with_teacher(metrics, test, teacher_scores)
    report = sparsity_report(inner)
    evals = [h for h in trainer.state.log_history if "eval_accuracy" in h]
    metrics.update(
        validation={k.removeprefix("eval_"): v for k, v in (evals[-1] if evals else {}).items()},
        test=dict(test),
        sparsity=report["overall"],
        pruning_schedule=callback.schedule(),
        history=trainer.state.log_history,
    )
    return inner, test, metrics, report


def _final_test(
    trainer: CompressTrainer, inner: Any, callback: RecipeCallback, test_ds: Any, metrics: dict
) -> tuple[Any, Evaluation]:
    """The final model and its test metrics; after QAT, the converted model's (the
    fake-quant and PyTorch dynamic int8 figures go into ``metrics``)."""
    test_ds = test_ds.sorted_by_length()
    test = predict_metrics(trainer, test_ds)
    if not callback.qat_started:
        return inner, test
    from .quantize import convert_qat, quantize_dynamic_int8

    metrics["test_qat_fake_quant"] = dict(test)
    inner = convert_qat(inner)
    trainer.model = inner
    test = predict_metrics(trainer, test_ds)
    if len(test_ds) and inner.device.type == "cpu":
        # the int8 figure: PyTorch dynamic int8 (weights and per-batch activations)
        trainer.model = quantize_dynamic_int8(inner)
        metrics["test_int8_dynamic"] = dict(predict_metrics(trainer, test_ds))
        trainer.model = inner
    return inner, test


def _compare_with_teacher(metrics: dict, test: Evaluation, teacher_scores: dict) -> None:
    metrics["teacher"] = teacher_scores  # what the student is held to, on the same splits
    if (recovery := _recovery(test, teacher_scores)) is not None:
        metrics["recovery"] = recovery
        log.info(
            "teacher test accuracy %.2f%%, student %.2f%%: recovery %.1f%%",
            100 * teacher_scores["test"],
            100 * test["accuracy"],
            100 * recovery,
        )


def _teacher_info(teacher: Teacher, scores: dict[str, float]) -> dict[str, Any]:
    return {**teacher_meta(teacher), **{f"{k}_accuracy": v for k, v in scores.items()}}


def _meta(
    config: CompressConfig,
    recipe: Recipe,
    metrics: dict,
    structure: dict | None,
    qat: bool,
    teacher: dict | None,
    splits: DataSplits,
) -> dict[str, Any]:
    """What the output's phalanx.json records about the run."""
    return {
        "input_template": config.input_template,
        "max_length": config.max_length,
        "metrics": {k: metrics[k] for k in ("validation", "test", "sparsity", "steps")},
        "compress": {
            "recipe": Path(config.recipe).name,
            "config": config.to_dict(),
            "structure": structure,
            "qat": qat,
            "teacher": teacher,
        },
        "dataset": {
            "source": config.dataset,
            "checksums": splits.checksums,
            # the defaults of classify / evaluate / export --calibration on this model
            "columns": {
                "text": config.text_column,
                "text_pair": None,
                "label": config.label_column,
            },
        },
    }


def inner_model(model: Any) -> Any:
    """The transformers model inside a SpaRTA wrapper (or the model itself)."""
    from ..methods.sparta import SpaRTAModel

    return model.model if isinstance(model, SpaRTAModel) else model


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


def _save(config: CompressConfig, model, inner, tokenizer, output: Path, meta: dict, smod) -> None:
    """An adapter over the student base (methods that keep the base frozen), a pruned-folder
    model (heads / neurons removed) or the model itself."""
    method = get_method(config.method)
    base = base_model_id(config.model)
    if method.frozen_base:
        meta["base_model"] = base
        method.save(model, output, base_model=base, meta=meta, overwrite=True)
    elif smod is not None:
        from ..methods.full import save_pruned

        meta["base_model"] = base
        save_pruned(inner, tokenizer, output, meta, overwrite=True)
    else:
        method.save(inner, output, base_model=base, meta=meta, overwrite=True)
        tokenizer.save_pretrained(str(output))
