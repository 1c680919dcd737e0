"""Output writers: chunks appended in input order to a hidden partial, renamed at the end.

CSV, TSV, JSONL and JSON (one array) are appended to ``.<name>.partial`` as bytes, so the
byte offset after each chunk is what a resumed run truncates back to. Parquet chunks go to
one small file each in ``.<name>.parts/`` (a Parquet file cannot be appended to once its
footer is lost in a crash), merged by ``pyarrow.parquet.ParquetWriter`` into row groups
of ``ROW_GROUP_ROWS`` at the end, with one fixed schema: prediction columns typed
explicitly (strings, float64), kept columns with the Parquet input's types, else those of
the first chunk (an all-null column is a string column).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError, shown

__all__ = ["OUTPUT_SUFFIXES", "ROW_GROUP_ROWS", "Writer", "open_writer", "partial_paths"]

OUTPUT_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet")
FLAT_SUFFIXES = (".csv", ".tsv", ".parquet")
"""Outputs with one column per value (``probabilities.<label>``); the others nest them."""
ROW_GROUP_ROWS = 65_536
"""Rows per row group of a Parquet output (chunks are merged up to it)."""
_FLOAT_FIELDS = ("score", "value")
_FLOAT_PREFIX = "probabilities."


def partial_paths(output: Path) -> tuple[Path, Path]:
    """The hidden partial file and Parquet parts folder of ``output``."""
    return output.with_name(f".{output.name}.partial"), output.with_name(f".{output.name}.parts")


class Writer:
    """Appends output rows (dicts with ``columns``) chunk by chunk; ``state`` is what a
    resumed run needs to carry on from the last chunk written."""

    def __init__(
        self,
        output: Path,
        columns: Sequence[str],
        *,
        kept_types: Mapping[str, Any] | None = None,
        state: Mapping[str, Any] | None = None,
    ):
        self.output, self.columns = output, list(columns)
        self.suffix = output.suffix.lower()
        self.partial, self.parts = partial_paths(output)
        self.kept_types = dict(kept_types or {})
        self.rows = int((state or {}).get("rows", 0))
        output.parent.mkdir(parents=True, exist_ok=True)
        if self.suffix == ".parquet":
            self._parquet_open(state)
        else:
            self._text_open(state)

    # -- text formats -------------------------------------------------------------------
    def _text_open(self, state: Mapping[str, Any] | None) -> None:
        if state is None:
            self._f = self.partial.open("wb")
            if self.suffix in (".csv", ".tsv"):
                self._f.write(self._csv_bytes([{c: c for c in self.columns}]))
            elif self.suffix == ".json":
                self._f.write(b"[\n")
        else:  # what the interrupted run wrote after its last recorded chunk is dropped
            self._f = self.partial.open("r+b")
            self._f.truncate(int(state["offset"]))
            self._f.seek(0, os.SEEK_END)
        self._sync()

    def _csv_bytes(self, rows: list[dict[str, Any]]) -> bytes:
        buf = io.StringIO()
        writer = csv.DictWriter(
            buf, fieldnames=self.columns, delimiter="\t" if self.suffix == ".tsv" else ","
        )
        writer.writerows({k: _flat_cell(v) for k, v in row.items()} for row in rows)
        return buf.getvalue().encode("utf-8")

    def _json_bytes(self, rows: list[dict[str, Any]]) -> bytes:
        lines = [json.dumps(_jsonable(r), ensure_ascii=False, default=str) for r in rows]
        if self.suffix == ".jsonl":
            return "".join(f"{line}\n" for line in lines).encode("utf-8")
        lead = ",\n" if self.rows else ""
        return (lead + ",\n".join(lines)).encode("utf-8")

    def _sync(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())  # the sidecar records this offset: it must be on disk

    # -- parquet ------------------------------------------------------------------------
    def _parquet_open(self, state: Mapping[str, Any] | None) -> None:
        from .readers import pyarrow_parquet

        self._pq = pyarrow_parquet()
        self.n_parts = int((state or {}).get("parts", 0))
        if state is None:
            shutil.rmtree(self.parts, ignore_errors=True)
        self.parts.mkdir(exist_ok=True)
        for extra in self.parts.iterdir():  # parts past the last recorded chunk: redone
            if not extra.name.startswith("part-") or int(extra.stem[5:]) >= self.n_parts:
                extra.unlink()
        self.schema = None
        if self.n_parts:
            self.schema = self._pq.read_schema(self._part(0))

    def _part(self, n: int) -> Path:
        return self.parts / f"part-{n:06d}.parquet"

    def _arrow_table(self, rows: list[dict[str, Any]]) -> Any:
        import pyarrow as pa

        arrays, fields = [], []
        for i, col in enumerate(self.columns):
            values = [row.get(col) for row in rows]
            kind = self.schema.field(i).type if self.schema is not None else self._type(col)
            arrays.append(_arrow_array(pa, values, kind, col))
            fields.append(pa.field(col, arrays[-1].type))
        if self.schema is None:
            self.schema = pa.schema(
                [f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in fields]
            )
            arrays = [a.cast(f.type) for a, f in zip(arrays, self.schema, strict=True)]
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def _type(self, col: str) -> Any:
        import pyarrow as pa

        if col in self.kept_types:
            return self.kept_types[col]
        if col in _FLOAT_FIELDS or col.startswith(_FLOAT_PREFIX):
            return pa.float64()
        if col in ("label", "labels", "text", "error"):
            return pa.string()
        return None  # a kept column of a text input: as its first chunk holds it

    # -- chunks -------------------------------------------------------------------------
    def write(self, rows: list[dict[str, Any]]) -> None:
        """Append one chunk's output rows, durably."""
        if self.suffix == ".parquet":
            part = self._part(self.n_parts)
            tmp = part.with_suffix(".tmp")
            self._pq.write_table(self._arrow_table(rows), tmp)
            os.replace(tmp, part)
            self.n_parts += 1
        elif rows:
            body = self._csv_bytes(rows) if self.suffix in (".csv", ".tsv") else None
            self._f.write(body if body is not None else self._json_bytes(rows))
            self._sync()
        self.rows += len(rows)

    def state(self) -> dict[str, Any]:
        """What the sidecar records after the last chunk written."""
        if self.suffix == ".parquet":
            return {"rows": self.rows, "parts": self.n_parts}
        return {"rows": self.rows, "offset": self._f.tell()}

    def close(self) -> None:
        """Stop writing, keeping the partial output for ``--resume``."""
        if self.suffix != ".parquet" and not self._f.closed:
            self._f.close()

    def commit(self) -> None:
        """Finish the output and move it to its name in one rename."""
        if self.suffix == ".parquet":
            self._merge_parts()
        else:
            if self.suffix == ".json":
                self._f.write(b"\n]\n" if self.rows else b"]\n")
            self._sync()
            self._f.close()
        os.replace(self.partial, self.output)
        shutil.rmtree(self.parts, ignore_errors=True)

    def _merge_parts(self) -> None:
        import pyarrow as pa

        if self.schema is None:  # no rows at all: the columns, typed as far as known
            self.schema = pa.schema(
                [pa.field(c, self._type(c) or pa.string()) for c in self.columns]
            )
        pending, count = [], 0
        with self._pq.ParquetWriter(self.partial, self.schema) as out:
            for n in range(self.n_parts):
                table = self._pq.read_table(self._part(n), schema=self.schema)
                pending.append(table)
                count += table.num_rows
                if count >= ROW_GROUP_ROWS:
                    out.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP_ROWS)
                    pending, count = [], 0
            if pending or not self.n_parts:
                rows = pa.concat_tables(pending) if pending else self.schema.empty_table()
                out.write_table(rows, row_group_size=ROW_GROUP_ROWS)


