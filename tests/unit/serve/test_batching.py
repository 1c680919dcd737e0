"""MicroBatcher on stand-in models: gathering, limits, failure isolation, cancellation."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
import torch

from phalanx.serve import MicroBatcher, QueueFullError, ServedModel


class Recorder:
    """A backend whose probabilities encode each text (len), recording every forward."""

    def __init__(self, delay: float = 0.0, fail_on: str | None = None):
        self.calls: list[list[str]] = []
        self.delay, self.fail_on = delay, fail_on

    def classify(self, items):
        self.calls.append(list(items))
        time.sleep(self.delay)
        if self.fail_on is not None and self.fail_on in items:
            raise ValueError(f"cannot classify {self.fail_on!r}")
        n = torch.tensor([float(len(t)) for t in items])
        return torch.stack([n, -n], 1)


def served(name: str, backend: Recorder) -> ServedModel:
    return ServedModel(name, f"/x/{name}", "fake", ["a", "b"], None, "g", backend)


def run(coro):
    return asyncio.run(coro)


async def _submit_all(batcher, jobs, stagger: float = 0.0):
    batcher.start()
    try:
        tasks = []
        for model, items in jobs:
            tasks.append(asyncio.create_task(batcher.submit(model, items)))
            if stagger:
                await asyncio.sleep(stagger)
        return await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await batcher.stop()


def test_concurrent_requests_are_gathered_up_to_max_batch_size():
    rec = Recorder(delay=0.01)
    model = served("m", rec)
    jobs = [(model, ["x" * (i + 1)]) for i in range(20)]
    out = run(_submit_all(MicroBatcher(max_batch_size=8, max_wait_ms=50), jobs))
    for i, probs in enumerate(out):  # each request gets its own rows back
        np.testing.assert_array_equal(probs, [[i + 1, -(i + 1)]])
    sizes = [len(c) for c in rec.calls]
    assert sum(sizes) == 20 and max(sizes) <= 8
    assert len(sizes) <= 4, sizes  # 20 texts in batches of 8: 3 forwards, not 20


def test_without_batching_every_request_runs_alone():
    rec = Recorder()
    model = served("m", rec)
    jobs = [(model, ["x", "yy"]) for _ in range(6)]
    out = run(_submit_all(MicroBatcher(max_batch_size=32, max_wait_ms=50, enabled=False), jobs))
    assert [len(c) for c in rec.calls] == [2] * 6
    assert all(p.shape == (2, 2) for p in out)


def test_a_request_larger_than_the_batch_runs_whole_and_alone():
    rec = Recorder()
    model = served("m", rec)
    out = run(_submit_all(MicroBatcher(max_batch_size=4, max_wait_ms=20), [(model, ["x"] * 10)]))
    assert out[0].shape == (10, 2) and [len(c) for c in rec.calls] == [10]


def test_one_failing_request_fails_alone():
    rec = Recorder(fail_on="BOOM")
    model = served("m", rec)
    jobs = [(model, ["ok"]), (model, ["BOOM"]), (model, ["fine", "too"])]
    out = run(_submit_all(MicroBatcher(max_batch_size=16, max_wait_ms=30), jobs))
    assert isinstance(out[1], ValueError) and "BOOM" in str(out[1])
    np.testing.assert_array_equal(out[0], [[2, -2]])
    np.testing.assert_array_equal(out[2], [[4, -4], [3, -3]])
    assert len(rec.calls) == 4  # the batch, then each request alone


def test_requests_for_different_adapters_run_as_one_forward_each():
    a, b = Recorder(), Recorder()
    ma, mb = served("a", a), served("b", b)
    jobs = [(ma, ["1"]), (mb, ["22"]), (ma, ["333"]), (mb, ["4444"])]
    out = run(_submit_all(MicroBatcher(max_batch_size=16, max_wait_ms=30), jobs))
    assert a.calls == [["1", "333"]] and b.calls == [["22", "4444"]]
    assert [float(p[0, 0]) for p in out] == [1, 2, 3, 4]


def test_cancelled_requests_are_skipped_and_the_loop_goes_on():
    rec = Recorder()
    model = served("m", rec)

    async def scenario():
        batcher = MicroBatcher(max_batch_size=8, max_wait_ms=100)
        batcher.start()
        gone = asyncio.create_task(batcher.submit(model, ["gone"]))
        await asyncio.sleep(0.01)
        gone.cancel()  # a client that disconnected while waiting for its batch
        kept = await batcher.submit(model, ["kept"])
        await batcher.stop()
        return kept

    kept = run(scenario())
    assert rec.calls == [["kept"]] and kept.shape == (1, 2)


def test_a_full_queue_refuses_with_queue_full_error():
    rec = Recorder(delay=0.2)
    model = served("m", rec)
    jobs = [(model, ["x"]) for _ in range(6)]
    out = run(_submit_all(MicroBatcher(max_batch_size=1, max_wait_ms=0, max_queue=2), jobs))
    refused = [r for r in out if isinstance(r, QueueFullError)]
    assert refused and "max_queue=2" in str(refused[0])
    assert sum(isinstance(r, np.ndarray) for r in out) >= 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_batch_size": 0}, "max_batch_size must be >= 1"),
        ({"max_wait_ms": -1}, "max_wait_ms must be >= 0"),
        ({"max_queue": 0}, "max_queue must be >= 1"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MicroBatcher(**kwargs)
