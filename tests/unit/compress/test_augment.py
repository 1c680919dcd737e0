"""Distillation inputs: word crops and dropouts of the training texts."""

from __future__ import annotations

import pytest

from phalanx.compress.augment import augment_texts

TEXTS = [
    "a gripping , funny and deeply moving film about two brothers",
    "bleak and desperate",
    "dull",
]


def _is_subsequence(small: list[str], big: list[str]) -> bool:
    it = iter(big)
    return all(w in it for w in small)


def test_variants_are_ordered_word_subsets_of_their_text():
    out = augment_texts(TEXTS, copies=3, seed=1)
    assert len(out) == 9  # copy-major: texts 0, 1, 2, then again
    for i, variant in enumerate(out):
        words, source = variant.split(), TEXTS[i % 3].split()
        assert words and _is_subsequence(words, source)
    assert out[2] == out[5] == "dull"  # one word: nothing to crop
    long_variants = {out[0], out[3], out[6]}
    assert len(long_variants) > 1  # each copy crops anew


def test_same_seed_same_variants_other_seed_others():
    assert augment_texts(TEXTS, 2, seed=7) == augment_texts(TEXTS, 2, seed=7)
    assert augment_texts(TEXTS, 2, seed=7) != augment_texts(TEXTS, 2, seed=8)
    assert augment_texts(TEXTS, 0) == []


def test_crops_keep_at_least_min_keep_before_dropout():
    text = " ".join(f"w{i}" for i in range(20))
    out = augment_texts([text] * 200, copies=1, seed=0, min_keep=0.5, word_dropout=0.0)
    lengths = [len(v.split()) for v in out]
    assert min(lengths) >= 10 and max(lengths) <= 20 and len(set(lengths)) > 5


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"copies": -1}, "copies=-1 must be >= 0"),
        ({"copies": 1, "min_keep": 0.0}, r"min_keep=0.0 must be in \(0, 1\]"),
        ({"copies": 1, "word_dropout": 1.0}, r"word_dropout=1.0 must be in \[0, 1\)"),
    ],
)
def test_bad_settings_are_named(kw, match):
    with pytest.raises(ValueError, match=match):
        augment_texts(TEXTS, **kw)
