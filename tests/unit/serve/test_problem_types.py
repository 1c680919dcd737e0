"""Multi-label and regression models served over HTTP, alone and beside single-label ones:
each answers in its own shape, ``/v1/models`` says which, batching keeps them apart."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest

from phalanx.problems import Problem
from phalanx.serve import BackgroundServer, ModelRegistry, ServeConfig, ServedModel, create_app
from tests.helpers import SENTENCES
from tests.unit.serve.conftest import RATING_SCALE, TAG_THRESHOLDS

NAMES = ("pos", "tags", "rating", "tags_lora", "lora1")


@pytest.fixture(scope="module")
def mixed(adapters, problem_adapters):
    """One registry over single-label, multi-label and regression adapters on one base."""
    folders = {**adapters, **problem_adapters}
    return ModelRegistry.load([f"{n}={folders[n]}" for n in NAMES], batch_size=8)


@pytest.fixture(scope="module")
def server(mixed):
    config = ServeConfig(max_texts_per_request=8, max_chars_per_text=200, max_wait_ms=50)
    with BackgroundServer(create_app(mixed, config)) as srv:
        yield srv


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def _classify(client, model: str, texts: list) -> dict:
    r = client.post("/v1/classify", json={"texts": texts, "model": model})
    assert r.status_code == 200, r.text
    return r.json()


def test_multi_label_results_hold_each_labels_own_probability_and_the_decided_labels(client, mixed):
    texts = SENTENCES[:5]
    body = _classify(client, "tags", texts)
    assert body["problem_type"] == "multi_label" and body["labels"] == ["a", "b", "c"]
    assert body["thresholds"] == pytest.approx(list(TAG_THRESHOLDS))
    backend = mixed.get("tags").backend
    want = backend.logits(texts).sigmoid().numpy()  # a sigmoid per label, never a softmax
    got = np.array([[r["probabilities"][k] for k in "abc"] for r in body["results"]])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for r in body["results"]:
        assert set(r) == {"labels", "probabilities"}  # no single "label" / "score"
        p = r["probabilities"]
        assert p["a"] > 0.6 and p["b"] > 0.6 and p["c"] < 0.3  # two labels both true
        assert r["labels"] == ["a", "b"]
        assert sum(p.values()) > 1.5  # independent: they do not sum to 1
    lora = _classify(client, "tags_lora", texts)  # a peft adapter, global threshold 0.5
    assert lora["thresholds"] == [0.5, 0.5]
    assert all(r["labels"] == ["p"] for r in lora["results"])


def test_regression_results_are_values_in_the_datas_units(client, mixed):
    texts = SENTENCES
    body = _classify(client, "rating", texts)
    assert body["problem_type"] == "regression" and body["target"] == "score"
    assert body["labels"] == ["score"] and "thresholds" not in body
    assert all(set(r) == {"value"} for r in body["results"])
    values = np.array([r["value"] for r in body["results"]])
    mean, std = RATING_SCALE
    raw = mixed.get("rating").backend.logits(texts)[:, 0].numpy()
    np.testing.assert_allclose(values, raw * std + mean, rtol=1e-5, atol=1e-5)
    assert np.all(np.abs(values - (0.25 * std + mean)) < 3)  # about the head's bias, in units
    assert len(set(values.round(6))) > 1  # the texts are told apart


def test_models_lists_each_models_problem_type_thresholds_and_target(client):
    by_name = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert list(by_name) == list(NAMES)
    assert by_name["pos"]["problem_type"] == "single_label"
    assert "thresholds" not in by_name["pos"] and "target" not in by_name["pos"]
    tags = by_name["tags"]
    assert tags["problem_type"] == "multi_label" and tags["labels"] == ["a", "b", "c"]
    assert tags["thresholds"] == pytest.approx(list(TAG_THRESHOLDS))  # one per label
    assert by_name["tags_lora"]["thresholds"] == [0.5, 0.5]
    rating = by_name["rating"]
    assert rating["problem_type"] == "regression" and rating["target"] == "score"
    assert rating["labels"] == ["score"]
    assert len({by_name[n]["base_group"] for n in ("pos", "tags", "rating")}) == 1  # shared


def _shape(body: dict) -> tuple[list, np.ndarray]:
    """(the decisions, the numbers) of a response, per its problem type."""
    if body["problem_type"] == "regression":
        return [], np.array([r["value"] for r in body["results"]])
    decisions = [r.get("labels", r.get("label")) for r in body["results"]]
    numbers = [[r["probabilities"][k] for k in body["labels"]] for r in body["results"]]
    return decisions, np.array(numbers)


def test_concurrent_requests_of_every_type_are_batched_and_keep_their_shapes(server, client):
    jobs = [(NAMES[i % 5], SENTENCES[i % 6 : i % 6 + 1 + i % 3]) for i in range(30)]
    alone = [_shape(_classify(client, n, t)) for n, t in jobs]  # one request at a time

    async def fire():
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
            calls = [c.post("/v1/classify", json={"texts": t, "model": n}) for n, t in jobs]
            return await asyncio.gather(*calls)

    responses = asyncio.run(fire())
    kinds = {"pos": "label", "lora1": "label", "tags": "labels", "tags_lora": "labels"}
    for (name, texts), r, want in zip(jobs, responses, alone, strict=True):
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["model"] == name and len(body["results"]) == len(texts)
        key = kinds.get(name, "value")
        assert all(key in res for res in body["results"])
        decisions, numbers = _shape(body)
        assert decisions == want[0] and numbers.shape == want[1].shape
        np.testing.assert_allclose(numbers, want[1], atol=1e-4)


@pytest.mark.parametrize(
    "body, status, needle",
    [
        ({"texts": [], "model": "tags"}, 422, "texts"),
        ({"texts": [3], "model": "rating"}, 422, "texts.0"),
        ({"texts": ["a"] * 9, "model": "rating"}, 413, "max_texts_per_request"),
        ({"texts": ["a"], "model": "tagz"}, 404, "known models: pos, tags, rating"),
        ({"texts": ["a"], "model": "rating", "top_k": 2}, 422, "top_k"),
    ],
)
def test_bad_requests_stay_one_line_4xx_errors(client, body, status, needle):
    r = client.post("/v1/classify", json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert needle in error and "\n" not in error


class _Wrong:
    """A backend giving two columns for a model that has three labels."""

    def classify(self, items):
        return np.zeros((len(items), 2), dtype=np.float32)


def test_scores_not_of_the_models_shape_are_a_500_naming_it():
    multi = Problem("multi_label")
    broken = ServedModel("broken", "/x", "fake", ["a", "b", "c"], None, "g", _Wrong(), multi)
    with BackgroundServer(create_app(ModelRegistry([broken]), ServeConfig())) as srv:
        r = httpx.post(srv.url + "/v1/classify", json={"texts": ["a"]}, timeout=60)
    assert r.status_code == 500 and r.json()["model"] == "broken"
    assert "shape (1, 2)" in r.json()["error"] and "expected (1, 3)" in r.json()["error"]


def test_multi_label_and_regression_exports_are_served_in_their_shapes(
    problem_adapters, mixed, tmp_path
):
    pytest.importorskip("onnxruntime", reason="needs the export extra")
    from phalanx.export import export_onnx

    exports = {n: export_onnx(problem_adapters[n], tmp_path / n) for n in ("tags", "rating")}
    reg = ModelRegistry.load([f"{n}={p}" for n, p in exports.items()])
    assert [m.problem.type for m in reg.models.values()] == ["multi_label", "regression"]
    with (
        BackgroundServer(create_app(reg, ServeConfig())) as srv,
        httpx.Client(base_url=srv.url, timeout=60) as c,
    ):
        models = {m["name"]: m for m in c.get("/v1/models").json()["models"]}
        assert models["tags"]["thresholds"] == pytest.approx(list(TAG_THRESHOLDS))
        tags = _classify(c, "tags", SENTENCES[:3])
        rating = _classify(c, "rating", SENTENCES[:3])
    assert all(r["labels"] == ["a", "b"] for r in tags["results"])
    assert all(set(r) == {"value"} for r in rating["results"])
    assert rating["target"] == "score"
    adapter = mixed.get("rating").classify(SENTENCES[:3])[:, 0]  # ONNX == PyTorch
    np.testing.assert_allclose([r["value"] for r in rating["results"]], adapter, atol=1e-3)
