"""``phalanx serve`` on the real all-MiniLM-L6-v2: two adapters, one base, real sentences."""

from __future__ import annotations

import asyncio
import copy

import numpy as np
import pytest
import torch

pytest.importorskip("fastapi", reason="needs the serve extra: pip install 'phalanx[serve]'")
pytestmark = pytest.mark.integration

LABELS = {0: "negative", 1: "positive"}


def _adapter(base, out, seed: int):
    from phalanx import SpaRTAMethodConfig, get_sparta_model, save_sparta_adapter

    torch.manual_seed(seed)
    sparta = get_sparta_model(copy.deepcopy(base), SpaRTAMethodConfig(density=0.01, seed=seed))
    with torch.no_grad():  # distinct, non-trivial deltas per adapter
        for sd in sparta.deltas.values():
            sd.delta.normal_(0, 0.05)
    return save_sparta_adapter(sparta, out, base_model="minilm-l6")


def test_two_minilm_adapters_share_one_base_and_answer_concurrent_clients(tmp_path):
    import httpx

    from phalanx import load_classifier
    from phalanx.data import load_data
    from phalanx.models.loading import load_base_classifier
    from phalanx.serve import BackgroundServer, ModelRegistry, ServeConfig, create_app
    from phalanx.serve.models import resident_bytes

    texts = load_data("rotten_tomatoes", limit=32).test.texts[:32]
    base_model = load_base_classifier("minilm-l6", LABELS)
    folders = {n: _adapter(base_model, tmp_path / n, seed) for seed, n in enumerate("ab")}
    del base_model
    reg = ModelRegistry.load([f"a={folders['a']}", f"b={folders['b']}"])
    base = resident_bytes([reg.get("a")])  # the base and adapter a
    growth = resident_bytes(reg.models.values()) - base  # what adapter b adds
    assert base > 80e6 and 0 < growth < 0.05 * base, (base, growth)  # ~2 MB on 90 MB

    expected = {n: load_classifier(f).classify(texts).numpy() for n, f in folders.items()}
    assert not np.allclose(expected["a"], expected["b"], atol=1e-3)
    jobs = [("ab"[i % 2], slice(i, i + 1 + i % 3)) for i in range(24)]
    config = ServeConfig(max_batch_size=32, max_wait_ms=20)
    with BackgroundServer(create_app(reg, config)) as srv:

        async def fire():
            async with httpx.AsyncClient(base_url=srv.url, timeout=120) as c:
                return await asyncio.gather(
                    *(c.post("/v1/classify", json={"texts": texts[s], "model": n}) for n, s in jobs)
                )

        responses = asyncio.run(fire())
    for (name, rows), r in zip(jobs, responses, strict=True):
        body = r.json()
        assert r.status_code == 200 and body["labels"] == ["negative", "positive"]
        got = np.array([[x["probabilities"][c] for c in body["labels"]] for x in body["results"]])
        np.testing.assert_allclose(got, expected[name][rows], atol=1e-5)
