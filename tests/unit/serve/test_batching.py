"""MicroBatcher on stand-in models: gathering, limits, failure isolation, cancellation."""

from __future__ import annotations

import asyncio
import threading
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


class Tokens:
    """A runner that tokenizes a text into one token per word and scores by token count,
    recording the padded size (rows x longest) of every forward and how many run at once."""

    def __init__(self, delay: float = 0.0):
        self.forwards: list[tuple[int, int]] = []
        self.delay = delay
        self.running = self.most = 0
        self._lock = threading.Lock()

    def encode(self, rendered):
        return [[1] * len(t.split()) for t in rendered]

    def scores(self, ids):
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(self.delay)
        with self._lock:
            self.running -= 1
            self.forwards.append((len(ids), max(len(r) for r in ids)))
        n = np.array([float(len(r)) for r in ids], dtype=np.float32)
        return np.stack([n, -n], 1)


def tokenized(name: str, runner: Tokens, group: str = "g", exclusive: bool = False):
    model = ServedModel(name, f"/x/{name}", "fake", ["a", "b"], None, group, None, runner=runner)
    model.exclusive = exclusive
    return model


def test_the_token_budget_splits_long_texts_and_fills_a_batch_of_short_ones():
    long, short = Tokens(), Tokens()
    batcher = MicroBatcher(max_batch_size=32, max_wait_ms=100, max_batch_tokens=64)
    jobs = [(tokenized("long", long), [" ".join(["w"] * 30)]) for _ in range(8)]
    out = run(_submit_all(batcher, jobs))
    assert all(float(p[0, 0]) == 30 for p in out)
    assert all(rows * width <= 64 for rows, width in long.forwards)  # 2 texts of 30 a batch
    assert sum(rows for rows, _ in long.forwards) == 8 and len(long.forwards) >= 4
    batcher = MicroBatcher(max_batch_size=32, max_wait_ms=100, max_batch_tokens=64)
    jobs = [(tokenized("short", short), ["two words"]) for _ in range(24)]
    run(_submit_all(batcher, jobs))
    assert short.forwards == [(24, 2)]  # one forward: 24 x 2 tokens fit the budget


def test_several_workers_keep_every_result_with_its_request():
    runner = Tokens(delay=0.02)
    model = tokenized("m", runner)
    jobs = [(model, [" ".join(["w"] * (i % 7 + 1))] * (i % 3 + 1)) for i in range(40)]
    batcher = MicroBatcher(max_batch_size=4, max_wait_ms=1, workers=4)
    out = run(_submit_all(batcher, jobs, stagger=0.001))
    for i, probs in enumerate(out):
        assert probs.shape == (i % 3 + 1, 2) and set(probs[:, 0]) == {i % 7 + 1}
    assert runner.most >= 2  # forwards did overlap


def test_forwards_that_switch_a_shared_base_never_overlap():
    runner = Tokens(delay=0.02)
    a, b = tokenized("a", runner, exclusive=True), tokenized("b", runner, exclusive=True)
    jobs = [((a, b)[i % 2], ["x y"]) for i in range(30)]
    batcher = MicroBatcher(max_batch_size=2, max_wait_ms=1, workers=4, adapter_batching="switch")
    out = run(_submit_all(batcher, jobs, stagger=0.002))
    assert all(isinstance(p, np.ndarray) for p in out)
    assert runner.most == 1 and len(runner.forwards) >= 10


def test_mixed_batches_run_one_forward_for_several_adapters(monkeypatch):
    from phalanx.serve import batching

    calls = []

    class FakeMixed:
        @staticmethod
        def can_mix(models):
            return all(m.group == "g" for m in models)

        @staticmethod
        def writes_weights(models):
            return False

        @staticmethod
        def mixed_classify(models, items):
            calls.append([m.name for m in models])
            return [
                m.runner.scores(m.runner.encode(rows))
                for m, rows in zip(models, items, strict=True)
            ]

    monkeypatch.setattr(batching, "_mixed", lambda: FakeMixed)
    ra, rb = Tokens(), Tokens()
    a, b = tokenized("a", ra, exclusive=True), tokenized("b", rb, exclusive=True)
    jobs = [(a, ["one"]), (b, ["two words"]), (a, ["three words here"])]
    mixed = MicroBatcher(max_batch_size=16, max_wait_ms=50, adapter_batching="mixed")
    out = run(_submit_all(mixed, jobs))
    assert calls == [["a", "b"]]  # one forward for both adapters
    assert [float(p[0, 0]) for p in out] == [1, 2, 3]
    switched = MicroBatcher(max_batch_size=16, max_wait_ms=50, adapter_batching="switch")
    run(_submit_all(switched, jobs))
    assert calls == [["a", "b"]] and len(ra.forwards) == 2  # switch: one forward per adapter


def test_without_the_mixed_module_adapters_are_switched(monkeypatch):
    from phalanx.serve import batching

    monkeypatch.setattr(batching, "_mixed", lambda: None)
    ra, rb = Tokens(), Tokens()
    jobs = [
        (tokenized("a", ra, exclusive=True), ["x"]),
        (tokenized("b", rb, exclusive=True), ["y"]),
    ]
    mixed = MicroBatcher(max_batch_size=16, max_wait_ms=30, adapter_batching="mixed")
    out = run(_submit_all(mixed, jobs))
    assert ra.forwards == [(1, 1)] and rb.forwards == [(1, 1)] and len(out) == 2


def test_the_config_sets_workers_and_the_token_budget():
    from phalanx.serve import ServeConfig
    from phalanx.serve.workers import available_cores

    b = MicroBatcher.from_config(ServeConfig(workers=3, max_batch_tokens=512))
    assert b.workers == 3 and b.max_batch_tokens == 512
    assert MicroBatcher.from_config(ServeConfig()).workers == 1  # on every core
    assert MicroBatcher.from_config(ServeConfig(threads=1)).workers == available_cores()
