"""Several runs in one report: one table, one chart of the test metric against size.

Each run is reported in full into a sub-folder (``<name>/report.html`` ...), and the top
page tables them side by side: method, trainable parameters, size on disk, the problem
type's headline metrics on the data each was scored on (by default its own test split: the
runs of one ``phalanx compare`` share it), and links to their pages. A folder written by
``phalanx compare`` (``compare.json`` beside one run folder per method) stands for its runs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ..errors import InputError
from .data import Subject
from .figures import draw_compare
from .html import compare_page
from .model import HTML_FILE, JSON_FILE, model_report, write_json_file

__all__ = [
    "COMPARE_FILE",
    "check_types",
    "compare_content",
    "is_compare_folder",
    "runs_of",
    "write_compare",
]

log = logging.getLogger("phalanx.report")

COMPARE_FILE = "compare.json"
"""What marks a folder ``phalanx compare`` wrote (``phalanx.compare.table.TABLE_FILES``)."""

#: the table's metrics per problem type (the first is the chart's)
COMPARE_METRICS = {
    "single_label": ("accuracy", "macro_f1", "ece", "loss"),
    "multi_label": ("micro_f1", "macro_f1", "mean_average_precision", "loss"),
    "regression": ("spearman", "pearson", "mse", "mae"),
}


def is_compare_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder ``phalanx compare`` wrote (and no model folder)."""
    p = Path(path).expanduser()
    return (p / COMPARE_FILE).is_file() and not (p / "adapter").is_dir()


def runs_of(folder: str | Path) -> tuple[list[str], list[str]]:
    """The run folders of a ``phalanx compare`` folder in its table's order, and a note per
    method whose run left no adapter (it failed, or still runs)."""
    p = Path(folder).expanduser()
    try:
        rows = json.loads((p / COMPARE_FILE).read_text(encoding="utf-8")).get("rows") or []
        methods = [r["method"] for r in rows if isinstance(r, dict) and r.get("method")]
    except (OSError, ValueError, AttributeError, TypeError, KeyError):
        methods = []
    found = sorted(d.name for d in p.iterdir() if (d / "adapter").is_dir())
    order = [m for m in methods if m in found] + [d for d in found if d not in methods]
    notes = [
        f"{m}: no finished run in {p / m} (its row in {COMPARE_FILE} says why)"
        for m in methods
        if m not in found
    ]
    if not order:
        raise InputError(f"{folder} is a phalanx compare folder without any finished run")
    return [str(p / name) for name in order], notes


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return out


def check_types(subjects: list[Subject]) -> str:
    """The one problem type the runs share, else an error naming each run's."""
    kinds = [(s.given, (s.info.get("problem") or {}).get("type", "single_label")) for s in subjects]
    found = {k for _, k in kinds}
    if len(found) > 1:
        named = ", ".join(f"{g} is {k}" for g, k in kinds)
        raise InputError(f"runs of different problem types do not share one table: {named}")
    return found.pop()


def compare_content(
    reports: list[Any], names: list[str], problem_type: str, notes: list[str]
) -> dict[str, Any]:
    """The comparison's table rows and notes (what the top report.json holds)."""
    from .. import __version__

    metrics = list(COMPARE_METRICS[problem_type])
    rows = []
    for name, rep in zip(names, reports, strict=True):
        c = rep.content
        figures = {**c["metrics"], **c["headlines"]}
        rows.append(
            {
                "name": name,
                "given": rep.subject.given,
                "kind": rep.subject.kind,
                "method": c["model"]["method"],
                "base_model": c["model"]["base_model"],
                "trainable_parameters": c["model"]["trainable_parameters"],
                "size_bytes": c["model"]["size_bytes"],
                "data": c["data"]["what"],
                "n": c["data"]["n"],
                "metrics": {m: figures.get(m) for m in metrics},
                "report": f"{name}/{HTML_FILE}",
            }
        )
    notes = list(notes)
    if len({r["data"] for r in rows}) > 1:
        notes.append(
            "the runs were scored on different data (see the data column): their figures are "
            "not directly comparable; give --dataset to score them all on the same"
        )
    if any(not isinstance(r["trainable_parameters"], int) for r in rows):
        notes.append(
            "trainable parameters are not recorded for some folders (exports): the chart "
            "places those by size on disk only"
        )
    return {
        "phalanx_version": __version__,
        "title": f"comparison of {len(rows)} runs",
        "problem_type": problem_type,
        "metric": metrics[0],
        "metrics": metrics,
        "runs": rows,
        "notes": notes,
        "figures": {},
    }


def write_compare(
    subjects: list[Subject], folder: Path, notes: list[str], **options: Any
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Report every run of ``subjects`` into ``folder/<name>/`` and the comparison into
    ``folder``; (the comparison's content, name -> path of the top files)."""
    problem_type = check_types(subjects)
    names = _unique([s.name for s in subjects])
    reports = []
    for i, (name, subject) in enumerate(zip(names, subjects, strict=True), 1):
        log.info("[%d/%d %s] scoring %s", i, len(subjects), name, subject.given)
        rep = model_report(subject, **options)
        sub = folder / name
        sub.mkdir()
        rep.write(sub)
        reports.append(rep)
    content = compare_content(reports, names, problem_type, notes)
    content["figures"] = draw_compare(content["runs"], content["metric"], folder)
    (folder / HTML_FILE).write_text(compare_page(content, folder), encoding="utf-8")
    write_json_file(folder / JSON_FILE, content)
    files = {"html": folder / HTML_FILE, "json": folder / JSON_FILE}
    files.update({k: folder / v for k, v in content["figures"].items()})
    return content, files
