"""Batch inference on the real all-MiniLM-L6-v2: real sentences streamed through two workers
give the predictions of one in-memory call, in input order."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

pytest.importorskip("pyarrow", reason="needs the data extra: pip install 'phalanx[data]'")
pytestmark = pytest.mark.integration

LABELS = {0: "negative", 1: "positive"}


@pytest.fixture(scope="module")
def minilm_adapter(tmp_path_factory):
    from phalanx import SpaRTAMethodConfig, get_sparta_model, save_sparta_adapter
    from phalanx.models.loading import load_base_classifier

    base = load_base_classifier("minilm-l6", LABELS)
    torch.manual_seed(3)
    sparta = get_sparta_model(copy.deepcopy(base), SpaRTAMethodConfig(density=0.01, seed=3))
    with torch.no_grad():  # non-trivial deltas, so the adapter differs from its base
        for sd in sparta.deltas.values():
            sd.delta.normal_(0, 0.05)
    out = tmp_path_factory.mktemp("minilm") / "adapter"
    return save_sparta_adapter(sparta, out, base_model="minilm-l6")


def test_real_sentences_stream_through_two_workers_as_one_in_memory_call(minilm_adapter, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from phalanx import load_classifier
    from phalanx.batch import classify_file
    from phalanx.data import load_data

    texts = load_data("rotten_tomatoes", limit=1200).test.texts[:600]
    texts[17] = ""  # an empty text is classified (as the API does), not dropped
    ids = list(range(1000, 1000 + len(texts)))
    source = tmp_path / "reviews.parquet"
    pq.write_table(pa.table({"id": ids, "text": texts}), source, row_group_size=100)

    report = classify_file(
        minilm_adapter, source, tmp_path / "scored.parquet", chunk_size=64, workers=2,
        keep_columns=["id"], progress=False,
    )  # fmt: skip
    got = pq.read_table(tmp_path / "scored.parquet").to_pylist()
    want = load_classifier(minilm_adapter).classify(texts).numpy()
    assert report.rows == len(texts) and [r["id"] for r in got] == ids
    probs = np.array([[r["probabilities.negative"], r["probabilities.positive"]] for r in got])
    np.testing.assert_allclose(probs, want, atol=1e-5)
    labels = [LABELS[int(i)] for i in want.argmax(1)]
    assert [r["label"] for r in got] == labels
    assert dict(report.label_counts) == {n: labels.count(n) for n in set(labels)}
