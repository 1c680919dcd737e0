"""The report's figures as PNG files, drawn with matplotlib (imported here only).

Each figure is a ``matplotlib.figure.Figure`` on an Agg canvas of its own: no pyplot, no
global backend switch, no window, so reports draw the same in a server, a test or a
notebook. matplotlib comes with the ``report`` extra (``pip install 'phalanx[report]'``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FIGURE_FILES", "draw_compare", "draw_model", "require_matplotlib"]

#: figure name -> file name, in page order
FIGURE_FILES = {
    "confusion_matrix": "confusion_matrix.png",
    "reliability": "reliability.png",
    "score_histogram": "score_histogram.png",
    "pr_curves": "pr_curves.png",
    "roc_curves": "roc_curves.png",
    "predicted_vs_true": "predicted_vs_true.png",
    "residuals": "residuals.png",
    "training_curves": "training_curves.png",
    "compare": "compare.png",
}
_DPI = 100
_LEGEND_MAX = 12  # more curves than this are drawn without a legend


def require_matplotlib() -> None:
    """matplotlib is there, or an ImportError naming the extra that brings it."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as err:
        raise ImportError(
            "phalanx report draws its figures with matplotlib, which is not installed; "
            "pip install 'phalanx[report]' (or matplotlib)"
        ) from err


def _figure(width: float, height: float, cols: int = 1) -> tuple[Any, list[Any]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, cols, i + 1) for i in range(cols)]
    return fig, axes


def _save(fig: Any, folder: Path, name: str) -> str:
    file = FIGURE_FILES[name]
    fig.savefig(folder / file, format="png", metadata={"Software": None})
    return file


def draw_model(content: dict[str, Any], scored: Any, folder: Path) -> dict[str, str]:
    """Every figure of one model's report into ``folder``; figure name -> file name."""
    require_matplotlib()
    drawers: list[tuple[str, Callable[[], Any] | None]] = []
    kind = content["problem_type"]
    if kind == "single_label":
        drawers += [
            ("confusion_matrix", lambda: _confusion(content["confusion"])),
            ("reliability", lambda: _reliability(content["calibration"])),
            ("score_histogram", lambda: _histogram(content["calibration"])),
        ]
    if kind in ("single_label", "multi_label"):
        points = content["curves"]["_points"]
        summary = content["curves"]["per_class"]
        what = "label" if kind == "multi_label" else "class"
        drawers += [
            ("pr_curves", lambda: _curves(points, summary, "pr", what)),
            ("roc_curves", lambda: _curves(points, summary, "roc", what)),
        ]
    if kind == "regression":
        target = content["regression"]["target"]
        values, truth = scored.scores[:, 0], scored.truth.astype(np.float64)
        drawers += [
            ("predicted_vs_true", lambda: _scatter(values, truth, target)),
            ("residuals", lambda: _residuals(values - truth, target)),
        ]
    if content.get("history"):
        drawers.append(("training_curves", lambda: _training(content["history"])))
    files = {}
    for name, draw in drawers:
        fig = draw()
        if fig is not None:
            files[name] = _save(fig, folder, name)
    return files


# -- single-label -------------------------------------------------------------------------
def _confusion(confusion: dict[str, Any]) -> Any:
    names, counts = confusion["labels"], np.asarray(confusion["counts"])
    shares = np.array([[v if v is not None else 0.0 for v in r] for r in confusion["row_shares"]])
    c = len(names)
    side = min(max(4.0, 0.75 * c + 2.5), 14.0)
    fig, (ax,) = _figure(side + 1.2, side)
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(c), names, rotation=45 if c > 4 else 0, ha="right" if c > 4 else "center")
    ax.set_yticks(range(c), names)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    ax.set_title(f"confusion matrix ({int(counts.sum())} examples; colour: share of the row)")
    if c <= 20:
        size = 10 if c <= 6 else 7
        for i in range(c):
            for j in range(c):
                share = confusion["row_shares"][i][j]
                text = f"{counts[i, j]}\n{100 * share:.0f}%" if share is not None else "0"
                colour = "white" if shares[i, j] > 0.5 else "black"
                ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=size)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="row share")
    return fig


