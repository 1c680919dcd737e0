"""The parts of a model card: front matter, the labels / input / method / training /
evaluation sections and the usage snippets, each from a folder's metadata."""

from __future__ import annotations

import json
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from ..metric_names import METRIC_LABELS
from .card_names import (
    _BUILTIN_LICENSES,
    _EXAMPLE,
    _METHODS,
    _NOT_FIGURES,
    _PEFT_METHODS,
    _PROBLEMS,
    _RUN_CONTROL,
    _dataset_hub_id,
    _dataset_shown,
    _model_shown,
    _name_only,
    mapping_at,
)


def _plain(value: Any) -> Any:
    """``value`` as YAML-safe built-in types (numpy scalars, tuples and paths included)."""
    return json.loads(json.dumps(value, default=_jsonable))


def _jsonable(value: Any) -> Any:
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def card_metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    """The scalar figures of one evaluation (``metrics.json``'s ``test``), as a card reports
    them: every finite number under its key, in order, except the example count ``n`` (and
    ``epoch`` / ``step``)."""
    out: dict[str, float] = {}
    for key, value in (metrics or {}).items():
        if key in _NOT_FIGURES or isinstance(value, bool):
            continue
        if isinstance(value, numbers.Real) and math.isfinite(float(value)):
            out[str(key)] = int(value) if isinstance(value, numbers.Integral) else float(value)
    return dict(sorted(out.items(), key=lambda kv: _ORDER.get(kv[0], len(_ORDER))))


_ORDER = {key: i for i, key in enumerate(METRIC_LABELS)}
"""Figures in the order ``phalanx.metric_names`` lists them (the printed layout's)."""


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        return f"{float(value):.4f}"
    return str(value)


def _count(value: Any) -> str:
    """An epoch or step as it is written (``2``, ``1.5``), not as a figure."""
    return f"{value:g}" if isinstance(value, numbers.Real) else _fmt(value)


def _label(key: str) -> str:
    return METRIC_LABELS.get(key, key.replace("_", " "))


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _code(text: str, lang: str = "") -> str:
    return f"```{lang}\n{text.rstrip()}\n```"


# ----------------------------------------------------------------------------- what a folder is


def _problem(meta: Mapping[str, Any], problem_type: str | None) -> dict[str, Any]:
    entry = meta.get("problem")
    if isinstance(entry, Mapping) and isinstance(entry.get("type"), str):
        return dict(entry)
    given = problem_type or "single_label"
    return {"type": _PROBLEMS.get(given, given)}


def _metrics_of(meta: Mapping[str, Any]) -> dict[str, Any]:
    metrics = meta.get("metrics")
    return dict(metrics) if isinstance(metrics, Mapping) else {}


def _dataset_source(meta: Mapping[str, Any]) -> str | None:
    dataset = mapping_at(meta, "dataset")
    training = mapping_at(meta, "training")
    source = dataset.get("source") or training.get("dataset")
    return source if isinstance(source, str) and source else None


