"""Export folders (phalanx.export, ONNX Runtime) served beside adapter folders."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from phalanx.serve import BackgroundServer, ModelRegistry, ServeConfig, create_app
from tests.helpers import SENTENCES

pytest.importorskip("onnxruntime", reason="needs the export extra: pip install 'phalanx[export]'")


@pytest.fixture(scope="module")
def onnx_folder(adapters, tmp_path_factory):
    from phalanx.export import export_onnx

    return export_onnx(adapters["pos"], tmp_path_factory.mktemp("serve-export") / "onnx")


def test_an_export_is_served_like_its_adapter(adapters, onnx_folder):
    from phalanx.export import Pipeline

    reg = ModelRegistry.load([f"adapter={adapters['pos']}", f"onnx={onnx_folder}"])
    assert reg.get("onnx").kind == "export" and reg.get("onnx").group != reg.get("adapter").group
    pipe = Pipeline.create(task="text-classification", model_path=str(onnx_folder))
    with BackgroundServer(create_app(reg, ServeConfig())) as srv:
        models = httpx.get(srv.url + "/v1/models").json()["models"]
        assert [m["kind"] for m in models] == ["sparta", "export"]
        assert [m["runtime"] for m in models] == ["torch", "onnx"]  # what /v1/models shows
        body = httpx.post(
            srv.url + "/v1/classify", json={"texts": SENTENCES, "model": "onnx"}
        ).json()
        adapter = httpx.post(srv.url + "/v1/classify", json={"texts": SENTENCES}).json()
    probs = np.array([[r["probabilities"][c] for c in body["labels"]] for r in body["results"]])
    np.testing.assert_allclose(probs, pipe.classify(SENTENCES), rtol=1e-5, atol=1e-6)
    assert body["labels"] == adapter["labels"]
    ref = np.array([[r["probabilities"][c] for c in body["labels"]] for r in adapter["results"]])
    np.testing.assert_allclose(probs, ref, atol=1e-4)  # ONNX == PyTorch within export parity
