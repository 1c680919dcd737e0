"""The report as one self-contained HTML page: opens from disk, reaches no network.

Images are embedded as ``data:image/png;base64`` URIs, the style sheet is inline, there is
no script, and a Content-Security-Policy forbids the page any other source. Every text that
comes from a model folder or a dataset (labels, sentences, paths) is escaped.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..compare.table import human_bytes
from ..metric_names import METRIC_LABELS
from .content import SECTION_TITLES

__all__ = ["compare_page", "fmt_metric", "model_page"]

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1d1d1f; background: #fafafa; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5em 2em 3em; background: #fff; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
nav a { margin-right: 1em; } table { border-collapse: collapse; margin: .8em 0; }
th, td { border: 1px solid #ddd; padding: .25em .6em; vertical-align: top; }
th { background: #f2f4f7; text-align: left; } td.num { text-align: right; white-space: nowrap; }
td.text { max-width: 34em; overflow-wrap: anywhere; } figure { margin: 1em 0; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption, .rule { color: #555; font-size: .9em; } .notes li { margin: .3em 0; }
"""
_PERCENT = {"accuracy", "balanced_accuracy", "subset_accuracy", "ece", "hamming_loss"}


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def fmt_metric(key: str, value: Any) -> str:
    """A metric as the page shows it: shares in percent, the rest with 3 decimals."""
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if key in _PERCENT:
        return f"{100 * value:.1f}%"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.3f}" if abs(value) < 1e4 else f"{value:.4g}"


def _label(key: str) -> str:
    return {"ece": "ECE (15 bins)"}.get(key, METRIC_LABELS.get(key, key))


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: int = 1) -> str:
    """A table; cells from column ``numeric`` on are right-aligned numbers (given as text)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers) if any(headers) else ""
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            cls = "num" if i >= numeric else "text"
            cells.append(f'<td class="{cls}">{_e(cell)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    thead = f"<thead><tr>{head}</tr></thead>" if head else ""
    return f"<table>{thead}<tbody>{''.join(body)}</tbody></table>"


def _image(folder: Path, figures: Mapping[str, str], name: str, caption: str) -> str:
    file = figures.get(name)
    if not file:
        return ""
    data = base64.b64encode((folder / file).read_bytes()).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{_e(caption)}" '
        f'data-figure="{_e(name)}"><figcaption>{_e(caption)} ({_e(file)})</figcaption></figure>'
    )


def _page(title: str, nav: list[tuple[str, str]], sections: list[str], footer: str) -> str:
    links = "".join(f'<a href="#{_e(i)}">{_e(t)}</a>' for i, t in nav)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head>\n"
        f"<body><main><h1>{_e(title)}</h1><nav>{links}</nav>\n"
        + "\n".join(sections)
        + f'\n<footer class="rule"><p>{_e(footer)}</p></footer></main></body></html>\n'
    )


def _section(sid: str, body: str, title: str | None = None) -> str:
    return f'<section id="{_e(sid)}"><h2>{_e(title or SECTION_TITLES[sid])}</h2>{body}</section>'


# -- one model ------------------------------------------------------------------------------
def model_page(content: dict[str, Any], folder: Path) -> str:
    """The page of one model's report; ``folder`` holds its PNG files."""
    figs = content["figures"]
    builders = {
        "summary": _summary,
        "confusion-matrix": lambda c: _image(
            folder, figs, "confusion_matrix", "counts and row shares (rows: true label)"
        ),
        "per-class": _per_class,
        "calibration": lambda c: _calibration(c, folder, figs),
        "curves": lambda c: _curves(c, folder, figs),
        "regression": lambda c: _regression(c, folder, figs),
        "training": lambda c: _training(c, folder, figs),
        "examples": _examples,
    }
    sections = [_section(s, builders[s](content)) for s in content["sections"]]
    nav = [(s, SECTION_TITLES[s]) for s in content["sections"]]
    if content["notes"]:
        items = "".join(f"<li>{_e(n)}</li>" for n in content["notes"])
        sections.append(_section("notes", f'<ul class="notes">{items}</ul>', "Notes"))
        nav.append(("notes", "Notes"))
    return _page(content["title"], nav, sections, _footer(content))


def _footer(content: dict[str, Any]) -> str:
    return f"written by phalanx {content['phalanx_version']}; figures in report.json"


def _summary(c: dict[str, Any]) -> str:
    m, d = c["model"], c["data"]
    params = m.get("trainable_parameters")
    rows = [
        ("model", m["given"]),
        ("folder kind", m["kind"] + ("" if m.get("run") is None else " (in a run folder)")),
        ("method", m.get("method") or "unknown"),
        ("base model", m.get("base_model") or "unknown"),
        ("trainable parameters", f"{params:,}" if isinstance(params, int) else "unknown"),
        ("problem type", c["problem_type"]),
        ("labels" if c["problem_type"] != "regression" else "target", ", ".join(m["labels"])),
        ("data", f"{d['what']}: {d['n']:,} examples"),
    ]
    model = _table(["", ""], rows, numeric=99)
    figures = _table(
        ["metric", "value"],
        [(_label(k), fmt_metric(k, v)) for k, v in c["headlines"].items()],
    )
    return model + figures


def _per_class(c: dict[str, Any]) -> str:
    pc = c["per_class"]
    multi = c["problem_type"] == "multi_label"
    headers = ["label", "precision", "recall", "F1", "support"] + (["threshold"] if multi else [])
    rows = []
    for name, r in pc["rows"].items():
        row = [name, *(fmt_metric("f1", r[k]) for k in ("precision", "recall", "f1"))]
        row.append(f"{r['support']:,}")
        if multi:
            row.append(fmt_metric("threshold", r.get("threshold")))
        rows.append(row)
    for kind, avg in pc["averages"].items():
        row = [
            f"{kind} average",
            *(fmt_metric("f1", avg[k]) for k in ("precision", "recall", "f1")),
        ]
        row.append(f"{pc['support']:,}")
        rows.append(row + ([""] if multi else []))
    return _table(headers, rows) + f'<p class="rule">{_e(pc["rule"])}</p>'


