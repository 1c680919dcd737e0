"""Model cards: the ``README.md`` of every adapter, run and export folder phalanx writes, and
how a saved folder spells the paths it records.

A card is in the Hugging Face model-card format: YAML front matter (``library_name: phalanx``,
``base_model``, ``pipeline_tag``, ``tags``, ``datasets``, ``metrics``, ``model-index`` with
the test figures, ``license`` when known), then Markdown: the labels, the problem type, the
input, the method and its trainable parameters, the training configuration, the evaluation
table and how to load the folder (phalanx; plain peft for peft folders; transformers for a
full fine-tune). Every figure comes from the folder's own metadata (``phalanx.json``'s
``metrics``, which ``metrics.json`` repeats), so the card and the files never disagree.

No path of the training machine goes into a card: a local base model or data file is named
by its folder or file name, a built-in model by its Hub id. ``portable_path`` is the spelling
saved folders use for outputs (a run's ``output``, an export's source adapter): the path as
given when it is relative, else its last part(s).

>>> portable_path("runs/reviews"), portable_path("/home/me/runs/reviews")
('runs/reviews', 'reviews')
>>> portable_path("/home/me/runs/reviews/adapter")
'reviews/adapter'
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from .card_names import (
    BUILTIN_DATASET_HUB_IDS,
    BUILTIN_MODEL_HUB_IDS,
    _model_shown,
    mapping_at,
    model_hub_id,
    portable_config,
    portable_path,
)
from .card_sections import (
    _count,
    _evaluation_section,
    _fmt,
    _front_matter,
    _input_section,
    _label,
    _labels_section,
    _method_section,
    _metrics_of,
    _phalanx_usage,
    _problem,
    _render,
    _table,
    _training_section,
    _usage_section,
    card_metrics,
)
from .names import CARD_FILE

__all__ = [
    "BUILTIN_DATASET_HUB_IDS",
    "BUILTIN_MODEL_HUB_IDS",
    "adapter_card",
    "card_metrics",
    "export_card",
    "model_hub_id",
    "portable_config",
    "portable_path",
    "read_card",
    "run_card",
    "write_card",
]


# ----------------------------------------------------------------------------- reading and writing


def write_card(folder: str | os.PathLike, text: str) -> None:
    """Write ``text`` as the folder's ``README.md`` (replacing a template another library
    wrote there, such as peft's)."""
    Path(folder, CARD_FILE).write_text(text, encoding="utf-8")


def read_card(card: str | os.PathLike) -> tuple[dict[str, Any], str]:
    """A card's front matter (parsed with ``yaml.safe_load``) and its Markdown body; ``card``
    is a folder, a ``README.md`` file or the card's text.

    >>> read_card("---\\nlibrary_name: phalanx\\n---\\n# title\\n")
    ({'library_name': 'phalanx'}, '# title\\n')
    """
    if isinstance(card, str) and card.startswith("---"):
        text = card
    else:
        path = Path(card)
        text = (path / CARD_FILE if path.is_dir() else path).read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?\n)?---\n", text, re.DOTALL)
    if match is None:
        raise ValueError("the model card has no YAML front matter (--- ... --- at the top)")
    meta = yaml.safe_load(match.group(1) or "") or {}
    if not isinstance(meta, dict):
        raise ValueError("the model card's front matter is not a mapping")
    return meta, text[match.end() :].lstrip("\n")


# ----------------------------------------------------------------------------- figures


def adapter_card(
    meta: Mapping[str, Any],
    *,
    name: str,
    peft: bool = False,
    problem_type: str | None = None,
    transformers_folder: bool = False,
) -> str:
    """The card of an adapter (or model) folder from its ``phalanx.json`` ``meta``.

    ``name`` is how the card calls the folder (``portable_path`` of where it is written);
    ``peft`` adds plain peft's loading snippet, ``transformers_folder`` transformers' (a
    full fine-tune that is not structurally pruned); ``problem_type`` stands in for a
    ``meta`` without a ``problem`` entry (the model config's ``problem_type``).
    """
    method = meta.get("method") if isinstance(meta.get("method"), str) else None
    problem = _problem(meta, problem_type)
    metrics = _metrics_of(meta)
    base = meta.get("base_model")
    relation = "finetune" if method == "full" else "adapter"
    front = _front_matter(
        meta,
        name=name,
        base_model=base,
        method=method,
        problem=problem["type"],
        relation=relation,
        test=mapping_at(metrics, "test", None),
    )
    shown = _model_shown(base)
    title = f"# {name}\n\nA phalanx {method or ''} text classifier" + (
        f" on `{shown}`." if shown else "."
    )
    sections = [
        title,
        _labels_section(meta, problem),
        _input_section(meta),
        _method_section(meta, method, base),
        _training_section(meta),
        _evaluation_section(metrics),
        _usage_section(
            name,
            meta,
            problem,
            peft_folder=name if peft else None,
            base_model=base,
            transformers_folder=transformers_folder,
        ),
    ]
    return _render(front, sections)


