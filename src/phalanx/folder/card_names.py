"""How model cards name things: the Hub ids of built-ins, method and problem wording, and
the portable spelling of paths saved folders record (``portable_path``).

>>> portable_path("runs/reviews"), portable_path("/home/me/runs/reviews")
('runs/reviews', 'reviews')
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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


def mapping_at(data: Mapping[str, Any], key: str, *default: Any) -> Any:
    """``data[key]`` when it is a mapping (metadata read from a user's files may hold
    anything), else ``default`` (a new empty dict when none is given)."""
    value = data.get(key)
    if isinstance(value, Mapping):
        return value
    return default[0] if default else {}
