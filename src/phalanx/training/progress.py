"""What a training run shows while it runs: a progress bar (or periodic lines) and one table
row per evaluation, all through the ``phalanx.train`` logger.

The HF ``Trainer`` prints on its own: ``PrinterCallback`` prints every raw log dict (numbers
as strings) on stdout, and ``ProgressCallback`` draws a training bar plus a nested bar per
evaluation and writes the same dicts with ``tqdm.write`` (stdout again). ``use_phalanx_output``
takes both off a trainer; in their place:

- ``TrainingProgress``: on a terminal (stderr is a TTY) one bar on stderr with the steps, the
  current loss, the rate and the ETA; elsewhere (CI, ``> log.txt 2>&1``) a plain line every
  ``logging_steps``, such as ``step 50/800 (6%), loss 0.4312, 3.1 steps/s, ETA 4m10s``.
- ``EpochReport``: one aligned row per evaluation under a header logged once.

Library code never prints: both show only while ``phalanx.train`` is enabled for INFO (the
CLI without ``-q``; an API caller who configured ``logging``), the bar and the lines only
with ``progress=True``.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from typing import Any

from transformers import PrinterCallback, ProgressCallback, TrainerCallback

__all__ = ["EpochReport", "TrainingProgress", "format_duration", "use_phalanx_output"]

log = logging.getLogger("phalanx.train")

#: (header, width) of the evaluation table's first columns
COLUMNS = (
    ("epoch", 6),
    ("step", 7),
    ("train loss", 10),
    ("validation loss", 15),
)
#: the metric columns per problem type: (header, width, metric key, format)
METRIC_COLUMNS = {
    "single_label": (("accuracy", 8, "accuracy", "{:.2%}"), ("macro-F1", 8, "macro_f1", "{:.4f}")),
    "multi_label": (
        ("micro-F1", 8, "micro_f1", "{:.4f}"),
        ("mAP", 8, "mean_average_precision", "{:.4f}"),
    ),
    "regression": (("MSE", 8, "mse", "{:.4f}"), ("Spearman", 8, "spearman", "{:.4f}")),
}
#: where log records go while the bar is drawn (through tqdm.write, above the bar)
_REDIRECTED = ("", "phalanx", "transformers")


def use_phalanx_output(trainer: Any) -> None:
    """Take the HF printing callbacks off ``trainer``; add ``TrainingProgress`` unless the
    trainer's ``disable_tqdm`` (phalanx's ``progress=False``) turns progress off."""
    from transformers.trainer import DEFAULT_PROGRESS_CALLBACK  # the notebook one in Jupyter

    printers = (PrinterCallback, ProgressCallback, DEFAULT_PROGRESS_CALLBACK)
    for callback in list(trainer.callback_handler.callbacks):
        if isinstance(callback, printers):
            trainer.remove_callback(callback)
    if not trainer.args.disable_tqdm:
        trainer.add_callback(TrainingProgress())


def format_duration(seconds: float) -> str:
    """``12s``, ``4m10s``, ``1h02m`` (``?`` when unknown).

    >>> format_duration(250), format_duration(3720)
    ('4m10s', '1h02m')
    """
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


class _AboveTheBar(logging.StreamHandler):
    """A console handler's stand-in while the bar is drawn: ``tqdm.write`` clears the bar,
    writes the record and draws the bar again below it."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=self.stream)
            self.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)


def _is_console(handler: logging.Handler) -> bool:
    stream = getattr(handler, "stream", None)
    return isinstance(handler, logging.StreamHandler) and stream in (sys.stderr, sys.stdout)


def _redirect_console_handlers() -> list[tuple[logging.Logger, list[logging.Handler]]]:
    """Swap the console handlers of the root, ``phalanx`` and ``transformers`` loggers for
    ``_AboveTheBar`` ones (same stream, level, format and filters); return what to restore.
    Loggers without a console handler are left alone (no record is shown twice)."""
    swapped = []
    for logger in (logging.getLogger(name) for name in _REDIRECTED):
        if not any(_is_console(h) for h in logger.handlers):
            continue
        swapped.append((logger, logger.handlers))
        logger.handlers = [_stand_in(h) if _is_console(h) else h for h in logger.handlers]
    return swapped


def _stand_in(handler: logging.Handler) -> logging.Handler:
    new = _AboveTheBar(handler.stream)
    new.setLevel(handler.level)
    new.setFormatter(handler.formatter)
    new.filters = list(handler.filters)
    return new