def run_card(
    meta: Mapping[str, Any],
    metrics: Mapping[str, Any],
    *,
    name: str,
    peft: bool = False,
    history: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The card of a run folder: what the run trained (its adapter's ``meta``), its
    ``metrics`` (``metrics.json`` without the history) and, from ``history``, one row per
    evaluation; it points at ``adapter/``, which holds the model and its own card."""
    method = meta.get("method") if isinstance(meta.get("method"), str) else None
    problem = _problem(meta, None)
    base = meta.get("base_model")
    test = mapping_at(metrics, "test", None)
    front = _front_matter(
        meta,
        name=name,
        base_model=base,
        method=method,
        problem=problem["type"],
        relation="finetune" if method == "full" else "adapter",
        test=test,
    )
    shown = _model_shown(base)
    intro = (
        f"# {name}\n\nA phalanx training run: {method or 'a'} on `{shown or '?'}`. The model is "
        "in `adapter/` (with its own card); `train_config.yaml` is the resolved "
        "configuration, `metrics.json` the best validation and the test figures with the "
        "training history, `checkpoints/` what `--resume` continues from. phalanx loads "
        "this folder as its adapter."
    )
    sections = [
        intro,
        _labels_section(meta, problem),
        _input_section(meta),
        _method_section(meta, method, base),
        _training_section(meta),
        _evaluation_section(metrics),
        _history_section(history),
        _usage_section(
            name,
            meta,
            problem,
            peft_folder=f"{name}/adapter" if peft else None,
            base_model=base,
            transformers_folder=False,
        ),
    ]
    return _render(front, sections)


def _history_section(history: Sequence[Mapping[str, Any]]) -> str:
    evals = [h for h in history if isinstance(h, Mapping) and "eval_loss" in h]
    if not evals:
        return ""
    keys = [
        k
        for k in ("eval_loss", "eval_accuracy", "eval_macro_f1", "eval_micro_f1", "eval_mse")
        if any(k in h for h in evals)
    ]
    header = ["epoch", "step", *(f"validation {_label(k.removeprefix('eval_'))}" for k in keys)]
    rows = [
        [_count(h.get("epoch")), _count(h.get("step")), *[_fmt(h.get(k)) for k in keys]]
        for h in evals
    ]
    return "## Training history\n\n" + _table(header, rows)


def export_card(meta: Mapping[str, Any], *, name: str) -> str:
    """The card of an ONNX export folder from its ``phalanx_export.json`` ``meta``: the
    runtime, the quantization, what it was exported from and how to run it."""
    source = mapping_at(meta, "source")
    method = source.get("method") if isinstance(source.get("method"), str) else None
    problem = _problem(meta, None)
    quantization = meta.get("quantization") or None
    metrics = mapping_at(source, "metrics")
    base = source.get("base_model")
    test = mapping_at(metrics, "test", None)
    front = _front_matter(
        meta,
        name=name,
        base_model=base,
        method=method,
        problem=problem["type"],
        extra_tags=["onnx", *(["int8"] if quantization else [])],
        relation="quantized" if quantization else None,
        # the PyTorch figures hold for the fp32 graph (checked against it); int8 differs
        test=None if quantization else test,
    )
    shown = _model_shown(base)
    runtime = (
        f"ONNX Runtime (CPU), {quantization} quantization"
        if quantization
        else "ONNX Runtime (CPU), fp32"
    )
    lines = [
        f"# {name}",
        "",
        f"An ONNX export of a phalanx {method or ''} text classifier"
        + (f" on `{shown}`" if shown else "")
        + f", for {runtime}.",
        "",
        f"- runtime: {runtime}",
        f"- model file: `{meta.get('model_file', 'model.onnx')}`, opset {meta.get('opset')}, "
        f"exporter {meta.get('exporter')}; outputs {', '.join(meta.get('outputs') or ['logits'])}",
        f"- exported from: `{source.get('adapter') or '?'}` (method `{method}`)",
    ]
    if meta.get("parity_max_abs_diff_fp32") is not None:
        lines.append(
            "- checked against PyTorch before it was kept: largest logit difference (fp32) "
            f"{float(meta['parity_max_abs_diff_fp32']):.2e}"
        )
    if meta.get("first_token_last_layer"):
        lines.append("- the last layer is computed for the first token only (what the head reads)")
    evaluation = _evaluation_section(metrics)
    if evaluation:
        evaluation = evaluation.replace(
            "## Evaluation\n",
            "## Evaluation\n\nThe source adapter's figures, in PyTorch"
            + (" (the int8 graph's predictions may differ slightly)" if quantization else "")
            + ".\n",
            1,
        )
    sections = [
        "\n".join(lines),
        _labels_section(meta, problem),
        _input_section(meta),
        evaluation,
        "## Usage\n\n" + _phalanx_usage(name, meta, export=True),
    ]
    return _render(front, sections)
