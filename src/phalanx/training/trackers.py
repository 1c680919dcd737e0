"""``report_to``: the experiment trackers the HF Trainer reports to, checked before a run.

Each tracker is a separate package the Trainer imports when it builds its callbacks, which
comes after the data and the model have loaded and ends in a ``RuntimeError`` traceback
when the package is missing. ``check_report_to`` refuses such a run at once, in one line
naming what to install.

Example:
    >>> check_report_to(["none"])
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

from ..errors import InputError

__all__ = ["TRACKERS", "check_report_to"]

#: tracker -> (alternatives: each the modules that together make it usable, what to install);
#: the modules transformers' own ``is_<tracker>_available`` looks for
TRACKERS: dict[str, tuple[tuple[tuple[str, ...], ...], str]] = {
    "azure_ml": ((("azureml.core.run",),), "azureml-core"),
    "clearml": ((("clearml",),), "clearml"),
    "codecarbon": ((("codecarbon",),), "codecarbon"),
    "comet_ml": ((("comet_ml",),), "comet-ml"),
    "dagshub": ((("dagshub", "mlflow"),), "dagshub mlflow"),
    "dvclive": ((("dvclive",),), "dvclive"),
    "flyte": ((("flytekit", "flytekitplugins.deck"),), "flytekit flytekitplugins-deck"),
    "mlflow": ((("mlflow",),), "mlflow"),
    "neptune": ((("neptune",),), "neptune"),
    "swanlab": ((("swanlab",),), "swanlab"),
    "tensorboard": ((("tensorboard",), ("tensorboardX",)), "'phalanx[tensorboard]'"),
    "trackio": ((("trackio",),), "trackio"),
    "wandb": ((("wandb",),), "wandb"),
}
_KEYWORDS = ("none", "all")  # no tracker; every tracker that is installed


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a dotted name whose parent package is missing
        return False


def _known() -> set[str]:
    """The trackers this transformers version supports (phalanx's table if it cannot say)."""
    try:
        from transformers.integrations import INTEGRATION_TO_CALLBACK
    except ImportError:
        return set(TRACKERS)
    return set(INTEGRATION_TO_CALLBACK)


def check_report_to(report_to: Sequence[str]) -> None:
    """Raise ``InputError`` for a tracker transformers does not know or whose package is not
    installed, naming the choices or the ``pip install`` that fixes it."""
    names = [name for name in report_to if name not in _KEYWORDS]
    if not names:
        return
    known = _known()
    for name in names:
        if name not in known:
            choices = ", ".join(sorted(known | set(_KEYWORDS)))
            raise InputError(f"report_to={name!r} is not a tracker; choose from {choices}")
        if name not in TRACKERS:
            continue  # one phalanx has no table entry for: transformers checks it itself
        alternatives, install = TRACKERS[name]
        if not any(all(_installed(m) for m in modules) for modules in alternatives):
            raise InputError(
                f"report_to={name} needs the {alternatives[0][0]} package, which is not "
                f"installed: pip install {install} (or leave report_to at none)"
            )
