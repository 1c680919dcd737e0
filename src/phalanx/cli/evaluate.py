"""``phalanx evaluate``: metrics of an adapter on one split of a labelled dataset."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .args import CliError
from .common import AddParser, add_adapter_options, load_for_cli

__all__ = ["add"]

_HELP = "evaluate an adapter on a labelled dataset"
_DESCRIPTION = (
    "Evaluate on one split of a dataset; print loss, accuracy, confusion matrix, balanced "
    "accuracy, MCC and F1 (peft-sparta's layout) and write them to a JSON file. Column "
    "names, split fractions and seed default to the adapter's training run when the "
    "dataset is the one it was trained on."
)
_EXAMPLES = """\
examples:
  phalanx evaluate runs/demo/adapter --dataset rotten_tomatoes
  phalanx evaluate runs/demo --dataset rotten_tomatoes --split validation --output val.json
  phalanx evaluate runs/demo --dataset labelled.csv --split all --label-column sentiment
"""


def add(sub: argparse._SubParsersAction, add_parser: AddParser) -> None:
    """Register ``phalanx evaluate``."""
    add_parser(sub, "evaluate", _HELP, _DESCRIPTION, _EXAMPLES, run=_cmd_evaluate, build=_arguments)


def _arguments(p: argparse.ArgumentParser) -> None:
    add_adapter_options(p)
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


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from ..data import load_data
    from ..training.inputs import render_examples

    clf = load_for_cli(args)
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

    from ..inference.metrics import evaluation_from_logits

    y = torch.tensor([clf.labels.index(lab) for lab in labels])
    return evaluation_from_logits(clf._pair_logits(texts, pairs), y)