class TrainingProgress(TrainerCallback):
    """Training progress: a tqdm bar on a terminal, else a line every ``logging_steps``."""

    def __init__(self) -> None:
        self.bar: Any = None
        self._redirected: list[tuple[logging.Logger, list[logging.Handler]]] = []
        self._start = 0.0
        self._first_step = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.close()
        self._start, self._first_step = time.perf_counter(), state.global_step
        if state.is_world_process_zero and log.isEnabledFor(logging.INFO) and _stderr_is_terminal():
            from tqdm import tqdm

            self.bar = tqdm(
                total=state.max_steps,
                initial=state.global_step,
                desc="training",
                unit="step",
                file=sys.stderr,
                dynamic_ncols=True,
            )
            self._redirected = _redirect_console_handlers()
        return control

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        loss = (logs or {}).get("loss")
        if not state.is_world_process_zero or not isinstance(loss, int | float):
            return control
        if self.bar is not None:
            self.bar.set_postfix_str(f"loss {loss:.4f}")
        else:
            log.info("%s", self.line(state.global_step, state.max_steps, loss))
        return control

    def on_train_end(self, args, state, control, **kwargs):
        self.close()
        return control

    def line(self, step: int, total: int, loss: float) -> str:
        """``step 50/800 (6%), loss 0.4312, 3.1 steps/s, ETA 4m10s``."""
        elapsed = time.perf_counter() - self._start
        rate = (step - self._first_step) / elapsed if elapsed > 0 else 0.0
        eta = format_duration((total - step) / rate) if rate > 0 else "?"
        share = 100 * step / total if total else 0.0
        return f"step {step}/{total} ({share:.0f}%), loss {loss:.4f}, {rate:.3g} steps/s, ETA {eta}"

    def close(self) -> None:
        """Close the bar and give the logging handlers back (also after an aborted run)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        for logger, handlers in self._redirected:
            logger.handlers = handlers
        self._redirected = []


class EpochReport(TrainerCallback):
    """One aligned row per evaluation (epoch, step, mean training loss since the previous
    evaluation, validation loss, then the problem type's two headline metrics: accuracy and
    macro-F1; micro-F1 and mAP; MSE and Spearman) under a header logged once.

    It has the Trainer log the training loss right before each evaluation, so a row has its
    training loss whatever ``logging_steps`` is.
    """

    def __init__(self, problem_type: str = "single_label") -> None:
        self._metrics = METRIC_COLUMNS[problem_type]
        self._header_done = False
        self._logged_at = 0  # the step the Trainer's last logged loss ran to
        self._loss_sum = 0.0
        self._loss_steps = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self._logged_at, self._loss_sum, self._loss_steps = state.global_step, 0.0, 0
        return control

    def on_step_end(self, args, state, control, **kwargs):
        if control.should_evaluate:
            control.should_log = True
        return control

    on_epoch_end = on_step_end

    def on_log(self, args, state, control, logs=None, **kwargs):
        loss = (logs or {}).get("loss")
        if isinstance(loss, int | float) and state.global_step > self._logged_at:
            steps = state.global_step - self._logged_at
            self._loss_sum += loss * steps
            self._loss_steps += steps
            self._logged_at = state.global_step
        return control

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if not state.is_world_process_zero or not metrics or "eval_loss" not in metrics:
            return control
        columns = (*COLUMNS, *((head, width) for head, width, _, _ in self._metrics))
        if not self._header_done:
            log.info("%s", "  ".join(f"{name:>{width}}" for name, width in columns))
            self._header_done = True
        train_loss = self._loss_sum / self._loss_steps if self._loss_steps else None
        self._loss_sum, self._loss_steps = 0.0, 0
        cells = (
            f"{state.epoch or 0.0:.2f}",
            str(state.global_step),
            _number(train_loss, "{:.4f}"),
            _number(metrics.get("eval_loss"), "{:.4f}"),
            *(_number(metrics.get(f"eval_{key}"), spec) for _, _, key, spec in self._metrics),
        )
        log.info("%s", "  ".join(f"{c:>{w}}" for c, (_, w) in zip(cells, columns, strict=True)))
        return control


def _number(value: Any, spec: str) -> str:
    """``value`` in ``spec``, or ``-`` when it is missing or not a finite number."""
    if not isinstance(value, int | float) or not math.isfinite(value):
        return "-"
    return spec.format(value)
