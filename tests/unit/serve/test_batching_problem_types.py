"""MicroBatcher over models of different problem types in one group: one forward per model,
each request gets rows of its own model's shape, a wrong shape fails only its model."""

from __future__ import annotations

import asyncio

import numpy as np

from phalanx.errors import ModelOutputError
from phalanx.problems import Problem
from phalanx.serve import MicroBatcher, ServedModel


class Columns:
    """A backend giving ``width`` columns per text, each text's row encoding it (len)."""

    def __init__(self, width: int, tag: float, extra: int = 0):
        self.width, self.tag, self.extra = width, tag, extra
        self.calls: list[int] = []

    def classify(self, items):
        self.calls.append(len(items))
        n = np.array([[float(len(t))] for t in items], dtype=np.float32)
        return np.tile(n + self.tag, (1, self.width + self.extra))


def _model(name: str, labels: list[str], problem: Problem, backend: Columns) -> ServedModel:
    return ServedModel(name, f"/x/{name}", "fake", labels, None, "g", backend, problem)


async def _submit_all(batcher, jobs):
    batcher.start()
    try:
        calls = [batcher.submit(m, items) for m, items in jobs]
        return await asyncio.gather(*calls, return_exceptions=True)
    finally:
        await batcher.stop()


def test_one_batch_of_three_problem_types_keeps_each_models_shape():
    single = _model("single", ["x", "y"], Problem(), Columns(2, 0.0))
    multi = _model("multi", ["a", "b", "c"], Problem("multi_label"), Columns(3, 100.0))
    value = _model("value", ["score"], Problem("regression"), Columns(1, 200.0))
    models = [single, multi, value]
    jobs = [(models[i % 3], ["t" * (i + 1)] * (1 + i % 2)) for i in range(12)]
    out = asyncio.run(_submit_all(MicroBatcher(max_batch_size=64, max_wait_ms=100), jobs))
    for (model, items), got in zip(jobs, out, strict=True):
        width = len(model.labels)
        assert got.shape == (len(items), width), model.name
        want = np.full((len(items), width), len(items[0]) + model.backend.tag)
        np.testing.assert_array_equal(got, want)
    for m in models:  # gathered: one forward per model, not one per request
        assert len(m.backend.calls) == 1 and sum(m.backend.calls) == 6


def test_a_model_giving_another_shape_fails_its_own_requests_only():
    good = _model("good", ["score"], Problem("regression"), Columns(1, 0.0))
    bad = _model("bad", ["a", "b"], Problem("multi_label"), Columns(2, 0.0, extra=1))
    jobs = [(good, ["x"]), (bad, ["y"]), (good, ["zz"]), (bad, ["w"])]
    out = asyncio.run(_submit_all(MicroBatcher(max_batch_size=64, max_wait_ms=50), jobs))
    assert out[0].shape == out[2].shape == (1, 1)
    for err in (out[1], out[3]):
        assert isinstance(err, ModelOutputError)
        assert "model bad returned scores of shape (1, 3)" in str(err)
    (alone,) = asyncio.run(_submit_all(MicroBatcher(), [(bad, ["y", "v"])]))
    assert isinstance(alone, ModelOutputError) and "expected (2, 2)" in str(alone)
