"""A 3-class review CSV (``review``, ``stars`` 1/3/5) from the tiny tokenizer's words."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import NEGATIVE, POSITIVE

NEUTRAL = ["serious", "quirky", "commercial", "major", "young", "sometimes"]


def write_reviews(path: Path, n: int = 60) -> Path:
    """``n`` reviews; the stars (1, 3 or 5) follow the adjectives."""
    rows = ["review,stars"]
    for i in range(n):
        words, stars = [(NEGATIVE, 1), (NEUTRAL, 3), (POSITIVE, 5)][i % 3]
        a, b = words[i % len(words)], words[(i * 7) % len(words)]
        rows.append(f"the film was {a} and {b},{stars}")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="session")
def reviews_csv(tmp_path_factory) -> Path:
    return write_reviews(tmp_path_factory.mktemp("reviews") / "reviews.csv")