def _calibration(c: dict[str, Any], folder: Path, figs: Mapping[str, str]) -> str:
    cal = c["calibration"]
    text = (
        f"<p>ECE {fmt_metric('ece', cal['ece'])} (largest bin gap "
        f"{fmt_metric('ece', cal['max_gap'])}; mean confidence "
        f"{fmt_metric('ece', cal['mean_confidence'])} against accuracy "
        f"{fmt_metric('ece', cal['accuracy'])}).</p>"
        f'<p class="rule">{_e(cal["rule"])}</p>'
    )
    return (
        text
        + _image(folder, figs, "reliability", "reliability diagram")
        + _image(folder, figs, "score_histogram", "top-class probability, right and wrong")
    )


def _curves(c: dict[str, Any], folder: Path, figs: Mapping[str, str]) -> str:
    cur = c["curves"]
    rows = [
        (name, fmt_metric("f1", e["average_precision"]), fmt_metric("f1", e["roc_auc"]))
        for name, e in cur["per_class"].items()
    ]
    skipped = "".join(f"<li>{_e(s)}</li>" for s in cur["skipped"])
    return (
        _table(["label", "average precision", "ROC AUC"], rows)
        + (f'<ul class="rule">{skipped}</ul>' if skipped else "")
        + _image(folder, figs, "pr_curves", "precision-recall curves")
        + _image(folder, figs, "roc_curves", "ROC curves")
    )


def _regression(c: dict[str, Any], folder: Path, figs: Mapping[str, str]) -> str:
    r = c["regression"]
    text = (
        f"<p>residuals (predicted - true {_e(r['target'])}): mean {r['residual_mean']:.3g}, "
        f"standard deviation {r['residual_std']:.3g}; true values from "
        f"{r['true_range'][0]:.3g} to {r['true_range'][1]:.3g}, predicted from "
        f"{r['predicted_range'][0]:.3g} to {r['predicted_range'][1]:.3g}.</p>"
    )
    return (
        text
        + _image(folder, figs, "predicted_vs_true", "predicted against true")
        + _image(folder, figs, "residuals", "residual histogram")
    )


def _training(c: dict[str, Any], folder: Path, figs: Mapping[str, str]) -> str:
    h = c["history"]
    metric = h["metric"]
    rows = [
        (
            fmt_metric("epoch", r.get("epoch")),
            r.get("step"),
            fmt_metric("loss", r.get("loss")),
            fmt_metric(metric, r.get(metric)),
            "best (kept)" if r.get("step") == h.get("best_step") else "",
        )
        for r in h["evaluations"]
    ]
    table = _table(["epoch", "step", "validation loss", f"validation {metric}", ""], rows)
    return table + _image(folder, figs, "training_curves", "training curves")


def _short(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _examples(c: dict[str, Any]) -> str:
    ex = c["examples"]
    parts = [f'<p class="rule">{_e(ex["rule"])}</p>']
    blocks = (
        ("confident_mistakes", "Most confident mistakes"),
        ("unsure_correct", "Least confident correct predictions"),
        ("largest_errors", "Largest errors"),
    )
    multi = c["problem_type"] == "multi_label"
    for key, title in blocks:
        if key not in ex:
            continue
        headers = ["text", "true", "predicted"] + (["label"] if multi else []) + ["score"]
        rows = []
        for r in ex[key]:
            row = [_short(r["text"]), r["true"], r["predicted"]]
            row += [r["label"]] if multi else []
            rows.append([*row, f"{r['score']:.3f}"])
        body = _table(headers, rows, numeric=len(headers) - 1) if rows else "<p>none</p>"
        parts.append(f'<h3 id="{_e(key)}">{_e(title)}</h3>{body}')
    return "".join(parts)


# -- several runs ---------------------------------------------------------------------------
def compare_page(content: dict[str, Any], folder: Path) -> str:
    """The page of a comparison: one table, one chart, a link to each run's own report."""
    metrics = content["metrics"]
    headers = ["run", "method", "trainable", "size", *(_label(m) for m in metrics), "data"]
    rows = []
    for r in content["runs"]:
        params = r.get("trainable_parameters")
        rows.append(
            [
                r["name"],
                r.get("method") or "",
                f"{params:,}" if isinstance(params, int) else "n/a",
                human_bytes(r.get("size_bytes")),
                *(fmt_metric(m, r["metrics"].get(m)) for m in metrics),
                f"{r['data']} ({r['n']:,})",
            ]
        )
    links = "".join(
        f'<li><a href="{_e(r["report"])}">{_e(r["name"])}</a>: {_e(r["given"])}</li>'
        for r in content["runs"]
    )
    sections = [
        _section("comparison", _table(headers, rows, numeric=2), "Runs side by side"),
        _section(
            "chart",
            _image(folder, content["figures"], "compare", f"test {content['metric']} by size"),
            "Accuracy against size",
        ),
        _section("runs", f"<ul>{links}</ul>", "Each run's report"),
    ]
    nav = [("comparison", "Runs"), ("chart", "Chart"), ("runs", "Reports")]
    if content["notes"]:
        items = "".join(f"<li>{_e(n)}</li>" for n in content["notes"])
        sections.append(_section("notes", f'<ul class="notes">{items}</ul>', "Notes"))
        nav.append(("notes", "Notes"))
    return _page(content["title"], nav, sections, _footer(content))
