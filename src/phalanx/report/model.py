"""One model's report: score it, build its content, draw its figures, write its folder.

A report folder holds ``report.html`` (the self-contained page), one PNG per figure and
``report.json`` (every figure's numbers: the metrics exactly as ``clf.evaluate`` gives them,
the ECE, AP / AUC per class, the training curves, the example tables, the notes).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .content import build_content, main_metric
from .data import Scored, Subject, read_history, score_subject
from .figures import draw_model
from .html import model_page

__all__ = [
    "HTML_FILE",
    "JSON_FILE",
    "REPORT_FILES",
    "ModelReport",
    "load_subject",
    "model_report",
    "write_json_file",
]

HTML_FILE = "report.html"
JSON_FILE = "report.json"
REPORT_FILES = (HTML_FILE, JSON_FILE, "*.png")
"""What a report writes into its folder (what ``overwrite`` replaces, besides sub-reports)."""


@dataclass
class ModelReport:
    """One model's report, computed; ``write`` puts it in a folder."""

    subject: Subject
    scored: Scored
    content: dict[str, Any]

    def write(self, folder: Path) -> dict[str, Path]:
        """The figures, the page and report.json into ``folder`` (which exists); name ->
        path of every file written."""
        figures = draw_model(self.content, self.scored, folder)
        self.content["figures"] = figures
        (folder / HTML_FILE).write_text(model_page(self.content, folder), encoding="utf-8")
        write_json_file(folder / JSON_FILE, self.content)
        files = {name: folder / file for name, file in figures.items()}
        return {"html": folder / HTML_FILE, "json": folder / JSON_FILE, **files}


def load_subject(subject: Subject, *, device: str | None = None, batch_size: int | None = None):
    """The classifier of ``subject`` (``phalanx.load_classifier``: adapters, exports)."""
    from ..inference.classifier import load_classifier

    kwargs: dict[str, Any] = {} if device is None else {"device": device}
    clf = load_classifier(subject.path, **kwargs)
    if batch_size is not None:
        clf.batch_size = batch_size
    return clf


def model_report(
    subject: Subject,
    *,
    dataset: str | None = None,
    split: str | None = None,
    limit: int | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    examples: int = 10,
    metric: str | None = None,
    **columns: Any,
) -> ModelReport:
    """Load, score and describe ``subject`` (``phalanx.report.report``'s options)."""
    clf = load_subject(subject, device=device, batch_size=batch_size)
    scored = score_subject(
        clf, subject, dataset=dataset, split=split, limit=limit, batch_size=batch_size, **columns
    )
    run_metrics, note = read_history(subject)
    chosen = metric or main_metric(getattr(clf, "meta", None) or {}, scored.problem.type)
    content = build_content(subject, scored, run_metrics, note, examples=examples, metric=chosen)
    return ModelReport(subject, scored, content)


def _plain(value: Any) -> Any:
    """``value`` with the figures' private entries (keys starting ``_``) left out."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json_file(path: Path, content: dict[str, Any]) -> None:
    """``content`` (less its private entries) as indented JSON; a NaN or infinity is null."""
    text = json.dumps(_plain(content), indent=2, default=_default, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")


def _default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
