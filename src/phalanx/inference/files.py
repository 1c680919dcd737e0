"""A user's own data with a trained model: classify a file, evaluate on a dataset.

The columns default to those the model's training run read (``phalanx.folder.saved_columns``:
recorded in the adapter's ``phalanx.json`` and in an export's metadata); given ones win, and
a column the file lacks is named with the columns it has. A single file is evaluated whole
unless a split is asked for; a built-in dataset or a folder of split files defaults to its
test split. An evaluation of fewer than ``SMALL_SPLIT`` examples comes with a warning.

Every problem type reads its own labels (``phalanx.data.targets``): a class (single_label),
a list, a delimited text or one 0/1 column per label (multi_label; ``label_columns`` and
``label_separator`` default to the training run's), a number (regression); the model's
label names and problem type read them, so a label outside its set is an error naming the
row. The figures come from ``phalanx.problems.metrics.evaluation_for``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..data.templates import pair_items
from ..errors import InputError
from ..folder import saved_columns
from ..problems import Problem
from .metrics import Evaluation, evaluation_from_logits

__all__ = [
    "EVAL_SPLITS",
    "SMALL_SPLIT",
    "EvaluationData",
    "FileInputs",
    "classify_inputs",
    "default_split",
    "evaluate_dataset",
    "evaluation_data",
    "evaluation_warnings",
    "file_inputs",
    "label_options",
    "model_columns",
    "problem_of",
    "score",
]

log = logging.getLogger(__name__)

EVAL_SPLITS = ("train", "validation", "test", "all")
"""What ``evaluate`` scores: one split, or ``all`` (every row of a file, every split)."""
SMALL_SPLIT = 30
"""Evaluations on fewer examples than this come with a warning naming their number."""


def model_columns(
    clf: Any,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    label_column: str | None = None,
) -> dict[str, str | None]:
    """The ``text`` / ``text_pair`` / ``label`` columns to read: the given ones, else those
    ``clf``'s training run read (None: neither says)."""
    saved = saved_columns(getattr(clf, "meta", None) or {})
    given = {"text": text_column, "text_pair": text_pair_column, "label": label_column}
    return {key: given[key] or saved[key] for key in saved}


def problem_of(clf: Any) -> Problem:
    """``clf.problem`` (single_label for a classifier that has none)."""
    problem = getattr(clf, "problem", None)
    return problem if isinstance(problem, Problem) else Problem()


def label_options(
    clf: Any,
    label_columns: Any = None,
    label_separator: str | None = None,
    label_column: str | None = None,
) -> dict[str, Any]:
    """The multi-label ``label_columns`` (one 0/1 column per label; a list, or names joined
    by commas) and ``label_separator`` to read: the given ones, else the training run's
    (``dataset.columns`` of ``phalanx.json`` / the export's metadata, else its training
    config), else none and ``"|"``. A given ``label_column`` (one column holding the
    labels) sets the training run's label columns aside."""
    meta = getattr(clf, "meta", None) or {}
    dataset = meta.get("dataset") if isinstance(meta.get("dataset"), dict) else {}
    columns = dataset.get("columns") if isinstance(dataset.get("columns"), dict) else {}
    training = meta.get("training") if isinstance(meta.get("training"), dict) else {}

    def saved(key: str) -> Any:
        value = columns.get(key)
        return training.get(key) if value is None else value

    if isinstance(label_columns, str):
        label_columns = [c.strip() for c in label_columns.split(",") if c.strip()]
        if not label_columns:
            raise InputError("--label-columns is empty; name the 0/1 columns, e.g. a,b,c")
    if label_columns is None and label_column is None:
        label_columns = saved("label_columns")
    cols = label_columns
    sep = label_separator if label_separator is not None else saved("label_separator")
    if not isinstance(sep, str) or not sep:
        if label_separator is not None:
            raise InputError(
                f"label separator {label_separator!r} is empty; give the text between labels, "
                "e.g. --label-separator '|'"
            )
        sep = "|"
    return {"label_columns": list(cols) if cols else None, "label_separator": sep}


