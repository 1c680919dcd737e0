"""Streaming readers: a data file as chunks of rows, never whole (CSV, TSV, JSONL, Parquet).

Text formats are read as bytes, one line at a time, and each line is decoded strictly as
UTF-8, so a bad byte is reported with its line and costs one row, not the file. CSV / TSV
lines go through the ``csv`` module (quoted cells may span lines); JSONL lines through
``json``. A row that cannot be read is ``None`` in its chunk, with its message (naming the
line) in ``Chunk.errors``; ``BatchPredictor`` turns it into a ``RowError`` or an ``error``
field. Parquet is read by record batches (``pyarrow.parquet.ParquetFile.iter_batches``),
only the columns asked for. A ``.json`` file (one array) cannot be streamed: it is read
whole, with a note.

Each chunk carries where the input stood after it (row count, byte offset and the SHA-256
of the bytes read so far), which is what ``resume`` records to carry on.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import InputError, shown

__all__ = ["INPUT_SUFFIXES", "Chunk", "Reader", "open_reader", "prefix_digest"]

log = logging.getLogger(__name__)

INPUT_SUFFIXES = (".csv", ".tsv", ".jsonl", ".parquet", ".json")
"""What ``--input`` reads; all but ``.json`` are streamed."""
_BOM = b"\xef\xbb\xbf"


@dataclass
class Chunk:
    """Rows ``first_row .. first_row + len(rows) - 1`` (1-based) of the input."""

    index: int
    first_row: int
    rows: list[dict[str, Any] | None]
    errors: dict[int, str] = field(default_factory=dict)
    """Position in ``rows`` -> why that row could not be read (its entry is None)."""
    offset: int | None = None
    """Input bytes consumed after this chunk (text formats)."""
    digest: str | None = None
    """SHA-256 of those bytes: a resumed run checks that they did not change."""
    bytes_done: int = 0
    """Bytes read so far (text formats), for the progress estimate."""


def prefix_digest(path: Path, size: int) -> str | None:
    """SHA-256 of the first ``size`` bytes of ``path`` (None: the file is shorter)."""
    with path.open("rb") as f:
        try:
            return _hash_prefix(f, size).hexdigest()
        except InputError:
            return None


class Reader:
    """One input file: its ``columns`` (header, first record or schema), its size, and its
    chunks from any resume point."""

    def __init__(self, path: Path, chunk_size: int):
        self.path, self.chunk_size = path, chunk_size
        self.suffix = path.suffix.lower()
        self.size = path.stat().st_size
        self.columns: list[str] = []
        self.total_rows: int | None = None
        """Rows of the input when known up front (Parquet metadata, a .json array)."""
        self.arrow_schema: Any = None
        """The Parquet input's schema (kept columns keep its types)."""
        self.streamed = self.suffix != ".json"
        self.seekable = self.suffix in (".csv", ".tsv", ".jsonl")
        self._header_end = 0
        self._records: list[Any] | None = None
        if self.size == 0:
            raise InputError(f"data file {str(path)!r} is empty")
        getattr(self, f"_open_{self.suffix[1:]}")()

    # -- what the file holds, read before any work --------------------------------------
    def _open_csv(self) -> None:
        with self.path.open("rb") as f:
            while True:
                raw = f.readline()
                if not raw:
                    raise InputError(f"data file {str(self.path)!r} is empty")
                self._header_end += len(raw)
                if raw.strip():
                    break
        line = _decode(raw.removeprefix(_BOM), self.path, 1)
        header = next(csv.reader([line], delimiter=self._delimiter))
        self.columns = [c.strip() for c in header]
        dupes = sorted({c for c in self.columns if self.columns.count(c) > 1})
        if dupes:
            raise InputError(f"{self.path}: the header names {dupes} more than once; rename them")

    _open_tsv = _open_csv

    @property
    def _delimiter(self) -> str:
        return "\t" if self.suffix == ".tsv" else ","

    def _open_jsonl(self) -> None:
        columns: dict[str, None] = {}
        with self.path.open("rb") as f:
            for number, raw in enumerate(f, start=1):
                if not raw.strip():
                    continue
                try:
                    record = json.loads(_decode(raw.removeprefix(_BOM), self.path, number))
                except (ValueError, RecursionError):
                    break  # the bad line is reported, with its number, when its chunk is read
                if isinstance(record, dict):
                    columns.update(dict.fromkeys(map(str, record)))
                break
        self.columns = list(columns)

    def _open_json(self) -> None:
        log.warning(
            "%s is one JSON document, which cannot be streamed: it is read whole (write "
            "JSON lines, .jsonl, to stream it)",
            self.path,
        )
        try:
            doc = json.loads(self.path.read_bytes().decode("utf-8-sig"))
        except UnicodeDecodeError as err:
            raise InputError(
                f"{self.path} is not valid UTF-8 (byte 0x{err.object[err.start]:02x} at offset "
                f"{err.start}); re-save it as UTF-8"
            ) from None
        except (ValueError, RecursionError) as err:
            raise InputError(f"could not parse {self.path} as JSON: {err}") from None
        if not isinstance(doc, list):
            raise InputError(
                f"{self.path} holds a JSON {type(doc).__name__}; expected an array of records "
                '([{"text": ...}, ...]), or JSON lines (.jsonl)'
            )
        self._records = doc
        self.total_rows = len(doc)
        first = next((r for r in doc if isinstance(r, dict)), {})
        self.columns = list(map(str, first))

    def _open_parquet(self) -> None:
        pq = pyarrow_parquet()
        try:
            self._pf = pq.ParquetFile(self.path)
        except (OSError, ValueError) as err:  # pyarrow's errors for a damaged file
            raise InputError(f"could not read {str(self.path)!r} as parquet: {err}") from None
        self.arrow_schema = self._pf.schema_arrow
        self.columns = list(self.arrow_schema.names)
        self.total_rows = self._pf.metadata.num_rows

    # -- chunks -------------------------------------------------------------------------
    def chunks(
        self, columns: Sequence[str] | None = None, start_row: int = 0, offset: int | None = None
    ) -> Iterator[Chunk]:
        """Chunks of ``chunk_size`` rows from data row ``start_row`` (0-based; at byte
        ``offset`` for text formats); Parquet reads only ``columns`` (None: all)."""
        if self.suffix in (".csv", ".tsv", ".jsonl"):
            yield from self._text_chunks(start_row, offset)
        elif self.suffix == ".parquet":
            yield from self._parquet_chunks(columns, start_row)
        else:
            yield from self._json_chunks(start_row)

    def _text_chunks(self, start_row: int, offset: int | None) -> Iterator[Chunk]:
        is_csv = self.suffix != ".jsonl"
        start = offset if offset is not None else (self._header_end if is_csv else 0)
        with self.path.open("rb") as f:
            sha = _hash_prefix(f, start)  # the header, and the rows an earlier run did
            lines = _Lines(f, self.path, sha, start, self._prefix_lines(start))
            rows = self._csv_rows(lines) if is_csv else self._jsonl_rows(lines)
            index, first = start_row // self.chunk_size, start_row + 1
            batch: list[dict[str, Any] | None] = []
            errors: dict[int, str] = {}
            for row, error in rows:
                if error is not None:
                    errors[len(batch)] = error
                batch.append(row)
                if len(batch) == self.chunk_size:
                    yield Chunk(index, first, batch, errors, lines.offset, sha.hexdigest(),
                                lines.offset)  # fmt: skip
                    index, first, batch, errors = index + 1, first + len(batch), [], {}
            if batch:
                yield Chunk(
                    index, first, batch, errors, lines.offset, sha.hexdigest(), lines.offset
                )

    def _prefix_lines(self, start: int) -> int:
        """Lines before byte ``start`` (so messages name the right line after a resume)."""
        if start == 0:
            return 0
        count = 0
        with self.path.open("rb") as f:
            left = start
            while left > 0:
                block = f.read(min(left, 1 << 20))
                if not block:
                    break
                count += block.count(b"\n")
                left -= len(block)
        return count

    def _csv_rows(self, lines: _Lines) -> Iterator[tuple[dict[str, Any] | None, str | None]]:
        width = len(self.columns)
        reader = csv.reader(lines, delimiter=self._delimiter)
        while True:
            lines.begin_row()
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                yield None, f"{lines.where()}: not valid {self.suffix[1:]} ({err})"
                continue
            if not cells or (cells == [""] and width > 1):
                continue  # a blank line is no row (as pandas reads it)
            if lines.bad:
                yield None, lines.bad
            elif len(cells) != width:
                yield (
                    None,
                    (
                        f"{lines.where()}: {len(cells)} fields, the header has {width} (a stray "
                        f"{'tab' if self.suffix == '.tsv' else 'comma'} or a missing quote?)"
                    ),
                )
            else:  # an empty cell is a missing value, as pandas and pyarrow read it
                values = [c if c != "" else None for c in cells]
                yield dict(zip(self.columns, values, strict=True)), None

    def _jsonl_rows(self, lines: _Lines) -> Iterator[tuple[dict[str, Any] | None, str | None]]:
        while True:
            lines.begin_row()
            text = next(lines, None)
            if text is None:
                return
            if not text.strip():
                continue
            if lines.bad:
                yield None, lines.bad
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as err:
                yield None, f"{lines.where()}: not valid JSON ({err.msg} at column {err.colno})"
                continue
            except (ValueError, RecursionError) as err:
                yield None, f"{lines.where()}: JSON phalanx cannot read ({type(err).__name__})"
                continue
            if not isinstance(record, dict):
                yield (
                    None,
                    (
                        f"{lines.where()}: a JSON {type(record).__name__} ({shown(record, 40)}), "
                        'not an object ({"text": ...})'
                    ),
                )
                continue
            yield record, None

    def _parquet_chunks(self, columns: Sequence[str] | None, start_row: int) -> Iterator[Chunk]:
        meta = self._pf.metadata
        group, skip = 0, start_row
        while group < meta.num_row_groups and skip >= meta.row_group(group).num_rows:
            skip -= meta.row_group(group).num_rows  # whole row groups done: not read again
            group += 1
        groups = list(range(group, meta.num_row_groups))
        index, first = start_row // self.chunk_size, start_row + 1
        batch: list[dict[str, Any] | None] = []
        if not groups:
            return
        cols = list(columns) if columns is not None else None
        for record_batch in self._pf.iter_batches(
            batch_size=self.chunk_size, row_groups=groups, columns=cols
        ):
            rows = record_batch.to_pylist()
            if skip:
                rows, skip = rows[skip:], max(0, skip - len(rows))
            for row in rows:
                batch.append(row)
                if len(batch) == self.chunk_size:
                    yield Chunk(index, first, batch)
                    index, first, batch = index + 1, first + len(batch), []
        if batch:
            yield Chunk(index, first, batch)

    def _json_chunks(self, start_row: int) -> Iterator[Chunk]:
        records = self._records or []
        index = start_row // self.chunk_size
        for lo in range(start_row, len(records), self.chunk_size):
            part = records[lo : lo + self.chunk_size]
            errors = {
                i: f"record {lo + i + 1} is a JSON {type(r).__name__}, not an object"
                for i, r in enumerate(part)
                if not isinstance(r, dict)
            }
            rows = [None if i in errors else r for i, r in enumerate(part)]
            yield Chunk(index, lo + 1, rows, errors)
            index += 1


