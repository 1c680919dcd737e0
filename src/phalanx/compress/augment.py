"""Extra distillation inputs: word-level crops and dropouts of the training texts.

A distilled student learns from the teacher's outputs, so any plausible input is a lesson,
whatever its label. Short crops of a review sentence are such inputs (sub-phrases carry
sentiment of their own, as in SST's phrase labels), and the teacher labels them. This is
the cheap end of TinyBERT-style augmentation (Jiao et al., 2020), with no second model.

>>> augment_texts(["a gripping , funny and moving film"], copies=1, seed=0)  # doctest: +SKIP
['gripping , funny and film']
"""

from __future__ import annotations

import random
from collections.abc import Sequence

__all__ = ["augment_texts"]


def augment_texts(
    texts: Sequence[str],
    copies: int,
    seed: int = 0,
    *,
    min_keep: float = 0.5,
    word_dropout: float = 0.1,
) -> list[str]:
    """``copies`` variants of every text, all first copies first (text order within each).

    A variant keeps a random contiguous span of at least ``min_keep`` of the words, then
    drops each kept word with probability ``word_dropout`` (never all of them). Texts of
    one word come back unchanged. The same ``seed`` gives the same variants.
    """
    if copies < 0:
        raise ValueError(f"copies={copies} must be >= 0 (0 = no augmentation)")
    if not 0.0 < min_keep <= 1.0:
        raise ValueError(f"min_keep={min_keep} must be in (0, 1]")
    if not 0.0 <= word_dropout < 1.0:
        raise ValueError(f"word_dropout={word_dropout} must be in [0, 1)")
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(copies):
        for text in texts:
            words = text.split()
            if len(words) < 2:
                out.append(text)
                continue
            span = rng.randint(max(1, round(min_keep * len(words))), len(words))
            start = rng.randint(0, len(words) - span)
            kept = [w for w in words[start : start + span] if rng.random() >= word_dropout]
            out.append(" ".join(kept or words[start : start + span]))
    return out
