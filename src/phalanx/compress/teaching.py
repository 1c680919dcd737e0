"""Distillation data for ``compress``: the teacher's outputs on the training texts (and on
augmented copies it labels), and the teacher's own metrics on the run's splits.

The teacher's problem type must be the data's. Its outputs travel with each batch under
``TEACHER_KEY``: logits (single_label, multi_label) or its values normalised like the
student's targets (regression, ``soft_targets``). Its metrics are those of the problem
type: accuracy (single_label, as before), else the scalar metrics of ``evaluation_for``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import torch

from ..data import DataSplits, TextDataset
from ..inference.metrics import Evaluation, evaluation_from_logits
from ..problems import Problem
from ..training.inputs import PadCollator, TokenizedDataset, tokenize_split
from ..training.setup import training_targets
from .augment import augment_texts
from .callbacks import TEACHER_KEY
from .config import CompressConfig
from .distill import Teacher, load_teacher, soft_targets, teacher_labels, teacher_meta

__all__ = [
    "TeacherCollator",
    "WithTeacher",
    "compare_with_teacher",
    "distillation_data",
    "recovery",
    "score_teacher",
    "teacher_info",
]

log = logging.getLogger("phalanx.compress")

#: the teacher metrics phalanx.json records per problem type (all go into metrics.json)
HEADLINE = {
    "multi_label": ("micro_f1", "macro_f1", "subset_accuracy", "mean_average_precision"),
    "regression": ("mse", "mae", "pearson", "spearman"),
}


class WithTeacher(torch.utils.data.Dataset):
    """Training items with the teacher's output for each one."""

    def __init__(self, base: Any, logits: torch.Tensor):
        self.base, self.logits = base, logits

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {**self.base[i], TEACHER_KEY: self.logits[i]}


class TeacherCollator:
    """PadCollator for the token columns; teacher outputs (when present) are stacked."""

    def __init__(self, pad: PadCollator):
        self.pad = pad

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        teacher = [it.pop(TEACHER_KEY) for it in items if TEACHER_KEY in it]
        batch = self.pad(items)
        if teacher:
            batch[TEACHER_KEY] = torch.stack(teacher)
        return batch


def distillation_data(
    config: CompressConfig,
    splits: DataSplits,
    train_ds: TokenizedDataset,
    tokenizer: Any,
    problem: Problem,
) -> tuple[Teacher, WithTeacher, dict[str, Any]]:
    """The teacher, the training set with its outputs (plus augmented copies), and the
    teacher's metrics on the validation and test splits."""
    teacher = load_teacher(
        config.teacher, list(splits.label_names), device="cpu", problem_type=problem.type
    )
    start = time.perf_counter()
    logits = teacher.logits(splits.train.texts, batch_size=config.eval_batch_size)
    if config.distill_augment:
        train_ds, logits = _augmented(config, splits, train_ds, logits, teacher, tokenizer, problem)
    log.info(
        "teacher %s: logits of %d training texts in %.0f s",
        config.teacher,
        len(logits),
        time.perf_counter() - start,
    )
    scores = score_teacher(teacher, splits, config.eval_batch_size)
    return teacher, WithTeacher(train_ds, soft_targets(teacher, logits, problem)), scores


def _augmented(
    config: CompressConfig,
    splits: DataSplits,
    tokenized: TokenizedDataset,
    logits: torch.Tensor,
    teacher: Teacher,
    tokenizer: Any,
    problem: Problem,
) -> tuple[TokenizedDataset, torch.Tensor]:
    """Originals plus ``distill_augment`` teacher-labelled variants of each training text."""
    texts = splits.train
    if texts.pairs is not None:
        raise ValueError(
            "distill_augment crops single texts; this dataset has text pairs: set it to 0"
        )
    extra = augment_texts(texts.texts, config.distill_augment, seed=config.seed)
    extra_logits = teacher.logits(extra, batch_size=config.eval_batch_size)
    # the hard-label part of the loss (hardness < 1) follows the teacher on the variants:
    # its argmax, its labels at or above its thresholds, or its values
    labelled = TextDataset(extra, teacher_labels(teacher, extra_logits))
    targets = None
    if problem.type != "single_label":
        targets = training_targets(problem, labelled, splits.num_labels)
    extra_ds = tokenize_split(
        labelled, tokenizer, config.input_template, config.max_length, targets
    )
    features = {k: v + extra_ds.features[k] for k, v in tokenized.features.items()}
    merged = TokenizedDataset(features, tokenized.labels + extra_ds.labels)
    return merged, torch.cat([logits, extra_logits])


def score_teacher(teacher: Teacher, splits: DataSplits, batch_size: int) -> dict[str, Any]:
    """The teacher on this run's validation and test splits (empty ones skipped): its
    accuracy (single_label), else a dict of its scalar metrics per split."""
    scores: dict[str, Any] = {}
    for name in ("validation", "test"):
        split = getattr(splits, name)
        if len(split.texts):
            logits = teacher.logits(split.texts, batch_size=batch_size)
            if teacher.problem.type == "single_label":
                ev = evaluation_from_logits(logits, torch.tensor(split.labels))
                scores[name] = ev["accuracy"]
            else:
                scores[name] = _problem_scores(teacher, logits, split, splits.num_labels)
    return scores


def _problem_scores(
    teacher: Teacher, logits: torch.Tensor, split: TextDataset, num_labels: int
) -> dict[str, float]:
    from ..problems.metrics import evaluation_for

    if teacher.problem.type == "multi_label":
        from ..data.targets import multi_hot

        labels: Any = multi_hot(split.labels, num_labels)
    else:
        labels = [float(y) for y in split.labels]
    ev = evaluation_for(teacher.problem, logits, labels, teacher.labels)
    return {
        k: float(v)
        for k, v in ev.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and k != "n"
    }


def teacher_info(teacher: Teacher, scores: dict[str, Any]) -> dict[str, Any]:
    """What phalanx.json records about the teacher: its source and labels, and its
    ``<split>_accuracy`` (single_label) or ``<split>_<metric>`` of the headline metrics."""
    info = teacher_meta(teacher)
    if teacher.problem.type == "single_label":
        return {**info, **{f"{k}_accuracy": v for k, v in scores.items()}}
    keys = HEADLINE[teacher.problem.type]
    for split, values in scores.items():
        info.update({f"{split}_{k}": values[k] for k in keys if k in values})
    return info


def recovery(test: Evaluation, teacher: dict[str, Any]) -> float | None:
    """The student's test accuracy as a fraction of the teacher's (single_label; None
    without a teacher or for other problem types)."""
    # the sparse-model literature's figure: what the student keeps of its teacher's accuracy
    score = teacher.get("test")
    if isinstance(score, dict) or not score or "accuracy" not in test:
        return None
    return test["accuracy"] / score


def compare_with_teacher(metrics: dict, test: Evaluation, teacher_scores: dict) -> None:
    """The teacher's metrics (and the student's recovery) into the run's metrics."""
    metrics["teacher"] = teacher_scores  # what the student is held to, on the same splits
    if (kept := recovery(test, teacher_scores)) is not None:
        metrics["recovery"] = kept
        log.info(
            "teacher test accuracy %.2f%%, student %.2f%%: recovery %.1f%%",
            100 * teacher_scores["test"],
            100 * test["accuracy"],
            100 * kept,
        )
