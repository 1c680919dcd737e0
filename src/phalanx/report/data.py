"""What a report is about, found and scored once: the model folder, its history, its data.

``find_subject(path)`` says what a path is (adapter, run or export folder, by
``phalanx.folder.resolve_folder``), where its ``metrics.json`` lies (a run folder, or the run
an ``adapter/`` sits in) and what ``phalanx info`` says about it. ``score_subject`` loads the
model with ``load_classifier``, reads the labelled examples (by default the test split of
the dataset the model was trained on, as ``phalanx evaluate --split test`` carves it) and
scores them once: logits, scores, the truth and the ``Evaluation`` that ``clf.evaluate``
gives (``phalanx.problems.metrics.evaluation_for``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, shown
from ..metric_names import Evaluation

__all__ = ["RUN_METRICS_FILE", "Scored", "Subject", "find_subject", "read_history", "score_subject"]

log = logging.getLogger("phalanx.report")

RUN_METRICS_FILE = "metrics.json"
"""What ``phalanx train`` writes beside ``adapter/``: test and validation figures, history."""


@dataclass
class Subject:
    """A model folder to report on."""

    given: str
    """The path as the caller gave it."""
    kind: str
    """``adapter`` or ``export``."""
    path: Path
    """The folder ``load_classifier`` reads (a run's ``adapter/``, or the export)."""
    run: Path | None
    """The folder holding the run's ``metrics.json``, when there is one."""
    info: dict[str, Any] = field(default_factory=dict)
    """What ``phalanx info --json`` prints for the folder."""

    @property
    def name(self) -> str:
        """How tables and file names call it: the run folder's name, else the folder's."""
        folder = self.run or self.path
        return folder.resolve().name or "model"


def find_subject(path: str | Path) -> Subject:
    """What ``path`` is (adapter, run or export folder) and where its history lies."""
    from ..folder import adapter_info, resolve_folder

    found = resolve_folder(path)
    run = found.run
    if run is None and found.kind == "adapter":
        parent = found.path.resolve().parent
        if found.path.resolve().name == "adapter" and (parent / RUN_METRICS_FILE).is_file():
            run = parent  # runs/NAME/adapter given: its run is runs/NAME
    if found.kind == "export":
        from ..export.format import export_info

        info = export_info(found.path)
    else:
        info = adapter_info(found.path)
    return Subject(str(path), found.kind, found.path, run, info)


def read_history(subject: Subject) -> tuple[dict[str, Any] | None, str | None]:
    """The run's ``metrics.json`` (None when there is none to read) and, then, why not."""
    if subject.run is None:
        if subject.kind == "export":
            return None, (
                f"no training curves: {subject.given} is an export folder, which keeps no "
                f"training history (report on the run folder it came from for them)"
            )
        return None, (
            f"no training curves: {subject.given} is an adapter folder outside a run folder "
            f"(no {RUN_METRICS_FILE} beside it holds a training history)"
        )
    file = subject.run / RUN_METRICS_FILE
    if not file.is_file():
        return None, f"no training curves: {subject.run} holds no {RUN_METRICS_FILE}"
    try:
        metrics = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as err:
        return None, f"no training curves: {file} is unreadable ({type(err).__name__})"
    history = metrics.get("history") if isinstance(metrics, dict) else None
    if not isinstance(history, list) or not any(
        isinstance(h, dict) and "eval_loss" in h for h in history
    ):
        return None, f"no training curves: {file} records no evaluation in its history"
    return metrics, None


@dataclass
class Scored:
    """The labelled examples and the model's outputs on them, computed once."""

    problem: Any
    """The model's ``phalanx.problems.Problem``."""
    labels: list[str]
    texts: list[str]
    """One shown text per example (``text | pair`` for sentence pairs)."""
    logits: np.ndarray
    scores: np.ndarray
    """``problem.scores(logits)``: probabilities (softmax / sigmoids) or values [N, C]."""
    truth: np.ndarray
    """Class ids [N], multi-hot rows [N, C] or float targets [N]."""
    evaluation: Evaluation
    """What ``clf.evaluate`` returns on the same examples."""
    data: Any
    """The ``phalanx.inference.files.EvaluationData`` scored."""
    dataset: str
    """The dataset as it was read (the training data's path resolved when recorded relative)."""


@dataclass
class _DataView:
    """What ``evaluation_data`` reads of a classifier, with the training data's recorded path
    replaced by where it was found (so its test split is carved as in training)."""

    meta: dict[str, Any]
    labels: list[str]
    adapter: str
    problem: Any
    template: str | None


def _recorded_dataset(meta: dict[str, Any]) -> str | None:
    dataset = meta.get("dataset") if isinstance(meta.get("dataset"), dict) else {}
    training = meta.get("training") if isinstance(meta.get("training"), dict) else {}
    source = dataset.get("source") or training.get("dataset")
    return source if isinstance(source, str) and source else None


def _training_folder(subject: Subject, output: Any) -> Path | None:
    """The working folder training ran in, read off a relative ``output`` (runs/NAME) that
    the run folder's path ends with."""
    if not isinstance(output, str) or not output or Path(output).is_absolute():
        return None
    parts = Path(output).parts
    for folder in (subject.run, subject.path, subject.path.parent):
        if folder is None:
            continue
        full = folder.resolve().parts
        if len(full) > len(parts) and full[-len(parts) :] == parts:
            return Path(*full[: -len(parts)])
    return None


def _default_dataset(clf: Any, subject: Subject) -> tuple[str, Any]:
    """The training run's dataset, and the classifier view to read it through."""
    meta = getattr(clf, "meta", None) or {}
    source = _recorded_dataset(meta)
    if source is None:
        raise InputError(
            f"{subject.given} records no training dataset; give the data to report on with "
            "--dataset (dataset=)"
        )
    if Path(source).expanduser().exists():
        return source, clf
    training = meta.get("training") if isinstance(meta.get("training"), dict) else {}
    base = _training_folder(subject, training.get("output"))
    if base is None or not (base / source).exists():
        return source, clf  # a built-in or Hub name, or missing: load_data says which
    found = str(base / source)
    log.info("the training data %s was found at %s", source, found)
    view_meta = {**meta, "training": {**training, "dataset": found}}
    return found, _DataView(view_meta, clf.labels, clf.adapter, clf.problem, clf.template)


def _label_mismatch(clf: Any, dataset: str, label_column: str | None) -> InputError | None:
    """For a single-label data file: an error naming every label value of the file that is
    no label of the model (None when they all are, or the file cannot say)."""
    from ..data import read_table
    from ..data.labels import label_ids, label_text
    from ..inference.files import model_columns

    if clf.problem.type != "single_label" or not Path(dataset).expanduser().is_file():
        return None
    try:
        table = read_table(dataset)
    except (OSError, ValueError):
        return None
    column = model_columns(clf, label_column=label_column)["label"] or "label"
    values = dict.fromkeys(label_text(v) for v in table.get(column, []))
    unknown = []
    for text in values:
        try:
            label_ids([text], clf.labels)
        except InputError:
            unknown.append(text)
    if not unknown:
        return None
    return InputError(
        f"the labels of {dataset} (column {column!r}) do not match the model's: "
        f"{shown(unknown)} {'is' if len(unknown) == 1 else 'are'} not among the labels "
        f"{shown(clf.labels)} of {clf.adapter}; report on data labelled with the model's labels"
    )


def score_subject(
    clf: Any,
    subject: Subject,
    *,
    dataset: str | None = None,
    split: str | None = None,
    limit: int | None = None,
    batch_size: int | None = None,
    **columns: Any,
) -> Scored:
    """Read the labelled examples and score them once (see the module docstring).

    ``dataset``: default the training run's (its ``split`` default ``test``); a given
    dataset's ``split`` defaults as ``phalanx evaluate``'s (a single file is read whole).
    ``columns``: ``text_column``, ``text_pair_column``, ``label_column``, ``label_columns``,
    ``label_separator`` (default: the training run's).
    """
    from ..inference.files import default_split, evaluation_data

    if dataset is None:
        dataset, view = _default_dataset(clf, subject)
        split = split or "test"
    else:
        view, split = clf, split or default_split(dataset)
    try:
        data = evaluation_data(view, dataset, split=split, limit=limit, **columns)
    except InputError as err:
        raise _label_mismatch(clf, dataset, columns.get("label_column")) or err from None
    log.info("scoring %d examples (%s) with %s", len(data.texts), data.what, subject.given)
    logits = _logits(clf, data, batch_size)
    truth = _truth(clf, data)
    evaluation = _evaluation(clf, logits, truth)
    texts = data.texts
    if data.pairs is not None:
        texts = [f"{t} | {p}" for t, p in zip(data.texts, data.pairs, strict=True)]
    scores = np.asarray(clf.problem.scores(logits).numpy(), dtype=np.float64)
    return Scored(
        problem=clf.problem,
        labels=list(clf.labels),
        texts=list(texts),
        logits=logits.numpy().astype(np.float64),
        scores=scores,
        truth=np.asarray(truth),
        evaluation=evaluation,
        data=data,
        dataset=dataset,
    )


def _logits(clf: Any, data: Any, batch_size: int | None) -> Any:
    """fp32 logits [N, C] as ``phalanx evaluate`` computes them (pairs through the template,
    or tokenized as pairs without one)."""
    from ..data.templates import pair_items

    if data.pairs is None:
        return clf.logits(data.texts, batch_size)
    if clf.template is not None:
        return clf.logits(pair_items(clf.template, data.texts, data.pairs), batch_size)
    return clf._pair_logits(data.texts, data.pairs, batch_size)


def _truth(clf: Any, data: Any) -> np.ndarray:
    """Class ids, multi-hot rows in the model's label order, or float targets."""
    kind = clf.problem.type
    if kind == "single_label":
        return clf._label_ids(data.labels).numpy()
    if kind == "regression":
        return np.asarray([float(v) for v in data.labels], dtype=np.float64)
    index = {name: i for i, name in enumerate(clf.labels)}
    rows = np.zeros((len(data.labels), len(index)), dtype=np.int64)
    for row, names in zip(rows, data.labels, strict=True):
        for name in names:
            row[index[name]] = 1
    return rows


def _evaluation(clf: Any, logits: Any, truth: np.ndarray) -> Evaluation:
    """The figures ``clf.evaluate`` gives for these logits and labels."""
    import torch

    from ..problems.metrics import evaluation_for, evaluation_from_logits

    if clf.problem.type == "single_label":
        return evaluation_from_logits(logits, torch.from_numpy(truth), clf.labels)
    return evaluation_for(clf.problem, logits, truth.tolist(), clf.labels)
