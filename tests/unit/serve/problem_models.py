"""Multi-label and regression adapter folders on the tiny BERT, without problem-type training.

An adapter is saved with its own labels and a head whose bias sets what it predicts
(small random weights keep the texts apart), then its ``phalanx.json`` gets the ``problem``
entry (and its ``config.json`` transformers' ``problem_type``, where the folder's format
takes one) -- what a multi_label / regression training run writes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch

from phalanx.problems import Problem
from tests.helpers import OPTIONS


def problem_adapter(
    base: Path,
    out: Path,
    *,
    method: str,
    labels: Sequence[str],
    problem: Problem,
    bias: Sequence[float],
    seed: int = 1,
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
            if not p.requires_grad:
                continue
            if "classifier" in name and name.endswith("bias"):
                p.copy_(torch.tensor(list(bias), dtype=p.dtype))
            elif "classifier" in name and name.endswith("weight"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen).to(p.dtype))
            else:
                p.add_(0.2 * torch.randn(p.shape, generator=gen).to(p.dtype))
    m.save(wrapped, out, base_model=str(base), meta={"max_length": 64})
    set_problem(out, problem)
    return out


def set_problem(folder: Path, problem: Problem) -> None:
    """Record ``problem`` in the folder's metadata, as a training run of that type does."""
    meta_file = folder / "phalanx.json"
    meta = json.loads(meta_file.read_text())
    meta["problem"] = problem.to_meta()
    meta_file.write_text(json.dumps(meta, indent=2))
    config_file = folder / "config.json"
    if not config_file.is_file():  # a peft folder: adapter_config.json has no problem type
        return
    config = json.loads(config_file.read_text())
    config["problem_type"] = problem.hf_name
    config_file.write_text(json.dumps(config, indent=2))
