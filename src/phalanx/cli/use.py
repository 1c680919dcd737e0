"""``phalanx classify``, ``phalanx evaluate`` and ``phalanx info``: using a trained adapter."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from ..folder import adapter_info, resolve_adapter
from .args import CliError

__all__ = ["add_classify", "add_evaluate", "add_info"]

_CLASSIFY_EXAMPLES = """\
examples:
  phalanx classify runs/demo/adapter "I enjoyed very much the movie." "It was a bad movie."
  phalanx classify runs/demo "a charming journey" --json
  phalanx classify runs/demo --input reviews.csv --text-column review --output predictions.csv
  phalanx classify runs/demo --input reviews.jsonl --output predictions.jsonl --batch-size 64
"""
_EVALUATE_EXAMPLES = """\
examples:
  phalanx evaluate runs/demo/adapter --dataset rotten_tomatoes
  phalanx evaluate runs/demo --dataset rotten_tomatoes --split validation --output val.json
  phalanx evaluate runs/demo --dataset labelled.csv --split all --label-column sentiment
"""
_INFO_EXAMPLES = """\
examples:
  phalanx info runs/demo/adapter
  phalanx info runs/demo --json
"""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("adapter", metavar="ADAPTER", nargs="?", help="adapter folder (or run folder)")
    p.add_argument("--batch-size", type=int, metavar="N", help="inference batch size (32)")
    p.add_argument("--device", metavar="DEVICE", help="cpu, cuda, cuda:1, ... (default: cpu)")
    p.add_argument("--max-length", type=int, metavar="N", help="truncation (default: saved)")


def _load(args: argparse.Namespace):
    from ..export import is_export
    from ..inference.classifier import load_classifier

    kwargs: dict[str, Any] = {"device": getattr(args, "device", "cpu")}
    if getattr(args, "max_length", None):
        kwargs["max_length"] = args.max_length
    if is_export(getattr(args, "adapter", None) or ""):  # ONNX Runtime through the Pipeline
        from ..export.classifier import ExportClassifier

        if str(kwargs.pop("device") or "cpu") != "cpu":
            raise CliError(f"{args.adapter} is an ONNX export: it runs on cpu, drop --device")
        clf = ExportClassifier(args.adapter, **kwargs)
    else:
        clf = load_classifier(resolve_adapter(getattr(args, "adapter", None)), **kwargs)
    if getattr(args, "batch_size", None):
        if args.batch_size < 1:
            raise CliError(f"--batch-size must be >= 1, got {args.batch_size}")
        clf.batch_size = args.batch_size
    return clf


# ----------------------------------------------------------------------------- classify


def add_classify(sub, add) -> None:
    p = add(
        sub,
        "classify",
        "classify texts with a trained adapter",
        "Print each text's predicted label and class probabilities, or classify a file "
        "(csv/tsv/json/jsonl/parquet) into a CSV or JSONL file.",
        _CLASSIFY_EXAMPLES,
    )
    _common(p)
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify")
    p.add_argument("--input", metavar="FILE", help="file of texts to classify")
    p.add_argument("--output", metavar="FILE", help="write predictions here (.csv or .jsonl)")
    p.add_argument("--text-column", metavar="NAME", help="column of --input holding the text")
    p.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    p.set_defaults(_run=_cmd_classify)


def _inputs_from_file(path: str, column: str | None, template: str | None) -> tuple[list, list]:
    """(items for the classifier, texts to echo): dicts when the template needs several fields."""
    from ..data import read_table
    from ..data.templates import template_fields
    from ..export.classifier import check_utf8

    check_utf8(path)  # classifying replacement characters would give silent wrong labels
    table = read_table(path)
    fields = list(dict.fromkeys(template_fields(template))) if template else []
    if column is None and len(fields) > 1:
        missing = [f for f in fields if f not in table]
        if missing:
            raise CliError(
                f"{path}: the adapter's template needs columns {fields}; {missing[0]!r} is "
                f"missing (available: {list(table)})"
            )
        items = [
            dict(zip(fields, row, strict=True))
            for row in zip(*(table[f] for f in fields), strict=True)
        ]
        return items, [" | ".join(str(v) for v in it.values()) for it in items]
    column = column or ("text" if "text" in table else fields[0] if fields else "text")
    if column not in table:
        raise CliError(
            f"{path}: no column {column!r}; available columns: {list(table)}. Pass --text-column"
        )
    texts = ["" if v is None else str(v) for v in table[column]]
    return texts, texts


def _cmd_classify(args: argparse.Namespace) -> int:
    texts = list(getattr(args, "texts", []) or [])
    source = getattr(args, "input", None)
    if texts and source:
        raise CliError("give texts on the command line or --input FILE, not both")
    if not texts and not source:
        raise CliError('nothing to classify: give texts ("a charming journey") or --input FILE')
    output = getattr(args, "output", None)
    if output and Path(output).suffix.lower() not in (".csv", ".jsonl"):
        raise CliError(f"--output {output!r}: use a .csv or .jsonl file name")
    clf = _load(args)
    if source:
        items, shown = _inputs_from_file(source, getattr(args, "text_column", None), clf.template)
    else:
        items, shown = texts, texts
    if not items:
        raise CliError(f"{source}: no rows to classify")
    probs = clf.classify(items)
    labels = clf.labels
    rows = []
    for text, p in zip(shown, probs.tolist(), strict=True):
        best = max(range(len(p)), key=p.__getitem__)
        rows.append(
            {
                "text": text,
                "label": labels[best],
                **{f"prob_{n}": round(v, 6) for n, v in zip(labels, p, strict=True)},
            }
        )
    if output:
        _write_rows(Path(output), rows)
        print(f"wrote {len(rows)} predictions to {output}")
    elif getattr(args, "json", False):
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
    else:
        width = max(len(n) for n in labels) + 2
        print(
            f"{'label':<{width}}" + "".join(f"{n:>{max(len(n), 6) + 2}}" for n in labels) + "  text"
        )
        for row in rows:
            cells = "".join(f"{row[f'prob_{n}']:>{max(len(n), 6) + 2}.3f}" for n in labels)
            print(f"{row['label']:<{width}}{cells}  {row['text']}")
    return 0


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        if path.suffix.lower() == ".csv":
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        else:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- evaluate


def add_evaluate(sub, add) -> None:
    p = add(
        sub,
        "evaluate",
        "evaluate an adapter on a labelled dataset",
        "Evaluate on one split of a dataset; print loss, accuracy, confusion matrix, balanced "
        "accuracy, MCC and F1 (peft-sparta's layout) and write them to a JSON file. Column "
        "names, split fractions and seed default to the adapter's training run when the "
        "dataset is the one it was trained on.",
        _EVALUATE_EXAMPLES,
    )
    _common(p)
    p.add_argument("--dataset", metavar="DATA", help="built-in name, file, folder or HF dataset")
    p.add_argument(
        "--split",
        choices=["train", "validation", "test", "all"],
        help="which split (default: test; 'all' = every row)",
    )
    p.add_argument("--text-column", metavar="NAME", help="column holding the text")
    p.add_argument("--text-pair-column", metavar="NAME", help="column holding a second text")
    p.add_argument("--label-column", metavar="NAME", help="column holding the label")
    p.add_argument("--limit", type=int, metavar="N", help="at most N examples per split")
    p.add_argument("--output", metavar="FILE", help="metrics JSON (default: eval-DATA-SPLIT.json)")
    p.set_defaults(_run=_cmd_evaluate)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from ..data import load_data
    from ..training.inputs import render_examples

    clf = _load(args)
    dataset = getattr(args, "dataset", None)
    if not dataset:
        raise CliError("give --dataset (a built-in name, a file or a folder)")
    trained = getattr(clf, "meta", {}).get("training", {})
    same = trained.get("dataset") == dataset

    def opt(key: str, default: Any) -> Any:
        """A flag, else the training run's setting (same dataset only), else the default."""
        value = getattr(args, key, None)
        if value is None and same:
            value = trained.get(key)
        return default if value is None else value

    split = getattr(args, "split", "test")
    splits = load_data(
        dataset,
        text_column=opt("text_column", "text"),
        text_pair_column=opt("text_pair_column", None),
        label_column=opt("label_column", "label"),
        label_names=opt("label_names", None),
        validation_fraction=0.0 if split == "all" else opt("validation_fraction", 0.1),
        test_fraction=0.0 if split == "all" else opt("test_fraction", 0.1),
        seed=opt("seed", 42),
        limit=getattr(args, "limit", None),
    )
    parts = ["train", "validation", "test"] if split == "all" else [split]
    texts, pairs, labels = [], [], []
    for part in parts:
        ds = getattr(splits, part)
        texts += ds.texts
        pairs += ds.pairs or []
        labels += [splits.label_names[y] for y in ds.labels]
    if not texts:
        raise CliError(f"the {split} split of {dataset!r} is empty; choose another --split")
    unknown = sorted(set(labels) - set(clf.labels))
    if unknown:
        if (
            all(name.isdigit() for name in splits.label_names)
            and len(splits.label_names) == clf.num_labels
        ):
            labels = [clf.labels[int(name)] for name in labels]
        else:
            raise CliError(
                f"label {unknown[0]!r} of {dataset!r} is not one of the adapter's labels "
                f"{clf.labels}; check --label-column"
            )
    if pairs and clf.template is None:
        result = _evaluate_pairs(clf, texts, pairs, labels)
    elif pairs:
        rendered, _ = render_examples(clf.template, texts, pairs)
        saved, clf.template = clf.template, None  # already rendered
        try:
            result = clf.evaluate(rendered, labels)
        finally:
            clf.template = saved
    else:
        result = clf.evaluate(texts, labels)
    print(result)
    out = Path(getattr(args, "output", None) or f"eval-{Path(dataset).stem}-{split}.json")
    payload = {"adapter": str(clf.adapter), "dataset": dataset, "split": split, **dict(result)}
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"metrics written to {out}")
    return 0


