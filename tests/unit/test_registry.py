"""The registry is the one list: a new method is one module plus one ``register_method``.

The toy "bias" method below trains only bias terms and the classification head. It has its
own config, apply, save, classifier and detect, and goes through train -> save -> load ->
classify -> export -> Pipeline (and serving) with no change anywhere else in phalanx.
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest
import safetensors.torch
import torch

from phalanx import get_method, load_classifier, method_names
from phalanx.folder import adapter_meta, atomic_folder, read_meta, write_meta
from phalanx.inference.classifier import TextClassifier
from phalanx.methods.base import MethodConfig
from phalanx.models.archs import arch_spec
from phalanx.models.loading import load_base_classifier
from phalanx.registry import (
    Method,
    classifier_loader,
    method_for_folder,
    register_method,
    registered,
    unregister_method,
)
from tests.helpers import SENTENCES, config
from tests.unit.test_old_folders import RECORDED_BASE

# -- the toy method: what a new method's package would hold ---------------------------------
BIAS_FILE = "bias_terms.safetensors"


@dataclass
class BiasMethodConfig(MethodConfig):
    """Train the bias terms of every layer and the classification head (BitFit-like)."""

    include_head: bool = True
    """Train the classification head fully."""

    method_name: ClassVar[str] = "bias"
    default_lr: ClassVar[float] = 2e-2


def _trains(name: str, heads: tuple[str, ...], config: BiasMethodConfig) -> bool:
    in_head = any(f".{h}." in f".{name}" for h in heads)
    return name.endswith(".bias") or (config.include_head and in_head)


def apply_bias(model: torch.nn.Module, config: BiasMethodConfig) -> torch.nn.Module:
    heads = tuple(arch_spec(model).head)
    for name, p in model.named_parameters():
        p.requires_grad_(_trains(name, heads, config))
    model.phalanx_config = config
    return model


def save_bias(model, path, *, base_model: str, meta=None, overwrite: bool = False) -> Path:
    tensors = {
        n: p.detach().float().contiguous() for n, p in model.named_parameters() if p.requires_grad
    }
    full_meta = adapter_meta(
        model.config,
        method="bias",
        method_config=model.phalanx_config.to_dict(),
        base_model=base_model,
        trainable_parameters=sum(t.numel() for t in tensors.values()),
        extra=meta,
    )
    with atomic_folder(path, overwrite=overwrite) as tmp:
        safetensors.torch.save_file(tensors, str(tmp / BIAS_FILE))
        write_meta(tmp, full_meta)
    return Path(path)


class BiasClassifier(TextClassifier):
    repr_tag = "bias"

    def _load(self, path, model, *, device, dtype):
        if model is not None:
            raise ValueError("the bias method loads its own base; drop model=")
        model = load_base_classifier(
            self.base_model_name, self.id2label, dtype=dtype, device=device
        )
        trained = safetensors.torch.load_file(str(path / BIAS_FILE))
        missing = set(trained) - {n for n, _ in model.named_parameters()}
        if missing:
            raise ValueError(f"{path} does not fit {self.base_model_name}: {sorted(missing)[:3]}")
        params = dict(model.named_parameters())
        with torch.no_grad():
            for name, value in trained.items():
                params[name].copy_(value.to(params[name].dtype))
        return model


TOY = Method(
    name="bias",
    config_cls=BiasMethodConfig,
    description="bias terms + head (a test's toy method)",
    apply=apply_bias,
    save=save_bias,
    load_classifier=BiasClassifier,
    detect=lambda path: (path / BIAS_FILE).is_file(),
)


# -- the tests -------------------------------------------------------------------------------
@pytest.fixture
def toy_method():
    with registered(TOY) as method:
        yield method
    assert "bias" not in method_names()


def test_a_registered_method_trains_loads_exports_and_serves(
    toy_method, tiny_base, toy_csv, tmp_path
):
    from phalanx.training import TrainConfig, train

    base = tiny_base("bert")
    assert "bias" in method_names()
    assert TrainConfig(method="bias").resolved_lr() == 2e-2  # from the config class
    result = train(config(base, toy_csv, tmp_path / "run", method="bias", epochs=3, lr=5e-2))
    adapter = result.adapter_path
    assert (adapter / BIAS_FILE).is_file()
    assert method_for_folder(adapter, read_meta(adapter)) is toy_method
    trained = {n for n, p in result.model.named_parameters() if p.requires_grad}
    heads = tuple(arch_spec(result.model).head)
    assert trained and all(_trains(n, heads, BiasMethodConfig()) for n in trained)
    assert any(".weight" in n and "encoder" in n for n, _ in result.model.named_parameters())
    assert not any(".weight" in n and "encoder" in n for n in trained)

    clf = load_classifier(adapter)
    assert isinstance(clf, BiasClassifier) and clf.method == "bias"
    assert clf.labels == ["0", "1"] and clf.max_length == 16
    probs = clf.classify(SENTENCES)
    torch.testing.assert_close(probs.sum(-1), torch.ones(len(SENTENCES)))
    with torch.no_grad():  # the loaded classifier is the trained model
        enc = clf.tokenizer(SENTENCES[:1], return_tensors="pt")
        expected = result.model.eval()(**enc).logits.float()
    torch.testing.assert_close(clf.logits(SENTENCES[:1]), expected, rtol=1e-4, atol=1e-5)

    if not all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime")):
        pytest.skip("the export extra is not installed")
    from phalanx.export import Pipeline, export_onnx

    onnx_dir = export_onnx(adapter, tmp_path / "onnx")
    pipe = Pipeline.create(model_path=str(onnx_dir))
    assert [r["label"] for r in pipe(SENTENCES)] == clf.decide_class(SENTENCES)
    assert abs(pipe.classify(SENTENCES) - probs.numpy()).max() < 1e-4

    from phalanx.serve.models import ModelRegistry

    served = ModelRegistry.load([f"toy={adapter}"])
    assert served.get("toy").kind == "bias"
    assert abs(served.get("toy").classify(SENTENCES) - probs.numpy()).max() < 1e-5


def test_unregister_and_refusals(toy_method, tiny_base, tmp_path):
    with pytest.raises(ValueError, match="registered twice"):
        register_method(Method(**{**TOY.__dict__, "description": "another"}))
    model = apply_bias(
        load_base_classifier(str(tiny_base("bert")), {0: "a", 1: "b"}), BiasMethodConfig()
    )
    folder = save_bias(model, tmp_path / "ad", base_model=str(tiny_base("bert")))
    assert classifier_loader(folder, read_meta(folder)) is BiasClassifier
    unregister_method("bias")
    try:
        with pytest.raises(
            ValueError, match=r"names method 'bias'.*plug-in method must be imported"
        ):
            load_classifier(folder)
        with pytest.raises(ValueError, match="not registered"):
            unregister_method("bias")
    finally:
        register_method(TOY)  # the fixture unregisters it


# what each built-in method declares; a new built-in must be added here on purpose
CAPABILITIES = {
    #  name:          (shares_base, can_merge, prompt_style, generative, frozen_base)
    "full": (False, True, False, True, False),
    "head": (True, True, False, False, True),
    "ia3": (True, True, False, True, True),
    "lora": (True, True, False, True, True),
    "prompt_tuning": (True, False, True, True, True),
    "ptuning": (True, False, True, True, True),
    "sparta": (True, True, False, True, True),
}


@pytest.mark.parametrize("name", method_names())
def test_builtin_capabilities(name):
    method = get_method(name)
    got = (
        method.shares_base,
        method.can_merge,
        method.prompt_style,
        method.generative,
        method.frozen_base,
    )
    assert got == CAPABILITIES[name]
    assert method.default_lr == method.config_cls.default_lr > 0
    assert method.config_cls.__name__.endswith("MethodConfig")


def test_generative_folders_load_through_their_task():
    from phalanx.generative.classifier import GenerativeClassifier

    folder = Path(__file__).parents[1] / "fixtures" / "pre_restructure" / "lora"
    assert classifier_loader(folder, {"task": "generative", "method": "lora"}) is (
        GenerativeClassifier
    )
    assert classifier_loader(folder, {"method": "lora"}) is get_method("lora").load_classifier
    with pytest.raises(ValueError, match="cannot adapt a language model"):
        from phalanx.generative.scorer import generative_method

        generative_method("head")


def test_method_table_covers_every_method():
    assert sorted(CAPABILITIES) == method_names()


def test_old_config_name_is_kept():
    import phalanx
    from phalanx.methods.sparta import SpaRTAMethodConfig

    assert phalanx.SpaRTAConfig is phalanx.SpaRTAMethodConfig is SpaRTAMethodConfig


@pytest.mark.parametrize("method", ["full", "head", "lora", "sparta"])
def test_phalanx_json_is_parsed_once_per_load(method, tmp_path, monkeypatch):
    import phalanx.folder as folder

    fixture = Path(__file__).parents[1] / "fixtures" / "pre_restructure"
    root = tmp_path / "fixture"
    shutil.copytree(fixture, root)
    for path in root.rglob("*.json"):
        path.write_text(path.read_text().replace(RECORDED_BASE, str(root / "base")))
    reads = []
    real = folder.read_json
    for module in (folder.checks, folder.meta, folder.kinds):  # every holder of read_json
        if hasattr(module, "read_json"):
            monkeypatch.setattr(
                module, "read_json", lambda p: reads.append(Path(p).name) or real(p)
            )
    load_classifier(root / method)
    assert reads.count(folder.META_FILE) == 1
