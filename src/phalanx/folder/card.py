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

import json
import math
import numbers
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ..metric_names import METRIC_LABELS
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

BUILTIN_MODEL_HUB_IDS = {
    "minilm-l6": "sentence-transformers/all-MiniLM-L6-v2",
    "smollm2-135m": "HuggingFaceTB/SmolLM2-135M-Instruct",
    "gemma3-270m": "google/gemma-3-270m",
}
"""The Hub id of each built-in model (``phalanx.assets.BUILTIN_MODELS``): what cards name
as ``base_model`` and peft folders as ``base_model_name_or_path``."""

_BUILTIN_LICENSES = {
    "minilm-l6": "apache-2.0",
    "smollm2-135m": "apache-2.0",
    "gemma3-270m": "gemma",
}

BUILTIN_DATASET_HUB_IDS = {"rotten_tomatoes": "cornell-movie-review-data/rotten_tomatoes"}
"""Built-in datasets that are a Hub dataset (the same sentences and labels)."""

_METHODS = {
    "sparta": "SpaRTA (sparse random parameter adaptation: trainable deltas on a seeded "
    "random subset of the weights, plus the head)",
    "head": "head only (the classification head trains, the body is frozen)",
    "full": "full fine-tuning (every weight trains)",
    "lora": "LoRA (peft: low-rank updates, plus the head)",
    "ia3": "IA3 (peft: learned rescaling of keys, values and feed-forward, plus the head)",
    "ptuning": "P-tuning (peft: virtual tokens from a prompt encoder, plus the head)",
    "prompt_tuning": "prompt tuning (peft: trainable virtual tokens, plus the head)",
}
_PEFT_METHODS = ("lora", "ia3", "ptuning", "prompt_tuning")
_PROBLEMS = {
    "single_label_classification": "single_label",
    "multi_label_classification": "multi_label",
}
_DATA_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".parquet", ".txt")
# run control, not training configuration: left out of the card's configuration block
_RUN_CONTROL = ("output", "overwrite", "resume", "progress")
_EXAMPLE = "a charming journey"
# evaluation entries that are no figure of the model: counts, position, speed
_NOT_FIGURES = ("n", "epoch", "step", "runtime", "samples_per_second", "steps_per_second")


# ----------------------------------------------------------------------------- paths


def portable_path(path: str | os.PathLike | None) -> str | None:
    """How a saved folder records one of phalanx's own outputs (a run's ``output``, the
    adapter an export came from): the path as given when it is relative (and has no
    ``..``), else its name (``<run>/adapter`` for a run's adapter), never an absolute path.
    """
    if path is None or not str(path):
        return None
    text = str(path)
    p = Path(text)
    if not p.is_absolute() and ".." not in p.parts:
        return text
    full = Path(os.path.abspath(os.path.expanduser(text)))
    if full.name == "adapter" and full.parent.name:
        return f"{full.parent.name}/{full.name}"
    return full.name or None


def portable_config(config: Any) -> dict[str, Any]:
    """A recorded training (or compress) config with its ``output`` spelled by
    ``portable_path`` (folders saved before this rule may record an absolute one); any
    other value as it is."""
    if not isinstance(config, Mapping):
        return {}
    out = dict(config)
    if isinstance(out.get("output"), str):
        out["output"] = portable_path(out["output"])
    return out


def _is_local(name: str) -> bool:
    """A path of this machine (rather than a built-in name or a Hub id)."""
    p = Path(name).expanduser()
    return (
        p.is_absolute()
        or name.startswith((".", "~"))
        or p.exists()
        or p.suffix.lower() in _DATA_SUFFIXES
        or name.count("/") > 1
    )


def model_hub_id(name: str | None) -> str | None:
    """The Hub id a model name stands for: a built-in's (``minilm-l6`` ->
    ``sentence-transformers/all-MiniLM-L6-v2``), a Hub id itself, None for a local folder."""
    if not name:
        return None
    if name in BUILTIN_MODEL_HUB_IDS:
        return BUILTIN_MODEL_HUB_IDS[name]
    return None if _is_local(name) else name


def _model_shown(name: Any) -> str | None:
    """How a card names a model: its Hub id, or a local folder's name only."""
    if not isinstance(name, str) or not name:
        return None
    return model_hub_id(name) or Path(name).expanduser().name or name


def _name_only(name: str) -> str:
    """A local path's last part (the folder or file name); any other name as it is."""
    return ",".join(Path(n).expanduser().name if _is_local(n) else n for n in name.split(","))


def _dataset_shown(name: Any) -> str | None:
    """How a card names a dataset: a built-in or Hub name as it is, a local file's name."""
    if not isinstance(name, str) or not name:
        return None
    return Path(name).expanduser().name if _is_local(name) else name


def _dataset_hub_id(name: Any) -> str | None:
    """The Hub dataset a dataset name stands for, when that is known (never a local path)."""
    if not isinstance(name, str) or not name:
        return None
    if name in BUILTIN_DATASET_HUB_IDS:
        return BUILTIN_DATASET_HUB_IDS[name]
    if "/" in name and not _is_local(name):
        return name
    return None


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
    dataset = meta.get("dataset") if isinstance(meta.get("dataset"), Mapping) else {}
    training = meta.get("training") if isinstance(meta.get("training"), Mapping) else {}
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
    dataset = meta.get("dataset") if isinstance(meta.get("dataset"), Mapping) else {}
    columns = dataset.get("columns") if isinstance(dataset.get("columns"), Mapping) else {}
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
    dataset = meta.get("dataset") if isinstance(meta.get("dataset"), Mapping) else {}
    if source:
        text = f"Data: `{_dataset_shown(source)}`"
        sizes = dataset.get("sizes")
        if isinstance(sizes, Mapping) and sizes:
            order = ("train", "validation", "test")
            named = sorted(sizes, key=lambda s: order.index(s) if s in order else len(order))
            text += " (" + ", ".join(f"{_fmt(sizes[s])} {s}" for s in named) + " examples)"
        lines.append(text + ".")
    compress = meta.get("compress") if isinstance(meta.get("compress"), Mapping) else None
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
    test = metrics.get("test") if isinstance(metrics.get("test"), Mapping) else {}
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
        test=metrics.get("test") if isinstance(metrics.get("test"), Mapping) else None,
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
    test = metrics.get("test") if isinstance(metrics.get("test"), Mapping) else None
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
    source = meta.get("source") if isinstance(meta.get("source"), Mapping) else {}
    method = source.get("method") if isinstance(source.get("method"), str) else None
    problem = _problem(meta, None)
    quantization = meta.get("quantization") or None
    metrics = source.get("metrics") if isinstance(source.get("metrics"), Mapping) else {}
    base = source.get("base_model")
    test = metrics.get("test") if isinstance(metrics.get("test"), Mapping) else None
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