def _reliability(cal: dict[str, Any]) -> Any:
    fig, (ax,) = _figure(5.5, 5.0)
    rows = [r for r in cal["table"] if r["count"]]
    width = 1.0 / cal["bins"]
    centres = [(r["lower"] + r["upper"]) / 2 for r in rows]
    ax.bar(
        centres,
        [r["accuracy"] for r in rows],
        width=width,
        edgecolor="#1f4e79",
        color="#6fa8dc",
        label="accuracy in the bin",
    )
    ax.plot(centres, [r["confidence"] for r in rows], "o", color="#c0392b", label="mean confidence")
    ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=1, label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("top-class probability (15 equal-width bins)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"reliability diagram: ECE {100 * cal['ece']:.1f}%")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def _histogram(cal: dict[str, Any]) -> Any:
    fig, (ax,) = _figure(5.5, 3.6)
    rows = cal["table"]
    width = 1.0 / cal["bins"]
    lefts = [r["lower"] for r in rows]
    right = [r["correct"] for r in rows]
    wrong = [r["wrong"] for r in rows]
    ax.bar(lefts, right, width=width, align="edge", color="#6aa84f", label="correct")
    ax.bar(lefts, wrong, width=width, align="edge", bottom=right, color="#cc4125", label="wrong")
    ax.set_xlim(0, 1)
    ax.set_xlabel("top-class probability")
    ax.set_ylabel("examples")
    ax.set_title("score histogram")
    ax.legend(fontsize=8)
    return fig


def _curves(points: dict[str, Any], summary: dict[str, Any], which: str, what: str) -> Any:
    drawn = [(name, pts[which]) for name, pts in points.items() if which in pts]
    if not drawn:
        return None
    fig, (ax,) = _figure(5.8, 5.0)
    many = len(drawn) > _LEGEND_MAX
    for name, (x, y) in drawn:
        if which == "pr":
            label = f"{name} (AP {summary[name]['average_precision']:.3f})"
            ax.step(x, y, where="post", linewidth=0.8 if many else 1.5, label=label)
        else:
            label = f"{name} (AUC {summary[name]['roc_auc']:.3f})"
            ax.plot(x, y, linewidth=0.8 if many else 1.5, label=label)
    if which == "pr":
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_title(f"precision-recall per {what} (one against the rest)")
    else:
        ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=1)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_title(f"ROC per {what} (one against the rest)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    if not many:
        ax.legend(fontsize=8, loc="lower left" if which == "pr" else "lower right")
    return fig


# -- regression ---------------------------------------------------------------------------
def _scatter(values: np.ndarray, truth: np.ndarray, target: str) -> Any:
    fig, (ax,) = _figure(5.2, 5.0)
    ax.scatter(truth, values, s=10, alpha=0.6, color="#3d85c6", edgecolors="none")
    low = float(min(truth.min(), values.min()))
    high = float(max(truth.max(), values.max()))
    ax.plot([low, high], [low, high], "--", color="grey", linewidth=1, label="predicted = true")
    ax.set_xlabel(f"true {target}")
    ax.set_ylabel(f"predicted {target}")
    ax.set_title("predicted against true")
    ax.legend(fontsize=8)
    return fig


def _residuals(err: np.ndarray, target: str) -> Any:
    fig, (ax,) = _figure(5.5, 3.6)
    ax.hist(err, bins=30, color="#8e7cc3")
    ax.axvline(0.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel(f"residual (predicted - true {target})")
    ax.set_ylabel("examples")
    ax.set_title(f"residuals: mean {err.mean():.3g}, std {err.std():.3g}")
    return fig


# -- training -----------------------------------------------------------------------------
def _xs(rows: list[dict[str, Any]]) -> tuple[list[float], str]:
    if rows and all(r.get("epoch") is not None for r in rows):
        return [float(r["epoch"]) for r in rows], "epoch"
    return [float(r.get("step") or 0) for r in rows], "step"


def _training(history: dict[str, Any]) -> Any:
    evals, train, metric = history["evaluations"], history["train"], history["metric"]
    fig, (loss_ax, metric_ax) = _figure(10.0, 4.0, cols=2)
    ex, unit = _xs(evals)
    tx = _xs(train)[0] if unit == "epoch" else [float(r.get("step") or 0) for r in train]
    if train:
        loss_ax.plot(tx, [r["loss"] for r in train], color="#999999", label="train loss")
    loss_ax.plot(ex, [r["loss"] for r in evals], "o-", color="#1f77b4", label="validation loss")
    values = [r.get(metric) for r in evals]
    metric_ax.plot(ex, values, "o-", color="#2ca02c", label=f"validation {metric}")
    best = _best_x(history, evals, unit)
    kept = [i for i, r in enumerate(evals) if r.get("step") == history.get("best_step")]
    for i in kept[:1]:
        loss_ax.plot(ex[i], evals[i]["loss"], "*", color="#d62728", markersize=12)
        if values[i] is not None:
            metric_ax.plot(ex[i], values[i], "*", color="#d62728", markersize=12)
    for ax in (loss_ax, metric_ax):
        if best is not None:
            ax.axvline(best, color="#d62728", linestyle="--", linewidth=1, label="best (kept)")
        ax.set_xlabel(unit)
        ax.legend(fontsize=8)
    loss_ax.set_title("loss")
    metric_ax.set_title(f"validation {metric}")
    return fig


def _best_x(history: dict[str, Any], evals: list[dict[str, Any]], unit: str) -> float | None:
    for r in evals:
        if r.get("step") is not None and r.get("step") == history.get("best_step"):
            return float(r["epoch"] if unit == "epoch" else r["step"])
    key = "best_epoch" if unit == "epoch" else "best_step"
    value = history.get(key)
    return float(value) if isinstance(value, int | float) else None


# -- several runs -------------------------------------------------------------------------
def draw_compare(rows: list[dict[str, Any]], metric: str, folder: Path) -> dict[str, str]:
    """The comparison chart: ``metric`` against trainable parameters and adapter size."""
    require_matplotlib()
    fig, axes = _figure(10.0, 4.2, cols=2)
    for ax, key, label in (
        (axes[0], "trainable_parameters", "trainable parameters"),
        (axes[1], "size_bytes", "folder size (bytes)"),
    ):
        shown = [r for r in rows if isinstance(r.get(key), int | float) and r[key] > 0]
        shown = [r for r in shown if isinstance(r["metrics"].get(metric), int | float)]
        for r in shown:
            ax.scatter(r[key], r["metrics"][metric], s=40)
            ax.annotate(r["name"], (r[key], r["metrics"][metric]), fontsize=8,
                        xytext=(4, 4), textcoords="offset points")  # fmt: skip
        if shown:
            ax.set_xscale("log")
            ax.margins(x=0.2, y=0.15)  # room for the names
        else:
            ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel(f"{label} (log scale)")
        ax.set_ylabel(f"test {metric}")
        ax.grid(alpha=0.3)
    axes[0].set_title(f"{metric} against trainable parameters")
    axes[1].set_title(f"{metric} against size on disk")
    return {"compare": _save(fig, folder, "compare")}
