"""``compress(config)``: recipe -> (pruned) student + teacher -> HF Trainer -> model folder.

Single-label, multi-label and regression data alike (``problem_type``, as ``train``): the
student trains with the problem's targets and loss, multi-label thresholds are tuned on
validation after training, and phalanx.json records the problem.

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

from ..assets import resolve_model
from ..data import DataSplits
from ..folder import write_json
from ..folder.card import portable_config
from ..inference.metrics import Evaluation
from ..models.loading import load_base_classifier, load_tokenizer
from ..problems import Problem
from ..registry import get_method
from ..training.inputs import PadCollator
from ..training.setup import (
    apply_method,
    base_model_id,
    load_splits,
    loss_function,
    predict_metrics,
    problem_for,
    tokenize_splits,
    training_arguments,
    tune_problem,
)
from ..training.trainer import EpochReport, metrics_for
from .callbacks import CompressTrainer, RecipeCallback, steps_per_epoch
from .checks import check_compress_output, check_method
from .config import CompressConfig
from .modifiers import (
    SetWeightDecayModifier,
    StructuredPruningModifier,
)
from .prune import sparsity_report
from .recipe import Recipe, load_recipe
from .teaching import (
    TeacherCollator,
    compare_with_teacher,
    distillation_data,
    recovery,
    teacher_info,
)

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
    teacher: dict[str, Any] = field(default_factory=dict)
    """The teacher on the splits: its accuracy per split (single_label), else a dict of
    its metrics per split."""
    history: list[dict[str, Any]] = field(default_factory=list, repr=False)
    problem: Problem = field(default_factory=Problem)
    """What the model predicts, with its tuned thresholds / target scale (saved with it)."""
    model: Any = field(default=None, repr=False)
    tokenizer: Any = field(default=None, repr=False)

    @property
    def recovery(self) -> float | None:
        """The student's test accuracy as a fraction of the teacher's (single_label; None
        without a teacher)."""
        return recovery(self.test, self.teacher)


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


def _run(config: CompressConfig, recipe: Recipe, tcfg, args, output: Path) -> CompressResult:
    from transformers import set_seed

    set_seed(config.seed)
    splits = load_splits(tcfg)
    problem = problem_for(tcfg, splits)
    labels = list(splits.label_names)
    smod = recipe.one(StructuredPruningModifier)
    model, tokenizer, datasets, structure = _student(config, tcfg, splits, smod, problem)
    # before the teacher's pass: bad pruning params fail fast
    n_train = len(datasets["train"]) * (1 + config.distill_augment)
    spe = steps_per_epoch(n_train, config.batch_size, 1, args.world_size)
    callback = RecipeCallback(recipe, inner_model(model), spe)
    teacher, train_ds, teacher_scores = None, datasets["train"], {}
    if recipe.distillation is not None:
        teacher, train_ds, teacher_scores = distillation_data(
            config, splits, train_ds, tokenizer, problem
        )
    validation = datasets["validation"].sorted_by_length()
    trainer = CompressTrainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=validation,
        data_collator=TeacherCollator(PadCollator(tokenizer)),
        compute_metrics=metrics_for(problem, labels),
        callbacks=[EpochReport(problem.type), callback],
        loss_fn=loss_function(tcfg, problem, splits),
        recipe=recipe,
        steps_per_epoch=spe,
        problem_type=problem.type,
    )
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    callback.apply_masks()
    problem = _tuned(tcfg, trainer, validation, problem)
    scores = None if teacher is None else teacher_scores
    inner, test, metrics, report = _evaluate(
        trainer, model, callback, datasets, scores, seconds, problem, labels
    )
    info = None if teacher is None else teacher_info(teacher, teacher_scores)
    meta = _meta(config, recipe, metrics, structure, callback.qat_started, info, splits, problem)
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
        problem=problem,
        model=inner,
        tokenizer=tokenizer,
    )


def _tuned(tcfg, trainer: CompressTrainer, validation: Any, problem: Problem) -> Problem:
    """Multi-label thresholds set as ``train`` sets them (a fixed value, or tuned on the
    validation split; 0.5 without one); other problems as they are."""
    if problem.type != "multi_label" or len(validation):
        return tune_problem(tcfg, trainer, validation, problem)
    from ..problems.thresholds import threshold_setting

    setting = threshold_setting(tcfg.thresholds)
    if isinstance(setting, float):
        return Problem("multi_label", thresholds=(setting,))
    log.warning("no validation examples to tune the multi-label thresholds on: 0.5 it is")
    return problem


def _student(config: CompressConfig, tcfg, splits: DataSplits, smod, problem: Problem):
    """The student under the method (structurally pruned first when the recipe says so), its
    tokenizer, the tokenized splits (the problem's targets) and the structured-pruning
    report (or None)."""
    base = load_base_classifier(
        config.model, dict(enumerate(splits.label_names)), device="cpu", problem_type=problem.type
    )
    tokenizer = load_tokenizer(config.model, base, max_length=config.max_length)
    datasets = tokenize_splits(tcfg, splits, tokenizer, problem)
    structure = None
    if smod is not None:
        structure = _prune_structured(base, smod, datasets["train"], tokenizer)
    return apply_method(tcfg, base), tokenizer, datasets, structure


def _evaluate(
    trainer: CompressTrainer,
    model: Any,
    callback: RecipeCallback,
    datasets: dict[str, Any],
    teacher_scores: dict[str, Any] | None,
    seconds: float,
    problem: Problem,
    labels: list[str],
) -> tuple[Any, Evaluation, dict[str, Any], dict[str, Any]]:
    """The final model, its test metrics, the run's metrics.json and its sparsity report."""
    metrics: dict[str, Any] = {
        "steps": trainer.state.global_step,
        "train_seconds": round(seconds, 1),
    }
    inner, test = _final_test(
        trainer, inner_model(model), callback, datasets["test"], metrics, problem, labels
    )
    if teacher_scores is not None:
        compare_with_teacher(metrics, test, teacher_scores)
    report = sparsity_report(inner)
    evals = [h for h in trainer.state.log_history if "eval_loss" in h]
    metrics.update(
        validation={k.removeprefix("eval_"): v for k, v in (evals[-1] if evals else {}).items()},
        test=dict(test),
        sparsity=report["overall"],
        pruning_schedule=callback.schedule(),
        history=trainer.state.log_history,
    )
    return inner, test, metrics, report


def _final_test(
    trainer: CompressTrainer,
    inner: Any,
    callback: RecipeCallback,
    test_ds: Any,
    metrics: dict,
    problem: Problem,
    labels: list[str],
) -> tuple[Any, Evaluation]:
    """The final model and its test metrics; after QAT, the converted model's (the
    fake-quant and PyTorch dynamic int8 figures go into ``metrics``)."""
    test_ds = test_ds.sorted_by_length()
    test = predict_metrics(trainer, test_ds, labels, problem)
    if not callback.qat_started:
        return inner, test
    from .quantize import convert_qat, quantize_dynamic_int8

    metrics["test_qat_fake_quant"] = dict(test)
    inner = convert_qat(inner)
    trainer.model = inner
    test = predict_metrics(trainer, test_ds, labels, problem)
    if len(test_ds) and inner.device.type == "cpu":
        # the int8 figure: PyTorch dynamic int8 (weights and per-batch activations)
        trainer.model = quantize_dynamic_int8(inner)
        metrics["test_int8_dynamic"] = dict(predict_metrics(trainer, test_ds, labels, problem))
        trainer.model = inner
    return inner, test


def _meta(
    config: CompressConfig,
    recipe: Recipe,
    metrics: dict,
    structure: dict | None,
    qat: bool,
    teacher: dict | None,
    splits: DataSplits,
    problem: Problem,
) -> dict[str, Any]:
    """What the output's phalanx.json records about the run: the problem (type,
    thresholds, target scale), template, metrics, the compression, the data."""
    columns: dict[str, Any] = {
        "text": config.text_column,
        "text_pair": None,
        "label": config.label_column,
    }
    if problem.type == "multi_label":
        columns.update(label_columns=config.label_columns, label_separator=config.label_separator)
    return {
        "problem": problem.to_meta(),
        "input_template": config.input_template,
        "max_length": config.max_length,
        "metrics": {k: metrics[k] for k in ("validation", "test", "sparsity", "steps")},
        "compress": {
            "recipe": Path(config.recipe).name,
            "config": portable_config(config.to_dict()),  # no absolute output path
            "structure": structure,
            "qat": qat,
            "teacher": teacher,
        },
        "dataset": {
            "source": config.dataset,
            "checksums": splits.checksums,
            # the defaults of classify / evaluate / export --calibration on this model
            "columns": columns,
        },
    }


def inner_model(model: Any) -> Any:
    """The transformers model inside a SpaRTA wrapper (or the model itself)."""
    from ..methods.sparta import SpaRTAModel

    return model.model if isinstance(model, SpaRTAModel) else model


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