class _Lines:
    """The lines of a binary file from ``offset``, decoded one by one; remembers the line
    numbers of the row being read and its first undecodable line."""

    def __init__(self, f: BinaryIO, path: Path, sha: Any, offset: int, line: int):
        self.f, self.path, self.sha, self.offset = f, path, sha, offset
        self.line = line  # lines read so far
        self.first_line = line + 1
        self.bad: str | None = None

    def begin_row(self) -> None:
        self.first_line, self.bad = self.line + 1, None

    def where(self) -> str:
        if self.line > self.first_line:
            return f"lines {self.first_line}-{self.line}"
        return f"line {self.line}"

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw = self.f.readline()
        if not raw:
            raise StopIteration
        self.sha.update(raw)
        self.offset += len(raw)
        self.line += 1
        if self.line == 1:
            raw = raw.removeprefix(_BOM)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as err:
            if self.bad is None:
                self.bad = (
                    f"line {self.line} of {self.path} is not valid UTF-8 (byte "
                    f"0x{raw[err.start]:02x} at byte {err.start + 1} of the line); re-save it "
                    f"as UTF-8, e.g. iconv -f latin1 -t utf-8 {self.path} > "
                    f"{self.path.stem}.utf8{self.path.suffix}"
                )
            return raw.decode("utf-8", errors="replace")

    def __getattr__(self, name: str) -> Any:  # pragma: no cover - csv asks nothing else
        raise AttributeError(name)


