"""The multi-label and regression built-ins on their real carrier files: sizes, figures and
the pinned split checksums (skipped when not downloaded)."""

from __future__ import annotations

import statistics
import time

import pytest

from phalanx.data import builtin, load_data
from phalanx.data.builtin_extra import MESH_CHECK_TAGS

pytestmark = pytest.mark.integration

SPLITS = ("train", "validation", "test")


def _need(*names: str) -> None:
    from phalanx.assets import list_datasets

    have = {d["name"] for d in list_datasets() if d["installed"]}
    if not set(names) <= have:
        pytest.skip(f"run `phalanx assets download {' '.join(names)}`")


def _sizes(splits) -> dict[str, int]:
    return {s: len(getattr(splits, s)) for s in SPLITS}


def test_pubmed_mesh_pinned_multi_label_split() -> None:
    _need("pubmed_mesh")
    s = load_data("pubmed_mesh")  # parses the XML once (a few seconds), then reads the cache
    assert s.problem_type == "multi_label" and s.checksums == builtin.PUBMED_MESH_CHECKSUMS
    assert (
        _sizes(s) == builtin.PUBMED_MESH_SIZES == {"train": 8129, "validation": 1016, "test": 1016}
    )
    assert len(s.label_names) == 50 and s.label_names == sorted(s.label_names)
    assert not set(s.label_names) & MESH_CHECK_TAGS
    labels = [y for split in SPLITS for y in getattr(s, split).labels]
    assert all(y and list(y) == sorted(set(y)) for y in labels)  # sorted ids, never empty
    assert statistics.mean(map(len, labels)) == pytest.approx(1.87, abs=0.01)
    for split in SPLITS:  # iterative stratification: every label in every split
        assert {i for y in getattr(s, split).labels for i in y} == set(range(50))
    assert s.train.texts[0].split()[0] and s.train.pairs is None
    start = time.perf_counter()
    assert load_data("pubmed_mesh").checksums == s.checksums
    assert time.perf_counter() - start < 5  # the cached table, not the XML


def test_rotten_tomatoes_scores_are_rotten_tomatoes_sentences() -> None:
    _need("rotten_tomatoes", "rotten_tomatoes_scores")
    scores, polarity = load_data("rotten_tomatoes_scores"), load_data("rotten_tomatoes")
    assert scores.problem_type == "regression" and scores.label_names == ["score"]
    assert scores.checksums == builtin.ROTTEN_TOMATOES_SCORES_CHECKSUMS
    assert _sizes(scores) == _sizes(polarity) == builtin.ROTTEN_TOMATOES_SIZES
    agree = 0
    for split in SPLITS:
        a, b = getattr(polarity, split), getattr(scores, split)
        assert b.texts == a.texts  # the same sentences in the same order
        agree += sum((v > 0) == (c == 1) for v, c in zip(b.labels, a.labels, strict=True))
    every = [v for split in SPLITS for v in getattr(scores, split).labels]
    assert all(isinstance(v, float) for v in every)
    assert -3.9 < min(every) < -3.8 and 3.9 < max(every) < 4.0
    assert agree / len(every) > 0.9  # a positive mean rating for the positive sentences


def test_lee_similarity_pinned_pair_regression_split() -> None:
    _need("lee_similarity")
    s = load_data("lee_similarity")
    assert s.problem_type == "regression" and s.label_names == ["similarity"]
    assert s.checksums == builtin.LEE_SIMILARITY_CHECKSUMS
    assert _sizes(s) == builtin.LEE_SIMILARITY_SIZES and sum(_sizes(s).values()) == 1225
    every = [v for split in SPLITS for v in getattr(s, split).labels]
    assert min(every) == pytest.approx(0.2) and max(every) == pytest.approx(1.0)
    assert all(ds.pairs is not None for ds in (s.train, s.validation, s.test))
    docs = {t for split in SPLITS for ds in [getattr(s, split)] for t in ds.texts + ds.pairs}
    assert len(docs) == 50


@pytest.mark.parametrize("name", ["pubmed_mesh", "rotten_tomatoes_scores", "lee_similarity"])
def test_checksum_guard_names_the_fix(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _need(name)
    monkeypatch.setitem(builtin.PINNED_CHECKSUMS[name], "test", "0" * 64)
    with pytest.raises(RuntimeError, match=f"differs from the pinned.*assets download {name}"):
        load_data(name)
