"""Progress of a batch job: a tqdm bar on a terminal, plain log lines otherwise.

The bar shows rows done, rows/s and the ETA. Its total is the Parquet (or JSON array)
row count, or, for text formats, an estimate from the bytes read so far (rows per byte x
the file's size), refined after every chunk. Without a terminal a line is logged every
``LOG_EVERY_S`` seconds.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

__all__ = ["LOG_EVERY_S", "Progress"]

log = logging.getLogger("phalanx.batch")

LOG_EVERY_S = 10.0
"""Seconds between plain progress lines."""


class Progress:
    """Rows done out of a known or estimated total.

    Args:
        mode: True (a bar), False (nothing), None (a bar on a terminal, else log lines),
            or ``"log"`` (log lines).
        total_rows: the input's rows when known; else ``total_bytes`` estimates them.
        done: rows an interrupted run already wrote (``--resume``).
    """

    def __init__(
        self,
        mode: bool | str | None,
        *,
        total_rows: int | None = None,
        total_bytes: int | None = None,
        done: int = 0,
    ):
        if mode is None:
            mode = True if sys.stderr.isatty() else "log"
        self.mode, self.total_rows, self.total_bytes = mode, total_rows, total_bytes
        self.done = self.start_done = done
        self.start = self.last_log = time.perf_counter()
        self.bar: Any = None
        if mode is True:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=total_rows, initial=done, unit=" rows", file=sys.stderr, dynamic_ncols=True,
                smoothing=0.1,
            )  # fmt: skip

    def estimate(self, bytes_done: int) -> int | None:
        """The rows expected in all, from the rows per byte read so far."""
        if self.total_rows is not None:
            return self.total_rows
        if not self.total_bytes or bytes_done <= 0 or self.done <= 0:
            return None
        return max(self.done, round(self.done * self.total_bytes / bytes_done))

    def update(self, rows: int, bytes_done: int = 0) -> None:
        """``rows`` more rows done (``bytes_done``: input bytes read so far)."""
        self.done += rows
        total = self.estimate(bytes_done)
        if self.bar is not None:
            if total is not None and total != self.bar.total:
                self.bar.total = total
            self.bar.update(rows)
            return
        now = time.perf_counter()
        if self.mode == "log" and now - self.last_log >= LOG_EVERY_S:
            self.last_log = now
            log.info("%s", self.line(total, now))

    def line(self, total: int | None, now: float | None = None) -> str:
        """``classified 12,288 of ~40,000 rows (30.7%), 410 rows/s, ETA 1m07s``."""
        elapsed = (now or time.perf_counter()) - self.start
        rate = (self.done - self.start_done) / elapsed if elapsed > 0 else 0.0
        text = f"classified {self.done:,}"
        if total:
            approx = "" if self.total_rows is not None else "~"
            text += f" of {approx}{total:,} rows ({100 * self.done / total:.1f}%)"
        else:
            text += " rows"
        text += f", {rate:,.0f} rows/s"
        if total and rate > 0 and total > self.done:
            text += f", ETA {_duration((total - self.done) / rate)}"
        return text

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _duration(seconds: float) -> str:
    """``75`` -> ``1m15s``; ``4000`` -> ``1h06m``."""
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"