def _decode(raw: bytes, path: Path, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(
            f"line {line} of {path} is not valid UTF-8 (byte 0x{raw[err.start]:02x}); re-save "
            f"it as UTF-8, e.g. iconv -f latin1 -t utf-8 {path} > {path.stem}.utf8{path.suffix}"
        ) from None


def _hash_prefix(f: BinaryIO, size: int) -> Any:
    """The SHA-256 state over the next ``size`` bytes of ``f`` (read by blocks)."""
    sha = hashlib.sha256()
    left = size
    while left > 0:
        block = f.read(min(left, 1 << 20))
        if not block:
            raise InputError(f"{f.name} is shorter than the {size} bytes an earlier run read")
        sha.update(block)
        left -= len(block)
    return sha


def pyarrow_parquet() -> Any:
    """``pyarrow.parquet``, or a one-line error naming the extra."""
    try:
        import pyarrow.parquet as pq
    except ImportError as err:
        raise ImportError("parquet files need pyarrow: pip install 'phalanx[data]'") from err
    return pq


def open_reader(path: str | Path, chunk_size: int) -> Reader:
    """The reader of ``path`` (by its suffix), its columns read."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"data file {str(p)!r} does not exist")
    if p.suffix.lower() not in INPUT_SUFFIXES:
        raise InputError(
            f"unsupported data file {str(p)!r}; use one of {', '.join(INPUT_SUFFIXES)}"
        )
    return Reader(p, chunk_size)
