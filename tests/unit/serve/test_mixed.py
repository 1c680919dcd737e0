"""Mixed-adapter batches give each adapter's own scores, whatever else shares the forward."""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest
import torch

from phalanx.serve.mixed import can_mix, mixed_classify, why_not_mixed
from tests.helpers import SENTENCES

SPARTA = ("pos", "topic", "tags", "rating")
LORA = ("lora1", "lora2", "tags_lora")
TEXTS = [*SENTENCES, "the movie was great and fun", "boring", "", "a very, very long " * 6]


@pytest.fixture(scope="module")
def reg(adapters, problem_adapters):
    from phalanx.serve import ModelRegistry

    folders = {**adapters, **problem_adapters}
    return ModelRegistry.load([f"{n}={folders[n]}" for n in (*SPARTA, *LORA)], batch_size=4)


def _split(names, seed):
    """Random inputs for each model (some get none), as a batcher would gather them."""
    rng = random.Random(seed)
    return [[rng.choice(TEXTS) for _ in range(rng.randint(0, 6))] for _ in names]


def _alone(reg, names, items):
    return [reg.get(n).classify(x) if x else None for n, x in zip(names, items, strict=True)]


def _check(reg, names, items, got):
    for name, x, want, out in zip(names, items, _alone(reg, names, items), got, strict=True):
        model = reg.get(name)
        assert out.dtype == np.float32
        assert out.shape == (len(x), len(model.labels)), name
        if want is not None:
            np.testing.assert_allclose(out, want, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("names", [SPARTA, LORA], ids=["sparta", "lora"])
def test_mixed_batches_equal_each_adapter_alone(reg, names):
    models = [reg.get(n) for n in names]
    assert len({m.group for m in models}) == 1, "the fixtures share one base per method"
    assert can_mix(models), why_not_mixed(models)
    for seed in range(4):
        order = list(names)
        random.Random(seed).shuffle(order)  # any order of models in the call
        items = _split(order, seed)
        _check(reg, order, items, mixed_classify([reg.get(n) for n in order], items))


def test_label_sets_and_problem_types_in_one_batch(reg):
    """2 labels, 3 labels (with a template), multi-label and a regression value together."""
    items = [["a charming journey", "bleak"]] * len(SPARTA)
    got = mixed_classify([reg.get(n) for n in SPARTA], items)
    assert [g.shape[1] for g in got] == [2, 3, 3, 1]
    np.testing.assert_allclose(got[0].sum(1), 1, atol=1e-6)  # softmax
    assert (got[2] > 0.5).any() and (got[2] < 0.5).any()  # independent sigmoids (a/b on, c off)
    _check(reg, SPARTA, items, got)


def test_alone_after_mixed_is_unchanged(reg):
    """A mixed call leaves no adapter's deltas or heads behind for the switching path."""
    before = {n: reg.get(n).classify(TEXTS) for n in (*SPARTA, *LORA)}
    for names in (SPARTA, LORA):
        mixed_classify([reg.get(n) for n in names], [TEXTS] * len(names))
    for n, want in before.items():
        np.testing.assert_array_equal(reg.get(n).classify(TEXTS), want, err_msg=n)


def test_concurrent_mixed_calls_agree(reg):
    names = [*SPARTA, *SPARTA[:2]]  # a model twice: two requests lists of one adapter
    results: dict[tuple[int, int], list[np.ndarray]] = {}
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for k in range(3):
                group = SPARTA if (t + k) % 2 else LORA
                items = _split(group, 10 * t + k)
                results[t, k] = (group, items, mixed_classify([reg.get(n) for n in group], items))
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for group, items, got in results.values():
        _check(reg, group, items, got)
    assert mixed_classify([reg.get(n) for n in names], [["good"]] * len(names))[4].shape == (1, 2)


def _base_bits(model):
    return {n: p.detach().clone().view(-1).view(torch.int32) for n, p in model.named_parameters()}


def test_mixed_calls_leave_the_shared_weights_bit_identical(reg):
    """Each adapter's deltas are written into the shared weights for its rows only and copied
    back exactly, so whatever runs next on the base finds it as it was."""
    models = [reg.get(n) for n in SPARTA]
    mixed_classify(models, [TEXTS] * len(models))  # deactivates a switched-in adapter first
    base = models[0].backend.model
    before = _base_bits(base)
    for seed in range(2):
        mixed_classify(models, _split(SPARTA, seed))
    after = _base_bits(base)
    assert after.keys() == before.keys()
    for name, bits in before.items():
        assert torch.equal(after[name], bits), name


def test_concurrent_sparta_mixed_calls_and_a_switching_one_agree(reg):
    """Mixed calls write deltas into the shared weights while they run: two threads of mixed
    calls and one of switching calls (wrapped in ``exclusive``) still get their own scores."""
    from phalanx.serve.mixed import exclusive, writes_weights

    models = [reg.get(n) for n in SPARTA]
    assert writes_weights(models) and not writes_weights([reg.get(n) for n in LORA])
    work = {t: [_split(SPARTA, 100 + 10 * t + k) for k in range(4)] for t in range(2)}
    want = {t: [_alone(reg, SPARTA, items) for items in runs] for t, runs in work.items()}
    alone = reg.get("topic").classify(TEXTS)
    got: dict[int, list] = {}
    switched: list[np.ndarray] = []
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def mix(t: int) -> None:
        try:
            start.wait()
            got[t] = [mixed_classify(models, items) for items in work[t]]
        except BaseException as err:
            errors.append(err)

    def switch() -> None:
        try:
            start.wait()
            for _ in range(4):
                with exclusive(reg.get("topic")):
                    switched.append(reg.get("topic").classify(TEXTS))
        except BaseException as err:
            errors.append(err)

    threads = [*(threading.Thread(target=mix, args=(t,)) for t in range(2))]
    threads.append(threading.Thread(target=switch))
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    for t, runs in work.items():
        for items, expected, out in zip(runs, want[t], got[t], strict=True):
            for x, w, o in zip(items, expected, out, strict=True):
                assert o.shape[0] == len(x)
                if w is not None:
                    np.testing.assert_allclose(o, w, atol=1e-5)
    for s in switched:
        np.testing.assert_allclose(s, alone, atol=1e-6)


def test_what_cannot_mix(reg, adapters, tmp_path):
    from phalanx.serve import ModelRegistry

    assert not can_mix([reg.get("pos"), reg.get("lora1")])  # two methods, two bases
    apart = ModelRegistry.load(
        [f"pos={adapters['pos']}", f"topic={adapters['topic']}"], share_base=False
    )
    assert "share one loaded base" in why_not_mixed(list(apart.models.values()))
    assert not can_mix([])
    with pytest.raises(ValueError, match="cannot share mixed batches"):
        mixed_classify([reg.get("pos"), reg.get("lora1")], [["a"], ["b"]])


def test_an_export_cannot_mix(reg, adapters, tmp_path):
    pytest.importorskip("onnxruntime")
    from phalanx.export import export_onnx
    from phalanx.serve import ModelRegistry

    export_path = export_onnx(adapters["pos"], tmp_path / "onnx")
    both = ModelRegistry.load([f"pos={adapters['pos']}", f"onnx={export_path}"])
    assert not can_mix(list(both.models.values()))


def test_padding_batches_split_lengths_apart_and_keep_every_row():
    from phalanx.serve.mixed import padding_batches

    lengths = [60, 8, 9, 58, 10, 61, 7, 59]
    # one forward would pad the short rows to 61: two forwards by length save more
    batches = padding_batches(lengths, 32, forward_tokens=96)
    assert [sorted(lengths[i] for i in b) for b in batches] == [[7, 8, 9, 10], [58, 59, 60, 61]]
    # similar lengths: the padding saved does not pay for another forward
    assert padding_batches([20, 21, 22, 23], 32, forward_tokens=96) == [[0, 1, 2, 3]]
    for size, budget in ((3, None), (32, 120)):
        batches = padding_batches(lengths, size, max_tokens=budget, forward_tokens=0)
        assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
        assert all(len(b) <= size for b in batches)
        if budget:
            assert all(len(b) * max(lengths[i] for i in b) <= budget for b in batches)
    with pytest.raises(ValueError, match="batch_size"):
        padding_batches(lengths, 0)
