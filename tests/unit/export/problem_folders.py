"""Multi-label and regression adapter folders on tiny random models, without problem-type
training: an adapter is saved over its own labels with a head whose bias sets what it
predicts (small random weights keep texts apart), then its ``phalanx.json`` gets the
``problem`` entry and its ``config.json`` transformers' ``problem_type``, as a training run
of that type writes them. A regression head has one label (one logit column).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch

from phalanx.problems import Problem
from tests.helpers import OPTIONS

TOPICS = ["praise", "complaint", "craft"]
"""The multi-label folders' labels."""
BOTH_TRUE = (4.0, 4.0, -4.0)
"""Head bias of a multi-label folder: praise and complaint near 1 for every text, craft near 0."""
TARGET = "score"
"""The regression folders' one label (the target column's name)."""
SCALE = (50.0, 10.0)
"""A regression folder's target_scale (mean, std): values land near 50, not near 0."""


def problem_adapter(
    base: Path,
    out: Path,
    *,
    labels: Sequence[str],
    problem: Problem,
    bias: Sequence[float],
    method: str = "sparta",
    seed: int = 1,
    meta: dict | None = None,
) -> Path:
    """Save a ``method`` adapter over ``labels`` whose head logits are about ``bias``."""
    from phalanx import get_method
    from phalanx.models.loading import load_base_classifier

    m = get_method(method)
    model = load_base_classifier(str(base), dict(enumerate(labels)))
    wrapped = m.apply(model, m.config_cls.from_dict(OPTIONS[method]))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in wrapped.named_parameters():
            head = "classifier" in name or name.endswith("score.weight")
            if head and name.endswith("bias"):
                p.copy_(torch.tensor(list(bias), dtype=p.dtype))
            elif head:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen).to(p.dtype))
            elif p.requires_grad:
                p.add_(0.2 * torch.randn(p.shape, generator=gen).to(p.dtype))
    m.save(wrapped, out, base_model=str(base), meta={"max_length": 64, **(meta or {})})
    set_problem(out, problem)
    return out


def set_problem(folder: Path, problem: Problem, **dataset_columns: object) -> None:
    """Record ``problem`` (and any ``dataset.columns`` entries) in the folder's metadata."""
    meta_file = folder / "phalanx.json"
    meta = json.loads(meta_file.read_text())
    meta["problem"] = problem.to_meta()
    if dataset_columns:
        dataset = meta.setdefault("dataset", {})
        dataset.setdefault("columns", {}).update(dataset_columns)
    meta_file.write_text(json.dumps(meta, indent=2))
    config_file = folder / "config.json"
    if config_file.is_file():  # peft folders have adapter_config.json only
        config = json.loads(config_file.read_text())
        config["problem_type"] = problem.hf_name
        config_file.write_text(json.dumps(config, indent=2))


def multi_label_adapter(base: Path, out: Path, **kw) -> Path:
    """Labels ``TOPICS``; praise and complaint are true for every text, craft never."""
    problem = Problem("multi_label", thresholds=(0.5,))
    return problem_adapter(base, out, labels=TOPICS, problem=problem, bias=BOTH_TRUE, **kw)


def regression_adapter(base: Path, out: Path, *, scale=SCALE, **kw) -> Path:
    """One label ``TARGET``; values are the logit x std + mean of ``scale``."""
    problem = Problem("regression", target_scale=scale)
    return problem_adapter(base, out, labels=[TARGET], problem=problem, bias=[0.3], **kw)