def _arrow_array(pa: Any, values: list[Any], kind: Any, column: str) -> Any:
    """``values`` as an arrow array of type ``kind`` (None: inferred); a string column
    takes any value as its text."""
    try:
        return pa.array(values, type=kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        if kind is not None and pa.types.is_string(kind):
            return pa.array([None if v is None else _flat_cell(v) for v in values], pa.string())
        if kind is None:  # mixed JSON types in one kept column: kept as text
            return pa.array([None if v is None else _flat_cell(v) for v in values], pa.string())
        bad = next((v for v in values if v is not None), None)
        raise InputError(
            f"column {column!r} holds {shown(bad)}, which is not of the column's type {kind} "
            "(set by the input or the first chunk); write csv or jsonl, or fix the column"
        ) from None


def _flat_cell(value: Any) -> Any:
    """A value as one flat cell: lists and dicts as JSON text."""
    if isinstance(value, (list, dict)):
        return json.dumps(_jsonable(value), ensure_ascii=False, default=str)
    return value


def _jsonable(value: Any) -> Any:
    """``value`` with NaN / inf floats as None (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def open_writer(
    output: Path,
    columns: Sequence[str],
    *,
    kept_types: Mapping[str, Any] | None = None,
    state: Mapping[str, Any] | None = None,
) -> Writer:
    """The writer of ``output`` (by its suffix); ``state``: carry on an interrupted run."""
    if output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise InputError(f"--output {str(output)!r}: use a {', '.join(OUTPUT_SUFFIXES)} file name")
    return Writer(output, columns, kept_types=kept_types, state=state)
