"""Compare methods on one dataset: each trains in its own process, one table of the results.

``compare(CompareConfig(dataset=..., methods=[...]))`` trains every method with the same
data, split, seed and budget and writes compare.csv / .json / .md (``phalanx compare`` on
the command line). Names load on first use: ``import phalanx.compare`` pulls in no torch.

Example:
    >>> from phalanx.compare import CompareConfig, compare, to_text
    >>> result = compare(CompareConfig(dataset="reviews.csv", text_column="review",
    ...     label_column="stars", methods=["sparta,lora,head"]))  # doctest: +SKIP
    >>> print(to_text(result))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_attributes

if TYPE_CHECKING:
    from .config import CompareConfig
    from .result import CompareResult, CompareRow
    from .run import compare
    from .table import to_csv, to_json, to_markdown, to_text, write_tables

__all__ = [
    "CompareConfig",
    "CompareResult",
    "CompareRow",
    "compare",
    "to_csv",
    "to_json",
    "to_markdown",
    "to_text",
    "write_tables",
]

__getattr__ = lazy_attributes(
    __name__,
    {
        "CompareConfig": ".config",
        "CompareResult": ".result",
        "CompareRow": ".result",
        "compare": ".run",
        "to_csv": ".table",
        "to_json": ".table",
        "to_markdown": ".table",
        "to_text": ".table",
        "write_tables": ".table",
    },
)
