"""Evaluation reports: one self-contained HTML page, its PNG figures and a report.json.

``report("runs/demo")`` scores a model folder (adapter, run or export) on the test split of
the data it was trained on (or ``dataset=``) and writes the confusion matrix, per-class
precision / recall / F1, the reliability diagram with its ECE and the score histogram, PR and
ROC curves per class, the training curves of the run's history and the most confident
mistakes; ``report("runs/a", "runs/b")`` (or a ``phalanx compare`` folder) compares runs.
``phalanx report`` on the command line. Names load on first use, and matplotlib (the
``report`` extra) only when figures are drawn.

Modules: ``data`` (find the folder, score its data once), ``stats`` (calibration, curves,
examples, history), ``content`` (the sections as report.json holds them), ``figures``
(matplotlib), ``html`` (the page), ``model`` (one model's folder), ``compare`` (several
runs), ``run`` (``report``).

Example:
    >>> from phalanx.report import report
    >>> result = report("runs/demo")  # doctest: +SKIP
    >>> result.html  # doctest: +SKIP
    PosixPath('runs/demo-report/report.html')
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from ..lazy import lazy_attributes

if TYPE_CHECKING:
    from .run import Report, default_output, report

__all__ = ["Report", "default_output", "report"]

__getattr__ = lazy_attributes(
    __name__, {"Report": ".run", "default_output": ".run", "report": ".run"}
)


class _CallableModule(types.ModuleType):
    """``phalanx.report`` is both this package and the function ``phalanx.report(...)``:
    once the package is imported, Python binds the name ``report`` of ``phalanx`` to it, so
    calling the package calls ``report``."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.report(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
