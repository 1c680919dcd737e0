"""Property-based pass over the config loader: any YAML mapping of options gives a config or an
InputError naming what is wrong, never another exception."""

from __future__ import annotations

import dataclasses

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from phalanx.compress.config import CompressConfig
from phalanx.errors import InputError
from phalanx.serve.config import ServeConfig
from phalanx.training.config import TrainConfig
from phalanx.yamlsafe import load_yaml_text

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["sparta", "lora", "full", "auto", "cpu", "fp32", "0", "true", "1e-3"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)


def _options(cls: type, extra: tuple[str, ...] = ()) -> st.SearchStrategy:
    names = [f.name for f in dataclasses.fields(cls)] + list(extra)
    return st.dictionaries(st.sampled_from(names), values, max_size=6)


def _build(cls: type, options: dict) -> None:
    # through YAML, as a config file would carry it
    data = load_yaml_text(yaml.safe_dump(options), "run.yaml") or {}
    try:
        config = cls.from_dict(data) if hasattr(cls, "from_dict") else cls(**data)
    except InputError as err:
        assert str(err) and "\n" not in str(err).strip()
        return
    assert isinstance(config, cls)


@settings(max_examples=300, deadline=None)
@given(options=_options(TrainConfig, extra=("nope", "method-options")))
def test_train_config(options):
    _build(TrainConfig, options)


@settings(max_examples=150, deadline=None)
@given(
    method=st.sampled_from(["sparta", "lora", "ia3", "ptuning", "prompt_tuning", "head", "full"]),
    method_options=st.dictionaries(
        st.sampled_from(
            [
                "density",
                "sparsity",
                "r",
                "lora_alpha",
                "dropout",
                "seed",
                "target_modules",
                "num_virtual_tokens",
                "freeze_embeddings",
                "x",
            ]
        ),
        values,
        max_size=3,
    ),
)
def test_method_options(method, method_options):
    _build(TrainConfig, {"method": method, "method_options": method_options})


@settings(max_examples=150, deadline=None)
@given(options=_options(CompressConfig))
def test_compress_config(options):
    _build(CompressConfig, options)


@settings(max_examples=150, deadline=None)
@given(options=_options(ServeConfig))
def test_serve_config(options):
    _build(ServeConfig, options)