@dataclass
class FileInputs:
    """A data file's rows, ready for the classifier."""

    items: list[Any]
    """Strings, or dicts of template fields."""
    pairs: list[str] | None
    """Second texts tokenized as pairs (a model trained on pairs without a template)."""
    shown: list[str]
    """One line per row, to print beside its prediction."""


def file_inputs(
    clf: Any,
    path: str | Path,
    *,
    text_column: str | None = None,
    text_pair_column: str | None = None,
) -> FileInputs:
    """Every row of the data file ``path`` (csv/tsv/json/jsonl/parquet) as inputs of
    ``clf``: its text (and second text) columns are the given ones, else those the model was
    trained on, else ``text`` (or, for a template of several fields, the columns named
    after them). An empty text stays a row (it is classified too)."""
    from ..data import read_table
    from ..data.templates import template_fields
    from ..data.texts import table_texts

    table = read_table(path)
    template = clf.template
    fields = list(dict.fromkeys(template_fields(template))) if template else []
    cols = model_columns(clf, text_column, text_pair_column)
    if cols["text"] is None and cols["text_pair"] is None and len(fields) > 1:
        return _field_inputs(table, str(path), fields)
    text = cols["text"] or ("text" if "text" in table or not fields else fields[0])
    texts, pairs = table_texts(
        table, text, cols["text_pair"], where=str(path), file=str(path), skip_empty=False
    )
    if pairs is None:
        return FileInputs(texts, None, texts)
    shown = [f"{t} | {p}" for t, p in zip(texts, pairs, strict=True)]
    if template is None:  # tokenized as pairs, as in training without a template
        return FileInputs(texts, pairs, shown)
    return FileInputs(pair_items(template, texts, pairs), None, shown)


def _field_inputs(table: dict[str, list[Any]], where: str, fields: list[str]) -> FileInputs:
    """Dicts of a template's fields, each read from the column of the same name."""
    from ..data.labels import text_value
    from ..data.tables import missing_column

    for field in fields:
        if field not in table:
            raise missing_column(
                field, "text_column", f"{where} (the model's template field)", table
            )
    rows = zip(*(table[f] for f in fields), strict=True)
    items = [{f: text_value(v, f) for f, v in zip(fields, row, strict=True)} for row in rows]
    return FileInputs(items, None, [" | ".join(it.values()) for it in items])


def classify_inputs(clf: Any, inputs: FileInputs, batch_size: int | None = None) -> torch.Tensor:
    """Scores [N, C] of ``inputs`` (pairs tokenized as pairs): ``clf.problem.scores`` of the
    logits (a softmax, a sigmoid per label, or the value)."""
    if inputs.pairs is not None:
        return problem_of(clf).scores(clf._pair_logits(inputs.items, inputs.pairs, batch_size))
    return clf.classify(inputs.items, batch_size)


# -- evaluation -----------------------------------------------------------------------------
def default_split(dataset: str) -> str:
    """What ``evaluate`` scores when no split is given: ``"all"`` (every row) for a single
    file, ``"test"`` for a built-in dataset, a folder of split files or a Hub dataset."""
    return "all" if Path(dataset).expanduser().is_file() else "test"


@dataclass
class EvaluationData:
    """The labelled examples an evaluation scores, and where they came from."""

    source: str
    split: str
    texts: list[str]
    pairs: list[str] | None
    labels: list[Any]
    """Label names (the model's; single_label), lists of them (multi_label, in the model's
    label order), or floats in the data's units (regression)."""
    training_data: bool = False
    """Whether ``source`` is the dataset the model was trained on."""
    problem_type: str = "single_label"

    @property
    def what(self) -> str:
        """How messages name the examples: ``"every row of my.csv"``, ``"the test split of
        rotten_tomatoes"``."""
        if self.split != "all":
            return f"the {self.split} split of {self.source}"
        whole = "every row" if Path(self.source).expanduser().is_file() else "every split"
        return f"{whole} of {self.source}"