def _front_matter(
    meta: Mapping[str, Any],
    *,
    name: str,
    base_model: Any,
    method: str | None,
    problem: str,
    extra_tags: Sequence[str] = (),
    relation: str | None = None,
    test: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The card's YAML metadata (Hugging Face model-card fields)."""
    front: dict[str, Any] = {"library_name": "phalanx"}
    shown_base = _model_shown(base_model)
    if shown_base:
        front["base_model"] = shown_base
        if relation:
            front["base_model_relation"] = relation
    front["pipeline_tag"] = "text-classification"
    if isinstance(base_model, str) and base_model in _BUILTIN_LICENSES:
        front["license"] = _BUILTIN_LICENSES[base_model]
    tags = ["phalanx", *([method] if method else [])]
    if method in _PEFT_METHODS:
        tags.append("peft")
    tags += [*extra_tags, problem.replace("_", "-"), "text-classification"]
    front["tags"] = list(dict.fromkeys(tags))
    source = _dataset_source(meta)
    hub_dataset = _dataset_hub_id(source)
    if hub_dataset:
        front["datasets"] = [hub_dataset]
    figures = card_metrics(test)
    if figures:
        front["metrics"] = list(figures)
        dataset_name = _dataset_shown(source) or "evaluation data"
        front["model-index"] = [
            {
                "name": name,
                "results": [
                    {
                        "task": {"type": "text-classification", "name": "Text Classification"},
                        "dataset": {
                            "name": dataset_name,
                            "type": hub_dataset or dataset_name,
                            "split": "test",
                        },
                        "metrics": [
                            {"type": key, "value": value, "name": f"test {_label(key)}"}
                            for key, value in figures.items()
                        ],
                    }
                ],
            }
        ]
    return _plain(front)


def _render(front: Mapping[str, Any], sections: Sequence[str]) -> str:
    head = yaml.safe_dump(dict(front), sort_keys=False, allow_unicode=True)
    body = "\n\n".join(s.strip() for s in sections if s and s.strip())
    return f"---\n{head}---\n\n{body}\n"


def _labels_section(meta: Mapping[str, Any], problem: Mapping[str, Any]) -> str:
    labels = [str(x) for x in meta.get("labels") or []]
    kind = problem.get("type")
    if kind == "regression":
        target = labels[0] if labels else "the target"
        scale = problem.get("target_scale")
        text = (
            f"## Problem type\n\nregression: one number per text, the target `{target}`, in the "
            "units of the training data."
        )
        if isinstance(scale, Mapping) and scale.get("std") is not None:
            text += (
                f" The model trained on targets normalised to mean 0 / std 1 (mean "
                f"{_fmt(scale.get('mean'))}, std {_fmt(scale.get('std'))}); predictions undo "
                "the scale."
            )
        return text
    if not labels:
        return ""
    thresholds = list(problem.get("thresholds") or [])
    if kind == "multi_label":
        per_label = len(thresholds) == len(labels) and len(labels) > 1
        if thresholds and not per_label:
            how = f"one threshold for every label, {_fmt(thresholds[0])}"
        elif per_label:
            how = "one threshold per label (the table)"
        else:
            how = "threshold 0.5"
        intro = (
            "## Problem type\n\nmulti_label: any number of labels per text. Each label has "
            "its own sigmoid probability (never a softmax); a label is predicted when its "
            f"probability reaches its threshold: {how}, tuned on the validation split."
        )
        rows = [
            [i, lab, _fmt(thresholds[i] if per_label else (thresholds or [0.5])[0])]
            for i, lab in enumerate(labels)
        ]
        return f"{intro}\n\n## Labels\n\n" + _table(["id", "label", "threshold"], rows)
    intro = (
        f"## Problem type\n\nsingle_label: one label per text, the most likely of the "
        f"{len(labels)} (a softmax over the labels)."
    )
    rows = [[i, lab] for i, lab in enumerate(labels)]
    return f"{intro}\n\n## Labels\n\n" + _table(["id", "label"], rows)


def _input_section(meta: Mapping[str, Any]) -> str:
    template = meta.get("input_template")
    lines = ["## Input", ""]
    if template:
        lines.append(
            f"Each input is formatted with the template `{template}` before tokenising "
            "(phalanx applies it; fill its fields from a dict, or give a plain string for a "
            "one-field template)."
        )
    else:
        lines.append("The text is tokenised as it is (no input template).")
    if meta.get("max_length"):
        lines.append(f"Inputs are truncated to {meta['max_length']} tokens.")
    dataset = mapping_at(meta, "dataset")
    columns = mapping_at(dataset, "columns")
    named = [f"{k} `{v}`" for k, v in columns.items() if isinstance(v, str) and v]
    if named:
        lines.append(
            "Columns of the training data (the defaults of `phalanx classify --input` and "
            f"`phalanx evaluate`): {', '.join(named)}."
        )
    return "## Input\n\n" + " ".join(lines[2:])


def _method_section(meta: Mapping[str, Any], method: str | None, base_model: Any) -> str:
    lines = ["## Method", ""]
    shown = _model_shown(base_model)
    what = _METHODS.get(method or "", method or "unknown")
    lines.append(f"- method: `{method}`, {what}")
    if shown:
        lines.append(f"- base model: `{shown}`")
    if isinstance(meta.get("trainable_parameters"), numbers.Integral):
        lines.append(f"- trainable parameters: {int(meta['trainable_parameters']):,}")
    if isinstance(meta.get("trainable_line"), str):
        lines.append(f"- {meta['trainable_line']}")
    if meta.get("task") == "generative":
        verbalizers = ", ".join(f"`{v}`" for v in meta.get("verbalizers") or [])
        lines.append(
            f"- generative: a language model scores each label's words ({verbalizers}); "
            "the probabilities are the softmax over the labels"
        )
    pruning = meta.get("structured_pruning")
    if isinstance(pruning, Mapping):
        lines.append(
            f"- structurally pruned: heads per layer {pruning.get('heads_per_layer')}, "
            f"feed-forward neurons per layer {pruning.get('ffn_per_layer')}"
        )
    options = meta.get("method_config")
    if isinstance(options, Mapping):  # ``extra``: options passed through, usually none
        options = {k: v for k, v in options.items() if not (k == "extra" and not v)}
    if isinstance(options, Mapping) and options:
        dumped = yaml.safe_dump(_plain(dict(options)), sort_keys=False, allow_unicode=True)
        lines += ["", "Method options:", "", _code(dumped, "yaml")]
    return "\n".join(lines)


def _config_block(config: Mapping[str, Any]) -> str:
    """A training (or compress) configuration without paths of this machine."""
    shown = {k: v for k, v in _plain(dict(config)).items() if k not in _RUN_CONTROL}
    for key in ("model", "teacher", "dataset", "recipe"):
        if isinstance(shown.get(key), str):
            shown[key] = _name_only(shown[key])
    return _code(yaml.safe_dump(shown, sort_keys=False, allow_unicode=True), "yaml")


def _training_section(meta: Mapping[str, Any]) -> str:
    lines = ["## Training", ""]
    source = _dataset_source(meta)
    dataset = mapping_at(meta, "dataset")
    if source:
        text = f"Data: `{_dataset_shown(source)}`"
        sizes = dataset.get("sizes")
        if isinstance(sizes, Mapping) and sizes:
            order = ("train", "validation", "test")
            named = sorted(sizes, key=lambda s: order.index(s) if s in order else len(order))
            text += " (" + ", ".join(f"{_fmt(sizes[s])} {s}" for s in named) + " examples)"
        lines.append(text + ".")
    compress = mapping_at(meta, "compress", None)
    if compress is not None:
        lines.append(
            f"\nCompressed with the recipe `{_dataset_shown(compress.get('recipe')) or '?'}`"
            + (" (quantization-aware training)" if compress.get("qat") else "")
            + "; the folder also holds `recipe.yaml`, `sparsity.json` and `metrics.json`."
        )
        teacher = compress.get("teacher")
        if isinstance(teacher, Mapping):
            lines.append("Distilled from a teacher.")
        if isinstance(compress.get("config"), Mapping):
            lines += ["", "Configuration:", "", _config_block(compress["config"])]
    elif isinstance(meta.get("training"), Mapping) and meta["training"]:
        lines += ["", "Configuration (resolved, defaults filled in):", ""]
        lines.append(_config_block(meta["training"]))
    return "\n".join(lines) if len(lines) > 2 else ""


def _evaluation_section(metrics: Mapping[str, Any]) -> str:
    test = mapping_at(metrics, "test")
    validation = metrics.get("validation")
    validation = validation if isinstance(validation, Mapping) else {}
    t, v = card_metrics(test), card_metrics(validation)
    if not t and not v:
        return ""
    keys = list(dict.fromkeys([*t, *v]))
    when = [
        f"{what} {_count(validation.get(what))}"
        for what in ("epoch", "step")
        if validation.get(what) is not None
    ]
    val_head = "validation" + (f" (best: {', '.join(when)})" if when else "")
    header, columns = ["metric"], []
    if v:
        header.append(val_head)
        columns.append(v)
    if t:
        header.append("test" + (f" ({_fmt(test['n'])} examples)" if test.get("n") else ""))
        columns.append(t)
    rows = [[_label(k), *[_fmt(c.get(k)) for c in columns]] for k in keys]
    parts = ["## Evaluation", "", _table(header, rows)]
    per_class = test.get("per_class")
    if isinstance(per_class, Mapping) and per_class:
        inner = [k for row in per_class.values() if isinstance(row, Mapping) for k in row]
        known = ("precision", "recall", "f1", "support")
        cols = [k for k in known if k in inner] + [
            k for k in dict.fromkeys(inner) if k not in known
        ]
        rows = [
            [label, *[_fmt(row.get(c)) for c in cols]]
            for label, row in per_class.items()
            if isinstance(row, Mapping)
        ]
        parts += ["", "Per class (test):", "", _table(["label", *cols], rows)]
    facts = []
    if isinstance(metrics.get("steps"), numbers.Real):
        facts.append(f"{_count(metrics['steps'])} optimizer steps")
    if isinstance(metrics.get("train_seconds"), numbers.Real):
        facts.append(f"{_count(metrics['train_seconds'])} s of training")
    if isinstance(metrics.get("sparsity"), numbers.Real):
        facts.append(f"sparsity {float(metrics['sparsity']):.1%} (exact zeros)")
    if facts:
        parts += ["", "Run: " + ", ".join(facts) + "."]
    return "\n".join(parts)


def _example_input(template: Any) -> str:
    fields = list(dict.fromkeys(re.findall(r"\{(\w+)\}", template or "")))
    if len(fields) > 1:
        return "{" + ", ".join(f'"{f}": "..."' for f in fields) + "}"
    return json.dumps(_EXAMPLE)


def _phalanx_usage(where: str, meta: Mapping[str, Any], *, export: bool = False) -> str:
    example = _example_input(meta.get("input_template"))
    python = (
        "from phalanx import load_classifier\n\n"
        f'clf = load_classifier("{where}")  # the path of this folder\n'
        f"clf.predict_records([{example}])"
    )
    if export:
        python += (
            "\n\nfrom phalanx.export import Pipeline\n\n"
            f'pipe = Pipeline.create(task="text-classification", model_path="{where}")\n'
            f"pipe({example})"
        )
    cli = f'phalanx classify {where} "{_EXAMPLE}"'
    return "\n".join(["### phalanx", "", _code(python, "python"), "", _code(cli, "bash")])


def _py_str(text: str) -> str:
    """A Python string literal (double quotes, as the snippets write them)."""
    return json.dumps(text, ensure_ascii=False)


def _peft_usage(
    where: str, meta: Mapping[str, Any], problem: Mapping[str, Any], base_model: Any
) -> str:
    labels = [str(x) for x in meta.get("labels") or []]
    kind = problem.get("type")
    args = [f'    "{where}",']
    if kind == "regression":
        args += ["    num_labels=1,", '    problem_type="regression",']
    else:
        args.append(f"    num_labels={len(labels)},")
        id2label = ", ".join(f"{i}: {_py_str(lab)}" for i, lab in enumerate(labels))
        label2id = ", ".join(f"{_py_str(lab)}: {i}" for i, lab in enumerate(labels))
        args += [f"    id2label={{{id2label}}},", f"    label2id={{{label2id}}},"]
        if kind == "multi_label":
            args.append('    problem_type="multi_label_classification",')
    base = _model_shown(base_model) or "BASE_MODEL"
    code = "\n".join(
        [
            "from peft import AutoPeftModelForSequenceClassification",
            "from transformers import AutoTokenizer",
            "",
            "model = AutoPeftModelForSequenceClassification.from_pretrained(",
            *args,
            ").eval()",
            f'tokenizer = AutoTokenizer.from_pretrained("{base}")',
        ]
    )
    note = (
        "The folder is a standard peft folder (`adapter_config.json`, "
        "`adapter_model.safetensors`, the classification head in `modules_to_save`). peft "
        "builds the base model named by `base_model_name_or_path` with transformers from "
        "that model's own config, which knows nothing of this folder's labels: pass their "
        "count and names (without them the head has 2 rows named LABEL_0, LABEL_1, and "
        "another label count does not load). Add `ignore_mismatched_sizes=True` when the "
        "base checkpoint already has a classification head of another size."
    )
    if meta.get("input_template"):
        note += f" Format inputs with the template `{meta['input_template']}` first."
    return "\n".join(["### peft", "", note, "", _code(code, "python")])


def _transformers_usage(where: str, meta: Mapping[str, Any]) -> str:
    code = (
        "from transformers import AutoModelForSequenceClassification, AutoTokenizer\n\n"
        f'model = AutoModelForSequenceClassification.from_pretrained("{where}")'
    )
    note = "A plain transformers folder: its `config.json` holds the labels."
    if meta.get("input_template"):
        note += f" Format inputs with the template `{meta['input_template']}` first."
    return "\n".join(["### transformers", "", note, "", _code(code, "python")])


def _usage_section(
    where: str,
    meta: Mapping[str, Any],
    problem: Mapping[str, Any],
    *,
    peft_folder: str | None,
    base_model: Any,
    transformers_folder: bool = False,
) -> str:
    parts = ["## Usage", "", _phalanx_usage(where, meta)]
    if peft_folder and meta.get("task") != "generative":
        parts += ["", _peft_usage(peft_folder, meta, problem, base_model)]
    if transformers_folder and meta.get("task") != "generative":
        parts += ["", _transformers_usage(where, meta)]
    return "\n".join(parts)


# ----------------------------------------------------------------------------- cards
