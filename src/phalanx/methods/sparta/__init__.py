"""SpaRTA: Sparse Random parameTer Adaptation (arXiv 2502.15975).

Registered as the method ``sparta``: a seeded random subset of scalar weights gets trainable
fp32 deltas, the classification head trains fully, everything else is frozen.
"""

from pathlib import Path

from ...registry import Method, register_method
from .classifier import SpaRTAforSequenceClassification
from .config import DEFAULT_DENSITY, SpaRTAConfig
from .format import read_sparta_adapter, save_sparta_adapter
from .model import SpaRTAModel, get_sparta_model

__all__ = [
    "DEFAULT_DENSITY",
    "SpaRTAConfig",
    "SpaRTAModel",
    "SpaRTAforSequenceClassification",
    "get_sparta_model",
    "read_sparta_adapter",
    "save_sparta_adapter",
]


def _detect(path: Path) -> bool:
    return (path / "sparse_deltas.safetensors").is_file() or (path / "sparse_deltas.pt").is_file()


METHOD = register_method(
    Method(
        name="sparta",
        config_cls=SpaRTAConfig,
        description="Sparse Random parameTer Adaptation: random fp32 deltas + full head",
        apply=get_sparta_model,
        save=save_sparta_adapter,
        load_classifier=SpaRTAforSequenceClassification,
        detect=_detect,
    )
)
