"""One tiny SpaRTA adapter (2 labels) and one with a two-field template, shared by the file."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def plain_adapter(tiny_base, tmp_path_factory) -> Path:
    from tests.helpers import train_adapter

    out = tmp_path_factory.mktemp("hardening") / "plain"
    train_adapter(tiny_base("bert"), out, density=0.01, seed=1)
    return out
