"""Knowledge distillation: the loss, and teacher logits from any classifier phalanx can load.

The teacher runs once, in eval mode, over the training texts (with its own tokenizer,
template and truncation) before training starts; its logits travel with each batch. A
teacher in eval mode gives the same logits every epoch, so this is exact and saves one
teacher forward per step.

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

__all__ = ["Teacher", "distillation_loss", "load_teacher"]

log = logging.getLogger("phalanx.compress")


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    hardness: float,
    temperature: float,
) -> torch.Tensor:
    """hardness * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - hardness) * CE(s, labels).

    KL is averaged over the batch; T^2 keeps its gradient scale independent of T (Hinton
    et al., 2015), as SparseML's DistillationModifier does.
    """
    s = student_logits.float()
    t = teacher_logits.float().to(s.device)
    kl = F.kl_div(
        F.log_softmax(s / temperature, dim=-1),
        F.log_softmax(t / temperature, dim=-1),
        reduction="batchmean",
        log_target=True,
    )
    loss = hardness * temperature**2 * kl
    if hardness < 1.0:
        loss = loss + (1.0 - hardness) * F.cross_entropy(s, labels)
    return loss


class Teacher:
    """Logits of a teacher classifier over raw texts (batched, no grad)."""

    def __init__(self, source: str, labels: list[str], logits_fn: Any):
        self.source, self.labels, self._logits = source, labels, logits_fn

    @torch.no_grad()
    def logits(self, texts: Sequence[Any], batch_size: int = 64) -> torch.Tensor:
        return self._logits(list(texts), batch_size).float().cpu()


def load_teacher(source: str, labels: Sequence[str], device: str = "cpu") -> Teacher:
    """A phalanx folder (any method: ``load_classifier``), a run folder, or an HF model.

    Several sources, comma-separated, make an ensemble whose logits are the members' mean
    (an ensemble of fine-tunes is usually a better teacher than any one of them).
    The teacher's labels must be the student's, in the same order (generic ``LABEL_i``
    names of a Hub model count as matching when their number agrees).
    """
    labels = list(labels)
    members = [s.strip() for s in source.split(",")]
    if len(members) > 1:
        if not all(members):
            raise ValueError(f"teacher {source!r} has an empty member; separate folders by ','")
        teachers = [load_teacher(m, labels, device) for m in members]

        def mean_logits(texts: list[str], batch_size: int) -> torch.Tensor:
            return torch.stack([t.logits(texts, batch_size) for t in teachers]).mean(0)

        return Teacher(source, labels, mean_logits)
    from ..folder import META_FILE

    path = Path(source).expanduser()
    if path.is_dir() and not (path / META_FILE).is_file() and (path / "adapter").is_dir():
        path = path / "adapter"  # a phalanx run folder
    if path.is_dir() and (path / META_FILE).is_file():
        from ..inference.classifier import load_classifier

        clf = load_classifier(path, device=device)
        _check_labels(source, list(clf.labels), labels, generic_ok=False)
        return Teacher(str(path), list(clf.labels), clf.logits)
    return _hf_teacher(source, labels, device)


def _hf_teacher(source: str, labels: list[str], device: str) -> Teacher:
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

    return Teacher(source, labels, logits)


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
    if "," in teacher.source:
        info["ensemble"] = [s.strip() for s in teacher.source.split(",")]
        return info
    from ..folder import read_meta

    meta = read_meta(teacher.source)
    if meta:
        info["method"] = meta.get("method")
    return info
