"""``load_data``: any labelled source as train / validation / test splits with label names."""

from __future__ import annotations

from pathlib import Path

from ..assets import BUILTIN_DATASETS
from ..errors import InputError
from .builtin import load_builtin
from .splits import DataSplits, build_splits, split_checksum, stratified_take
from .tables import SPLIT_NAMES, read_labelled_source
from .targets import LabelSpec

__all__ = ["load_data"]


def load_data(
    source: str,
    *,
    text_column: str = "text",
    text_pair_column: str | None = None,
    label_column: str = "label",
    label_names: list[str] | None = None,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 42,
    limit: int | None = None,
    min_classes: int = 2,
    problem_type: str | None = None,
    label_columns: list[str] | None = None,
    label_separator: str = "|",
    allow_empty_labels: bool = False,
) -> DataSplits:
    """Load ``source`` as train / validation / test splits.

    ``source``: a built-in dataset name, a .csv/.tsv/.json/.jsonl/.parquet file, a folder of
    train/validation(valid, dev)/test files (or a ``save_to_disk`` folder), or a Hugging Face
    ``datasets`` name. Missing splits are carved from train (stratified, by the fractions of
    train's size). ``limit`` keeps a stratified subset of at most that many rows per split.
    rotten_tomatoes always uses its pinned 80/10/10 split (fractions and seed are ignored).
    ``label_names`` (in id order) read the labels by ``phalanx.data.labels.label_ids``: a
    value equal to a name is that class, an integer is a class id only when no name is a
    number. ``min_classes``: classes the data must hold (1 for data that is only evaluated).

    ``problem_type``: single_label | multi_label | regression (None: inferred from the
    labels, see ``phalanx.data.targets.infer_problem_type``). Multi-label labels are lists
    (JSON, JSONL, Parquet), texts joined by ``label_separator`` (``"billing|bug"``), or one
    0/1 column per label (``label_columns``, whose names are the labels; ``label_column``
    is then unused); ``allow_empty_labels`` lets a text have none. Regression targets are
    numbers; their one label name is ``label_column``.
    """
    fractions = {"validation": validation_fraction, "test": test_fraction}
    if not all(0 <= f < 1 for f in fractions.values()) or sum(fractions.values()) >= 1:
        raise InputError(
            f"validation_fraction ({validation_fraction}) and test_fraction ({test_fraction}) "
            "must each be in [0, 1) and sum to less than 1"
        )
    if limit is not None and limit < 1:
        raise InputError(f"limit must be a positive number of examples per split, got {limit}")
    spec = LabelSpec(problem_type, label_columns, label_separator, allow_empty_labels)
    if source in BUILTIN_DATASETS:
        splits = load_builtin(source, validation_fraction, seed)
        if spec.problem_type and spec.problem_type != splits.problem_type:
            raise InputError(
                f"the built-in {source!r} is {splits.problem_type} data, not "
                f"{spec.problem_type}: drop the problem type"
            )
    else:
        tables, feature_names, hf_kind = read_labelled_source(source, label_column)
        columns = (text_column, text_pair_column, label_column)
        names = label_names or (None if label_columns else feature_names)
        # a Hugging Face label feature says its problem type (a float one: unless classes named)
        classes = names is not None and len(names) > 1
        if spec.problem_type is None and hf_kind and not (hf_kind == "regression" and classes):
            spec = LabelSpec(hf_kind, label_columns, label_separator, allow_empty_labels)
        # a file read whole (nothing carved: data only evaluated) names its rows by itself
        whole = validation_fraction == test_fraction == 0
        file = source if whole and Path(source).expanduser().is_file() else None
        splits = build_splits(
            tables,
            columns,
            names,
            fractions,
            seed,
            source,
            min_classes=min_classes,
            file=file,
            labels=spec,
        )
    if limit is not None:
        for name in SPLIT_NAMES:
            ds = getattr(splits, name)
            if len(ds) > limit:
                take, _ = stratified_take(
                    ds.labels, limit, seed, f"limit-{name}", splits.problem_type
                )
                setattr(splits, name, ds.subset(take))
    splits.checksums = {s: split_checksum(getattr(splits, s)) for s in SPLIT_NAMES}
    return splits