def evaluation_data(
    clf: Any,
    dataset: str,
    *,
    split: str | None = None,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    label_column: str | None = None,
    label_columns: Any = None,
    label_separator: str | None = None,
    limit: int | None = None,
) -> EvaluationData:
    """The labelled examples of ``dataset`` to evaluate ``clf`` on.

    ``split``: ``train`` / ``validation`` / ``test`` (carved from train by the fractions and
    seed the model was trained with, when ``dataset`` is its training data) or ``all``;
    default ``default_split(dataset)``. Columns: the given ones, else the model's training
    columns, else ``text`` / ``label`` (regression: the model's one label, its target's
    name). Labels are read by the model's problem type and label set
    (``phalanx.data.labels.label_ids``); multi-label ones from a list, a text joined by
    ``label_separator`` or the 0/1 ``label_columns`` (``label_options``). ``limit``: at
    most that many per split.
    """
    from ..data import load_data

    split = split or default_split(dataset)
    if split not in EVAL_SPLITS:
        raise InputError(f"split {split!r} is unknown; choose one of {', '.join(EVAL_SPLITS)}")
    cols = model_columns(clf, text_column, text_pair_column, label_column)
    problem = problem_of(clf)
    options = label_options(clf, label_columns, label_separator, label_column)
    if options["label_columns"] and problem.type != "multi_label":
        raise InputError(
            f"{clf.adapter} is a {problem.type} model: label columns (one 0/1 column per "
            "label) hold multi-label data; drop --label-columns"
        )
    if options["label_columns"]:
        _check_label_columns(clf, options["label_columns"])
    default_label = clf.labels[0] if problem.type == "regression" else "label"
    trained = (getattr(clf, "meta", None) or {}).get("training") or {}
    same = _same_source(trained.get("dataset"), dataset)
    whole = split == "all"

    def opt(key: str, default: Any) -> Any:
        """The training run's setting (same dataset only), else the default."""
        value = trained.get(key) if same else None
        return default if value is None else value

    splits = load_data(
        dataset,
        text_column=cols["text"] or "text",
        text_pair_column=cols["text_pair"],
        label_column=cols["label"] or default_label,
        # the data's labels are read by the model's label set (label columns name their own)
        label_names=None if options["label_columns"] else clf.labels,
        validation_fraction=0.0 if whole else opt("validation_fraction", 0.1),
        test_fraction=0.0 if whole else opt("test_fraction", 0.1),
        seed=opt("seed", 42),
        limit=limit,
        min_classes=1,  # a file of one class is fine to evaluate on
        problem_type=problem.type,
        label_columns=options["label_columns"],
        label_separator=options["label_separator"],
    )
    names = list(splits.label_names)  # label columns: the model's labels, in their order
    texts, pairs, labels = [], [], []
    for part in ("train", "validation", "test") if whole else (split,):
        ds = getattr(splits, part)
        texts += ds.texts
        pairs += ds.pairs or []
        labels += [_label_value(y, names, problem.type) for y in ds.labels]
    data = EvaluationData(dataset, split, texts, pairs or None, labels, same, problem.type)
    if not texts:
        raise InputError(f"{data.what} holds no labelled examples; choose another split (--split)")
    return data


def _check_label_columns(clf: Any, columns: list[str]) -> None:
    """Label columns (named after the labels they flag) may come in any order but must be
    the model's labels, each once."""
    unknown = [c for c in columns if c not in clf.labels]
    missing = [lab for lab in clf.labels if lab not in columns]
    if unknown or missing:
        what = (
            f"label columns {unknown} are not labels of the model"
            if unknown
            else f"the model's labels {missing} have no label column"
        )
        raise InputError(
            f"{what} ({clf.adapter} predicts {clf.labels}); name one 0/1 column per model "
            "label with --label-columns"
        )


