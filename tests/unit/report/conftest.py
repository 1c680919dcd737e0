"""Tiny trained runs the report tests share (each trains once per session, in seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from phalanx.training import train
from tests.helpers import config, write_ratings, write_topics, write_toy_csv

# every 7th row's label flipped: a model that learns the words makes confident mistakes there
NOISE_EVERY = 7


def write_noisy_toy(path: Path, n: int = 200) -> Path:
    """``write_toy_csv`` with the label of every ``NOISE_EVERY``-th row flipped."""
    write_toy_csv(path, n)
    lines = path.read_text().splitlines()
    out = [lines[0]]
    for i, line in enumerate(lines[1:]):
        text, label = line.rsplit(",", 1)
        out.append(f"{text},{1 - int(label) if i % NOISE_EVERY == 3 else label}")
    path.write_text("\n".join(out) + "\n")
    return path


@pytest.fixture(scope="session")
def report_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("report")


@pytest.fixture(scope="session")
def toy_data(report_root) -> Path:
    return write_noisy_toy(report_root / "toy.csv")


def _train(base: Path, data: Path, out: Path, **kw) -> Path:
    opts = dict(method="full", method_options={}, lr=3e-3, epochs=3)
    opts.update(test_fraction=0.2, eval_batch_size=32)
    opts.update(kw)
    train(config(base, data, out, **opts))
    return out


@pytest.fixture(scope="session")
def tiny_run(tiny_base, toy_data, report_root) -> Path:
    """A finished single-label run folder (a full fine-tune; 40 test examples, 82% right:
    some labels are flipped)."""
    return _train(tiny_base("bert"), toy_data, report_root / "runs" / "full")


@pytest.fixture(scope="session")
def sparta_run(tiny_base, toy_data, report_root) -> Path:
    """A second run on the same data and split (SpaRTA, far fewer trainable parameters)."""
    options = {"method": "sparta", "method_options": {"density": 0.1}, "lr": 3e-2, "epochs": 1}
    return _train(tiny_base("bert"), toy_data, report_root / "runs" / "sparta", **options)


@pytest.fixture(scope="session")
def multi_run(tiny_base, report_root) -> Path:
    """A multi-label run on toy topics (labels complaint, craft, praise)."""
    data = write_topics(report_root / "topics.jsonl", 120)
    out = report_root / "runs" / "multi"
    return _train(tiny_base("bert"), data, out, label_column="labels", epochs=2)


@pytest.fixture(scope="session")
def regression_run(tiny_base, report_root) -> Path:
    """A regression run on toy ratings (target ``score``)."""
    data = write_ratings(report_root / "ratings.csv", 120)
    out = report_root / "runs" / "ratings"
    return _train(tiny_base("bert"), data, out, label_column="score", epochs=2)
