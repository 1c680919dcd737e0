"""``report(...)``: the evaluation report of one model, or the comparison of several runs.

The output folder is written whole or not at all (``phalanx.folder.atomic_folder``); it is
refused before any slow work when it is, holds or lies inside an input, or is a non-empty
folder without ``overwrite`` (which then replaces only the report's own files).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from .data import Subject, find_subject
from .model import HTML_FILE, JSON_FILE, REPORT_FILES, model_report

__all__ = ["Report", "default_output", "report"]

log = logging.getLogger("phalanx.report")


@dataclass
class Report:
    """What ``report`` wrote."""

    folder: Path
    html: Path
    """The self-contained page (open it in a browser, from disk)."""
    json: Path
    """Every figure's numbers."""
    files: dict[str, Path] = field(default_factory=dict)
    """Name -> path of every file at the top of the folder (``html``, ``json``, each figure)."""
    content: dict[str, Any] = field(default_factory=dict, repr=False)
    """What report.json holds."""


def _paths(models: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for m in models:
        if isinstance(m, list | tuple):
            out += _paths(m)
        elif isinstance(m, str | os.PathLike):
            out.append(os.fspath(m))
        else:
            raise InputError(f"a model to report on is a folder path, got {type(m).__name__}")
    return out


def default_output(subjects: list[Subject], compare_folder: str | None = None) -> Path:
    """``NAME-report`` beside the (run) folder reported on; ``FOLDER-report`` beside a
    ``phalanx compare`` folder; ``compare-report`` beside the first of several runs."""
    if compare_folder is not None:
        folder = Path(os.path.normpath(compare_folder))
        return folder.with_name(f"{folder.name}-report")
    first = subjects[0]
    folder = Path(os.path.normpath(first.run or first.path))
    if len(subjects) > 1:
        return folder.parent / "compare-report"
    return folder.with_name(f"{folder.name}-report")


def _checked(name: str, value: Any, low: int = 1) -> int | None:
    from ..validation import check_int_range

    return None if value is None else check_int_range(name, value, low)


def report(
    *models: str | os.PathLike | list,
    dataset: str | None = None,
    split: str | None = None,
    output: str | os.PathLike | None = None,
    overwrite: bool = False,
    limit: int | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    examples: int = 10,
    metric: str | None = None,
    **columns: Any,
) -> Report:
    """Write the evaluation report of a model folder, or compare several runs.

    One adapter, run or export folder: ``report.html`` (self-contained), one PNG per figure
    and ``report.json``: the confusion matrix, per-class precision / recall / F1, the
    reliability diagram with ECE and the score histogram, PR and ROC curves per class, the
    training curves of the run's history (best epoch marked) and the most confident mistakes
    and least confident correct predictions; multi-label and regression models get the
    sections that apply to them. Several runs (or one ``phalanx compare`` folder): each
    reported into a sub-folder, plus one table and one chart of the test metric against
    trainable parameters and size.

    Args:
        models: folder paths (or one list of them).
        dataset: the labelled data to score (default: the training run's, ``split`` test).
        split: ``train``, ``validation``, ``test`` or ``all`` (a given single file: all).
        output: the report folder (default: ``default_output``).
        overwrite: replace the report files of a non-empty ``output``.
        limit: at most this many examples per split.
        batch_size, device: inference options (``load_classifier``'s).
        examples: rows in each example table.
        metric: the validation metric of the training curves (default: the one that chose
            the best epoch).
        columns: ``text_column``, ``text_pair_column``, ``label_column``, ``label_columns``,
            ``label_separator`` (default: the training run's, as ``phalanx evaluate``).

    Example:
        >>> from phalanx import report
        >>> print(report("runs/demo").html)  # doctest: +SKIP
        runs/demo-report/report.html
    """
    from ..folder import atomic_folder, check_apart, check_writable
    from ..inference.files import EVAL_SPLITS
    from .compare import is_compare_folder, runs_of, write_compare
    from .figures import require_matplotlib

    paths = _paths(models)
    if not paths:
        raise InputError("give the model to report on: an adapter, run or export folder")
    if split is not None and split not in EVAL_SPLITS:
        raise InputError(f"split {split!r} is unknown; choose one of {', '.join(EVAL_SPLITS)}")
    options = {
        "dataset": None if dataset is None else os.fspath(dataset),
        "split": split,
        "limit": _checked("limit", limit),
        "batch_size": _checked("batch_size", batch_size),
        "device": device,
        "examples": _checked("examples", examples, 0),
        "metric": metric,
        **{k: v for k, v in columns.items() if v is not None},
    }
    compare_folder, notes = None, []
    if len(paths) == 1 and is_compare_folder(paths[0]):
        compare_folder = paths[0]
        paths, notes = runs_of(compare_folder)
    subjects = [find_subject(p) for p in paths]  # a bad path fails before any slow work
    out = (
        Path(output).expanduser()
        if output is not None
        else default_output(subjects, compare_folder)
    )
    inputs: dict[str, Any] = {"dataset": options["dataset"]}
    for s in subjects:
        inputs[f"model {s.given}"] = s.path
        if s.run is not None:
            inputs[f"run {s.run}"] = s.run
    check_apart(out, inputs, "report folder")
    check_writable(out, overwrite)
    require_matplotlib()
    several = compare_folder is not None or len(subjects) > 1
    if not several:
        rep = model_report(subjects[0], **options)
    with atomic_folder(out, overwrite, owned=REPORT_FILES) as tmp:
        if several:
            content, files = write_compare(subjects, tmp, notes, **options)
        else:
            content, files = rep.content, rep.write(tmp)
    files = {name: out / path.relative_to(tmp) for name, path in files.items()}
    log.debug("report written to %s", out / HTML_FILE)  # the CLI prints it
    return Report(out, out / HTML_FILE, out / JSON_FILE, files, content)