def _label_value(y: Any, names: list[str], kind: str) -> Any:
    """A dataset label as ``EvaluationData.labels`` holds it (names, or a float)."""
    if kind == "regression":
        return float(y)
    if kind == "multi_label":
        return [names[i] for i in y]
    return names[y]


def _same_source(trained: Any, dataset: str) -> bool:
    """Whether ``dataset`` is the training run's dataset (the same name, or a path to the
    same file or folder)."""
    if not isinstance(trained, str) or not trained:
        return False
    if trained == dataset:
        return True
    a, b = Path(trained).expanduser(), Path(dataset).expanduser()
    return a.exists() and b.exists() and a.resolve() == b.resolve()


def score(clf: Any, data: EvaluationData, batch_size: int | None = None) -> Evaluation:
    """``clf``'s metrics on ``data`` (sentence pairs as in training: through the template,
    or tokenized as pairs without one), for its problem type
    (``phalanx.problems.metrics.evaluation_for``)."""
    problem = problem_of(clf)
    if problem.type != "single_label":
        return _problem_score(clf, problem, data, batch_size)
    if data.pairs is None:
        return clf.evaluate(data.texts, data.labels, batch_size)
    if clf.template is not None:
        items = pair_items(clf.template, data.texts, data.pairs)
        return clf.evaluate(items, data.labels, batch_size)
    y = clf._label_ids(data.labels)
    logits = clf._pair_logits(data.texts, data.pairs, batch_size)
    return evaluation_from_logits(logits, y, clf.labels)


def _problem_score(
    clf: Any, problem: Problem, data: EvaluationData, batch_size: int | None
) -> Evaluation:
    """Multi-label or regression metrics: multi-hot labels in the model's label order, or
    the float targets, against the logits of every text."""
    from ..problems.metrics import evaluation_for

    if problem.type == "multi_label":
        index = {name: i for i, name in enumerate(clf.labels)}
        y: Any = [[0.0] * len(index) for _ in data.labels]
        for row, names in zip(y, data.labels, strict=True):
            for name in names:
                row[index[name]] = 1.0
    else:
        y = [float(v) for v in data.labels]
    if data.pairs is None:
        logits = clf.logits(data.texts, batch_size)
    elif clf.template is not None:
        logits = clf.logits(pair_items(clf.template, data.texts, data.pairs), batch_size)
    else:
        logits = clf._pair_logits(data.texts, data.pairs, batch_size)
    return evaluation_for(problem, logits, y, clf.labels)


def evaluation_warnings(data: EvaluationData) -> list[str]:
    """What a reader of the figures should know: too few examples to trust them, or rows
    the model was trained on among those scored."""
    warnings = []
    n = len(data.texts)
    if n < SMALL_SPLIT:
        moves = {
            "single_label": f"one example moves accuracy by {100 / n:.1f} points",
            "multi_label": f"one example moves subset accuracy by {100 / n:.1f} points",
        }.get(data.problem_type, "one example can move every figure")
        warnings.append(
            f"warning: only {n} example{'' if n == 1 else 's'} scored ({data.what}): {moves}, "
            f"so read these figures as rough ({SMALL_SPLIT} or more give steadier ones)"
        )
    if data.training_data and data.split == "all":
        warnings.append(
            f"note: {data.source} is the model's training data: the rows scored include "
            "those it was trained on (--split test scores its held-out test split)"
        )
    return warnings


def evaluate_dataset(
    clf: Any, dataset: str, *, batch_size: int | None = None, **options: Any
) -> Evaluation:
    """``clf``'s metrics on ``dataset``; ``options`` are ``evaluation_data``'s (``split``,
    the columns, ``limit``). The warnings of ``evaluation_warnings`` are logged."""
    data = evaluation_data(clf, dataset, **options)
    result = score(clf, data, batch_size)
    for warning in evaluation_warnings(data):
        log.warning("%s", warning.removeprefix("warning: "))
    return result
