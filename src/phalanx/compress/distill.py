"""Knowledge distillation: the loss, and teacher logits from any classifier phalanx can load.

The teacher runs once, in eval mode, over the training texts (with its own tokenizer,
template and truncation) before training starts; its logits travel with each batch. A
teacher in eval mode gives the same logits every epoch, so this is exact and saves one
teacher forward per step.

Per problem type (the teacher's must be the data's):

- single_label: ``hardness * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - hardness) * CE``;
- multi_label: ``hardness * T^2 * mean BCE(s/T, sigmoid(t/T)) + (1 - hardness) * BCE(s, y)``;
- regression: ``hardness * MSE(s, t) + (1 - hardness) * MSE(s, y)``, where ``t`` is the
  teacher's value (data units) normalised by the student's ``target_scale``
  (``soft_targets``).

Example:
    >>> s, t = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    >>> round(float(distillation_loss(s, t, torch.tensor([0]), 0.5, 2.0)), 4)
    0.6092
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import InputError
from ..problems import Problem

__all__ = ["Teacher", "distillation_loss", "load_teacher", "soft_targets", "teacher_labels"]

log = logging.getLogger("phalanx.compress")


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    hardness: float,
    temperature: float,
    problem_type: str = "single_label",
    hard_loss: Any = None,
) -> torch.Tensor:
    """hardness * soft loss + (1 - hardness) * hard loss, for ``problem_type`` (see the
    module docstring); ``teacher_logits`` of regression are ``soft_targets``.

    single_label's KL is averaged over the batch; T^2 keeps the soft gradient's scale
    independent of T (Hinton et al., 2015), as SparseML's DistillationModifier does.
    ``hard_loss(logits, labels)``: the training loss (default CE / BCE / MSE by type).
    """
    s = student_logits.float()
    t = teacher_logits.float().to(s.device)
    if problem_type == "single_label":
        soft = temperature**2 * F.kl_div(
            F.log_softmax(s / temperature, dim=-1),
            F.log_softmax(t / temperature, dim=-1),
            reduction="batchmean",
            log_target=True,
        )
    elif problem_type == "multi_label":
        soft = temperature**2 * F.binary_cross_entropy_with_logits(
            s / temperature, torch.sigmoid(t / temperature)
        )
    else:
        soft = F.mse_loss(s, t.view_as(s))
    loss = hardness * soft
    if hardness < 1.0:
        hard = _hard_loss(s, labels, problem_type) if hard_loss is None else hard_loss(s, labels)
        loss = loss + (1.0 - hardness) * hard
    return loss


def _hard_loss(s: torch.Tensor, labels: torch.Tensor, problem_type: str) -> torch.Tensor:
    if problem_type == "single_label":
        return F.cross_entropy(s, labels)
    if problem_type == "multi_label":
        return F.binary_cross_entropy_with_logits(s, labels.float())
    return F.mse_loss(s, labels.float().view_as(s))


def soft_targets(teacher: Teacher, logits: torch.Tensor, problem: Problem) -> torch.Tensor:
    """What the student's soft loss compares with: the teacher's logits (classification),
    or its values [N, 1] in the data's units normalised by the student's ``target_scale``
    (regression: the student trains on normalised targets)."""
    if problem.type != "regression":
        return logits
    values = teacher.problem.scores(logits.float()).reshape(len(logits), -1)[:, :1]
    if problem.target_scale is not None:
        mean, std = problem.target_scale
        values = (values - mean) / std
    return values.float()


def teacher_labels(teacher: Teacher, logits: torch.Tensor) -> list[Any]:
    """The teacher's decisions as dataset labels: class ids (argmax), sorted tuples of the
    class ids at or above its thresholds (multi_label), or its values (regression)."""
    problem = teacher.problem
    if problem.type == "single_label":
        return logits.argmax(-1).tolist()
    scores = problem.scores(logits.float())
    if problem.type == "regression":
        return [float(v) for v in scores.reshape(len(scores), -1)[:, 0].tolist()]
    ts = problem.threshold_vector(scores.shape[-1])
    return [
        tuple(i for i, (p, t) in enumerate(zip(row, ts, strict=True)) if p >= t)
        for row in scores.tolist()
    ]


class Teacher:
    """Logits of a teacher classifier over raw texts (batched, no grad); ``problem`` says
    how they read (its type, thresholds, target scale)."""

    def __init__(
        self, source: str, labels: list[str], logits_fn: Any, problem: Problem | None = None
    ):
        self.source, self.labels, self._logits = source, labels, logits_fn
        self.problem = problem or Problem()

    @torch.no_grad()
    def logits(self, texts: Sequence[Any], batch_size: int = 64) -> torch.Tensor:
        return self._logits(list(texts), batch_size).float().cpu()


def load_teacher(
    source: str, labels: Sequence[str], device: str = "cpu", problem_type: str | None = None
) -> Teacher:
    """A phalanx folder (any method: ``load_classifier``), a run folder, or an HF model.

    Several sources, comma-separated, make an ensemble whose logits are the members' mean
    (an ensemble of fine-tunes is usually a better teacher than any one of them); for
    regression the members' values are averaged (each in the data's units).
    The teacher's labels must be the student's, in the same order (generic ``LABEL_i``
    names of a Hub model count as matching when their number agrees), and its problem
    type ``problem_type`` (the data's) when given.
    """
    labels = list(labels)
    members = [s.strip() for s in source.split(",")]
    if len(members) > 1:
        if not all(members):
            raise ValueError(f"teacher {source!r} has an empty member; separate folders by ','")
        first = _load_one(members[0], labels, device, problem_type)
        # every member is of the data's type, else of the first member's
        against = "the data" if problem_type else f"the first teacher ({members[0]})"
        kind = problem_type or first.problem.type
        others = [_load_one(m, labels, device, kind, against) for m in members[1:]]
        return _ensemble(source, labels, [first, *others])
    return _load_one(source, labels, device, problem_type)


def _load_one(
    source: str, labels: list[str], device: str, wanted: str | None, against: str = "the data"
) -> Teacher:
    """One teacher (not an ensemble); its type must be ``wanted`` (that of ``against``)."""
    from ..folder import META_FILE

    path = Path(source).expanduser()
    if path.is_dir() and not (path / META_FILE).is_file() and (path / "adapter").is_dir():
        path = path / "adapter"  # a phalanx run folder
    if path.is_dir() and (path / META_FILE).is_file():
        from ..inference.classifier import load_classifier

        clf = load_classifier(path, device=device)
        _check_type(source, clf.problem, wanted, against)
        _check_labels(source, list(clf.labels), labels, generic_ok=False)
        return Teacher(str(path), list(clf.labels), clf.logits, clf.problem)
    return _hf_teacher(source, labels, device, wanted, against)


def _ensemble(source: str, labels: list[str], teachers: list[Teacher]) -> Teacher:
    """The members' mean logits (regression: mean values; multi_label: mean thresholds)."""
    problem = teachers[0].problem
    if problem.type == "regression":

        def mean_values(texts: list[str], batch_size: int) -> torch.Tensor:
            values = [t.problem.scores(t.logits(texts, batch_size)) for t in teachers]
            return torch.stack(values).mean(0)

        return Teacher(source, labels, mean_values, Problem("regression"))

    def mean_logits(texts: list[str], batch_size: int) -> torch.Tensor:
        return torch.stack([t.logits(texts, batch_size) for t in teachers]).mean(0)

    if problem.type == "multi_label":
        vectors = torch.tensor([t.problem.threshold_vector(len(labels)) for t in teachers])
        problem = Problem("multi_label", thresholds=tuple(vectors.mean(0).tolist()))
    return Teacher(source, labels, mean_logits, problem)


def _check_type(source: str, problem: Problem, wanted: str | None, against: str) -> None:
    if wanted is not None and problem.type != wanted:
        raise InputError(
            f"teacher {source!r} is a {problem.type} model but {against} is {wanted}; "
            f"distil from {wanted} teachers trained on this data"
        )


def _hf_teacher(
    source: str,
    labels: list[str],
    device: str,
    problem_type: str | None = None,
    against: str = "the data",
) -> Teacher:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ..assets import resolve_model
    from ..folder import CONFIG_FILE, META_FILE
    from ..inference.batching import run_in_batches, token_budget, tokenize
    from ..models.loading import tokenizer_source

    try:
        resolved = resolve_model(source)
    except (FileNotFoundError, InputError) as err:
        raise type(err)(f"cannot load teacher {source!r}: {err}") from None
    path = Path(resolved).expanduser()
    if path.exists() and not (path / CONFIG_FILE).is_file():
        raise FileNotFoundError(
            f"teacher {source!r} is a folder without {META_FILE} or {CONFIG_FILE}; give a "
            "phalanx adapter/run folder, a transformers model folder or a Hub model id"
        )
    try:
        model = AutoModelForSequenceClassification.from_pretrained(resolved).to(device).eval()
        tok = AutoTokenizer.from_pretrained(tokenizer_source(resolved))
    except OSError as err:
        raise FileNotFoundError(f"cannot load teacher {source!r}: {err}") from None
    problem = _hf_problem(model.config)
    _check_type(source, problem, problem_type, against)
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    _check_labels(source, [id2label[i] for i in sorted(id2label)], labels, generic_ok=True)

    def logits(texts: list[str], batch_size: int) -> torch.Tensor:
        if not texts:
            return torch.empty(0, len(labels))
        return run_in_batches(
            tokenize(tok, texts, max_length=None),  # truncated to the model's own limit
            lambda batch: model(**{k: v.to(device) for k, v in batch.items()}).logits.float().cpu(),
            pad_id=tok.pad_token_id,
            padding_side=tok.padding_side,
            batch_size=batch_size,
            max_tokens=token_budget(device),
        )

    return Teacher(source, labels, logits, problem)


def _hf_problem(config: Any) -> Problem:
    """A transformers model's problem: its ``problem_type``, else what transformers infers
    from the head (one output: regression)."""
    if getattr(config, "problem_type", None):
        return Problem(config.problem_type)
    return Problem("regression" if config.num_labels == 1 else "single_label")


def _check_labels(source: str, teacher: list[str], student: list[str], generic_ok: bool) -> None:
    if teacher == student:
        return
    generic = all(str(t).upper() == f"LABEL_{i}" for i, t in enumerate(teacher))
    if generic_ok and generic and len(teacher) == len(student):
        log.warning("teacher %s has generic labels %s; assuming %s", source, teacher, student)
        return
    raise ValueError(
        f"teacher {source!r} predicts labels {teacher} but the data has {student}; "
        "distil from a teacher trained on the same label set (same names, same order)"
    )


def teacher_meta(teacher: Teacher) -> dict[str, Any]:
    """What the output's phalanx.json records about the teacher."""
    info: dict[str, Any] = {"source": teacher.source, "labels": teacher.labels}
    if teacher.problem.type != "single_label":
        info["problem"] = teacher.problem.to_meta()
    if "," in teacher.source:
        info["ensemble"] = [s.strip() for s in teacher.source.split(",")]
        return info
    from ..folder import read_meta

    meta = read_meta(teacher.source)
    if meta:
        info["method"] = meta.get("method")
    return info
