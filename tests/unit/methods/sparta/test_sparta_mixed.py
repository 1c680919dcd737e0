"""The SpaRTA mixed forward: base once, each adapter's deltas (Linear, bias, LayerNorm,
embedding) and head on its rows only, equal to merging that adapter's deltas."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn

from phalanx.methods.sparta.mixed import (
    AdapterDeltas,
    MixedRoute,
    install_hooks,
    mixed_route,
    unsupported_reason,
)


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 8)
        self.lin = nn.Linear(8, 8)
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, 2)

    def forward(self, ids):
        return self.head(self.norm(self.lin(self.emb(ids))).mean(1))


def _sparse(model, names, gen):
    params = dict(model.named_parameters())
    out = {}
    for name in names:
        p = params[name]
        flat = torch.randperm(p.numel(), generator=gen)[: max(1, p.numel() // 10)].sort().values
        out[name] = (p, flat, torch.randn(flat.numel(), generator=gen))
    return out


def _merged(model, sparse, head):
    m = copy.deepcopy(model)
    params = dict(m.named_parameters())
    with torch.no_grad():
        for name, (_, flat, delta) in sparse.items():
            params[name].view(-1).index_add_(0, flat, delta)
    m.head = head
    return m


@pytest.mark.parametrize(
    "names",
    [["lin.weight"], ["lin.weight", "lin.bias", "norm.weight", "norm.bias", "emb.weight"]],
    ids=["linear-weights", "every-kind"],
)
def test_each_rows_get_their_adapters_deltas_and_head(names):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    base = _Tiny().eval()
    adapters, refs = [], []
    for width in (2, 3, 1):  # heads of other label counts in one batch
        sparse = _sparse(base, names, gen)
        head = nn.Linear(8, width)
        assert unsupported_reason(base, sparse) is None
        adapters.append(AdapterDeltas(base, sparse, {"head": head}))
        refs.append(_merged(base, sparse, head))
    install_hooks([*{m for a in adapters for m in a.modules}, base.head])
    ids = torch.randint(0, 20, (7, 5), generator=gen)
    spans = [(1, 0, 2), (0, 2, 5), (2, 5, 7)]
    with torch.inference_mode():
        plain = base(ids)
        with mixed_route(MixedRoute(base, adapters, spans, 7, {base.head: "head"})):
            out = base(ids)
        assert torch.equal(base(ids), plain)  # outside the route: the base as it was
    assert out.shape == (7, 3)
    for a, start, end in spans:
        width = refs[a].head.out_features
        want = refs[a](ids[start:end]).detach()
        torch.testing.assert_close(out[start:end, :width], want, atol=1e-5, rtol=0)
        assert not out[start:end, width:].any()  # padding, never another adapter's logits


def test_deltas_on_other_modules_are_refused():
    model = nn.Sequential(nn.Conv1d(2, 2, 1))
    sparse = {"0.weight": (model[0].weight, torch.tensor([0]), torch.tensor([1.0]))}
    assert "Conv1d" in unsupported_reason(model, sparse)


class _Masked(nn.Module):
    """Pools the real tokens only, as a transformer's attention mask makes it do."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 8)
        self.lin = nn.Linear(8, 8)
        self.head = nn.Linear(8, 2)

    def forward(self, ids, mask):
        h = self.lin(self.emb(ids)) * mask[..., None]
        return self.head(h.sum(1) / mask.sum(1, keepdim=True))


@pytest.mark.parametrize("side", ["right", "left"])
def test_padded_rows_match_each_adapter_alone_unpadded(side):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(2)
    base = _Masked().eval()
    sparse = [_sparse(base, ["lin.weight", "lin.bias"], gen) for _ in range(2)]
    heads = [nn.Linear(8, 2) for _ in range(2)]
    adapters = [AdapterDeltas(base, s, {"head": h}) for s, h in zip(sparse, heads, strict=True)]
    install_hooks([base.lin, base.head])
    lengths = [2, 6, 3, 1, 4]
    ids = torch.randint(1, 20, (5, 6), generator=gen)
    mask = torch.zeros(5, 6)
    for row, n in enumerate(lengths):
        mask[row, :n] = 1
    if side == "left":
        mask = mask.flip(1)
    spans = [(0, 0, 2), (1, 2, 5)]
    with torch.inference_mode():
        route = MixedRoute(base, adapters, spans, 5, {base.head: "head"}, mask.bool())
        with mixed_route(route):
            out = base(ids, mask)
    for a, start, end in spans:
        ref = _merged(base, sparse[a], heads[a])
        for row in range(start, end):
            real = mask[row].bool()
            want = ref(ids[row : row + 1, real], torch.ones(1, int(real.sum()))).detach()
            torch.testing.assert_close(out[row : row + 1], want, atol=1e-5, rtol=0)


def _state(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _assert_bitwise_equal(model, before):
    for n, p in model.named_parameters():
        bits = p.detach().view(torch.int32)  # bit for bit (not only ==: -0.0, NaN)
        assert torch.equal(bits, before[n].view(torch.int32)), f"{n} changed"


def _linear_setup():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(3)
    base = _Tiny().eval()
    adapters = [
        AdapterDeltas(
            base, _sparse(base, ["lin.weight", "lin.bias"], gen), {"head": nn.Linear(8, 2)}
        )
        for _ in range(3)
    ]
    install_hooks([base.lin, base.head])
    ids = torch.randint(0, 20, (6, 5), generator=gen)
    route = MixedRoute(base, adapters, [(0, 0, 2), (1, 2, 3), (2, 3, 6)], 6, {base.head: "head"})
    return base, ids, route


def test_weights_after_a_mixed_forward_are_bit_identical():
    """The deltas written into the shared weights for each adapter's rows are copied back
    exactly: the base serves the next request (mixed or not) as it was."""
    base, ids, route = _linear_setup()
    before = _state(base)
    with torch.inference_mode():
        plain = base(ids)
        with mixed_route(route):
            mixed = base(ids)
    _assert_bitwise_equal(base, before)
    assert not torch.equal(mixed[:, :2], plain)  # the deltas did act on the rows
    with torch.inference_mode():
        assert torch.equal(base(ids), plain)


def test_weights_are_restored_when_a_product_fails(monkeypatch):
    import phalanx.methods.sparta.mixed as mixed

    base, ids, route = _linear_setup()
    before = _state(base)

    def broken(*args):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(mixed, "_product", broken)
    with (
        torch.inference_mode(),
        pytest.raises(RuntimeError, match="out of memory"),
        mixed_route(route),
    ):
        base(ids)
    _assert_bitwise_equal(base, before)
