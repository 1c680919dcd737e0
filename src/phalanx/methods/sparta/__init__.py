"""SpaRTA: Sparse Random parameTer Adaptation (arXiv 2502.15975).

Registered as the method ``sparta``: a seeded random subset of scalar weights gets trainable
fp32 deltas, the classification head trains fully, everything else is frozen.
"""

from pathlib import Path

from ...folder import SPARSE_DELTAS_FILE, SPARSE_DELTAS_LEGACY_FILE
from ...registry import Method, register_method
from .classifier import SpaRTAforSequenceClassification
from .config import DEFAULT_DENSITY, SpaRTAConfig, SpaRTAMethodConfig
from .format import add_deltas_into, read_sparta_adapter, save_sparta_adapter
from .layer import drop_pruned_positions
from .model import SpaRTAModel, get_sparta_model

__all__ = [
    "DEFAULT_DENSITY",
    "SpaRTAConfig",
    "SpaRTAMethodConfig",
    "SpaRTAModel",
    "SpaRTAforSequenceClassification",
    "get_sparta_model",
    "read_sparta_adapter",
    "save_sparta_adapter",
]


def _detect(path: Path) -> bool:
    return any((path / f).is_file() for f in (SPARSE_DELTAS_FILE, SPARSE_DELTAS_LEGACY_FILE))


METHOD = register_method(
    Method(
        name="sparta",
        config_cls=SpaRTAMethodConfig,
        description="Sparse Random parameTer Adaptation: random fp32 deltas + full head",
        apply=get_sparta_model,
        save=save_sparta_adapter,
        load_classifier=SpaRTAforSequenceClassification,
        detect=_detect,
        restrict_to_unpruned=drop_pruned_positions,
        shares_base=True,
        apply_to_lm=add_deltas_into,
    )
)