def _evaluate_pairs(clf, texts: list[str], pairs: list[str], labels: list[str]):
    """Sentence pairs tokenized as pairs (as in training without a template)."""
    import torch

    from ..training.trainer import evaluation_from_logits

    clf._activate()
    out = []
    with torch.inference_mode():
        for i in range(0, len(texts), clf.batch_size):
            enc = clf.tokenizer(
                texts[i : i + clf.batch_size],
                pairs[i : i + clf.batch_size],
                truncation=True,
                max_length=clf.max_length,
                padding=True,
                return_tensors="pt",
            ).to(clf.device)
            out.append(clf.model(**enc).logits.float().cpu())
    y = torch.tensor([clf.labels.index(lab) for lab in labels])
    return evaluation_from_logits(torch.cat(out), y)


# ----------------------------------------------------------------------------- info


def add_info(sub, add) -> None:
    p = add(
        sub,
        "info",
        "describe an adapter folder",
        "Method, base model, trainable parameters, labels, template, size on disk and the "
        "metrics recorded at training time (the model is not loaded).",
        _INFO_EXAMPLES,
    )
    p.add_argument("adapter", metavar="ADAPTER", nargs="?", help="adapter folder (or run folder)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(_run=_cmd_info)


def _cmd_info(args: argparse.Namespace) -> int:
    info = adapter_info(resolve_adapter(getattr(args, "adapter", None)))
    if getattr(args, "json", False):
        print(json.dumps(info, indent=2))
        return 0
    n = info["trainable_parameters"]
    lines = [
        ("adapter", info["adapter"]),
        ("method", info["method"]),
        ("base model", f"{info['base_model']} ({info['model_type']})"),
        ("trainable params", f"{n:,}" if isinstance(n, int) else "unknown"),
        ("labels", ", ".join(info["labels"])),
        ("input template", repr(info["input_template"]) if info["input_template"] else "none"),
        ("max length", info["max_length"] or "model default"),
        ("size on disk", _human(info["size_bytes"])),
    ]
    if info["dataset"]:
        lines.append(("trained on", info["dataset"]))
    metrics = info["metrics"]
    for split in ("validation", "test"):
        m = metrics.get(split) or {}
        if "accuracy" in m:
            f1 = m.get("macro_f1", m.get("macro-F1"))
            extra = f", macro-F1 {f1:.4f}" if f1 is not None else ""
            lines.append((f"{split} accuracy", f"{100 * m['accuracy']:.2f}%{extra}"))
    width = max(len(k) for k, _ in lines) + 1
    for key, value in lines:
        print(f"{key + ':':<{width}} {value}")
    return 0


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
