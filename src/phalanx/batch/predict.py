"""``BatchPredictor``: a chunk of input rows in, the output rows out (one model load).

Every engine of ``phalanx.batch`` (the local stream, its workers, Ray Data actors) runs
the same predictor, so a row gets the same output whichever ran it. An input row is a dict
of the file's columns (``None``: a row the reader could not parse, with its message in
``errors``); an output row holds the kept input columns, ``text`` (unless the text column
is kept), then the prediction record (``phalanx.inference.records``): flat for csv, tsv
and parquet (``label``, ``score``, ``probabilities.<label>``; ``labels`` joined by ``|``;
``value``), nested for json and jsonl. With ``on_error="skip"`` every row has an
``error`` field (None when it was classified), so the columns are the same in every chunk.

Example:
    >>> p = BatchPredictor("runs/demo/adapter", keep_columns=["id"])  # doctest: +SKIP
    >>> p.check_columns(["id", "text"])  # doctest: +SKIP
    >>> p([{"id": 7, "text": "a charming journey"}], first_row=1)  # doctest: +SKIP
    [{'id': 7, 'text': 'a charming journey', 'label': 'positive', 'score': 0.97, ...}]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError, shown

__all__ = ["ON_ERROR", "BatchPredictor", "RowError"]

log = logging.getLogger(__name__)

ON_ERROR = ("fail", "skip")
"""What a malformed row does: stop the job (``fail``) or get an ``error`` field (``skip``)."""
INPUT_PREFIX = "input."
"""Prefix of a kept input column whose name is also an output field (``label``, ...)."""


class RowError(InputError):
    """A row that cannot be classified; ``row`` is its 1-based number among the data rows."""

    def __init__(self, row: int, message: str):
        super().__init__(message)
        self.row = row

    def __reduce__(self) -> tuple[Any, ...]:  # a worker process hands it back pickled
        return type(self), (self.row, str(self))


class BatchPredictor:
    """The model (loaded once) and the column choices of one batch job.

    Args:
        model: adapter, run or export folder, or a Hub repo id (``revision``).
        text_column / text_pair_column: the columns to classify (default: the model's
            training columns, else ``text``; a model whose template has several fields
            reads the column named after each field).
        keep_columns: input columns copied to the output, in this order.
        keep_all_columns: copy every input column (in the input's order).
        on_error: ``fail`` raises ``RowError`` naming the first bad row; ``skip`` gives it
            an ``error`` field and classifies the others.
        flat: flat records (csv, tsv, parquet) or nested ones (json, jsonl).
        threads: intra-op threads of this copy (ONNX Runtime session, or torch's pool).
        classifier: an already loaded classifier to use instead of loading ``model``.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        text_column: str | None = None,
        text_pair_column: str | None = None,
        keep_columns: Sequence[str] | None = None,
        keep_all_columns: bool = False,
        on_error: str = "fail",
        flat: bool = True,
        batch_size: int | None = None,
        max_length: int | None = None,
        threads: int | None = None,
        revision: str | None = None,
        device: str | None = None,
        classifier: Any = None,
    ):
        if on_error not in ON_ERROR:
            raise InputError(
                f"on_error {on_error!r} is unknown; choose one of {', '.join(ON_ERROR)}"
            )
        if keep_columns is not None and keep_all_columns:
            raise InputError("give keep_columns (--keep-columns) or keep_all_columns, not both")
        self.on_error, self.flat = on_error, flat
        self.keep_columns = list(keep_columns) if keep_columns is not None else None
        self.keep_all_columns = keep_all_columns
        self.clf = classifier if classifier is not None else _load(
            model, batch_size=batch_size, max_length=max_length, threads=threads,
            revision=revision, device=device,
        )  # fmt: skip
        if classifier is not None and batch_size is not None:
            self.clf.batch_size = batch_size
        from ..inference.files import model_columns, problem_of

        self.problem = problem_of(self.clf)
        self.labels = list(self.clf.labels)
        cols = model_columns(self.clf, text_column, text_pair_column)
        template = self.clf.template
        from ..data.templates import template_fields

        fields = list(dict.fromkeys(template_fields(template))) if template else []
        self._fields = fields if cols["text"] is None and cols["text_pair"] is None else []
        self._fields = self._fields if len(self._fields) > 1 else []
        self._text = cols["text"] or (fields[0] if len(fields) == 1 else "text")
        self._pair = cols["text_pair"]
        self._input_columns: list[str] | None = None
        if self.problem.type == "multi_label" and flat:
            from ..inference.records import join_labels

            join_labels(self.labels)  # a label holding "|" cannot be a flat cell: before work

    # -- columns ------------------------------------------------------------------------
    @property
    def text_columns(self) -> list[str]:
        """The input columns the model reads."""
        if self._fields:
            return list(self._fields)
        return [self._text, *([self._pair] if self._pair else [])]

    def check_columns(self, columns: Sequence[str], where: str = "the input") -> None:
        """Refuse input ``columns`` that lack a column the model reads or a kept one, naming
        the columns there are; remember them for ``output_columns``."""
        from ..data.tables import missing_column

        have = list(columns)
        for col in self.text_columns:
            if col not in have:  # the message training and evaluation give too
                option = "text_pair_column" if col == self._pair else "text_column"
                raise missing_column(col, option, where, dict.fromkeys(have))
        for col in self.keep_columns or []:
            if col not in have:
                raise InputError(
                    f"--keep-columns {col!r} is not a column of {where}; its columns are "
                    f"{', '.join(map(repr, have))}"
                )
        self._input_columns = have

    def kept(self) -> list[str]:
        """The input columns copied to the output, in order."""
        if self.keep_all_columns:
            return list(self._input_columns or [])
        return list(self.keep_columns or [])

    def _prediction_fields(self) -> list[str]:
        from ..inference.records import flat_columns

        if self.flat:
            return flat_columns(self.labels, self.problem)
        return {"regression": ["value"], "multi_label": ["labels", "probabilities"]}.get(
            self.problem.type, ["label", "score", "probabilities"]
        )

    def _names(self) -> dict[str, str]:
        """Kept input column -> its output name (prefixed when a prediction field has it)."""
        taken = {*self._prediction_fields(), "error"}
        return {c: f"{INPUT_PREFIX}{c}" if c in taken else c for c in self.kept()}

    def _with_text(self) -> bool:
        return not set(self.text_columns) <= set(self.kept())

    def output_columns(self) -> list[str]:
        """The output's columns (flat) or top-level fields (nested), in order."""
        names = list(self._names().values())
        text = ["text"] if self._with_text() and "text" not in names else []
        error = ["error"] if self.on_error == "skip" else []
        return [*names, *text, *self._prediction_fields(), *error]

    # -- rows ---------------------------------------------------------------------------
    def __call__(
        self,
        rows: Sequence[Mapping[str, Any] | None],
        first_row: int = 1,
        errors: Mapping[int, str] | None = None,
    ) -> list[dict[str, Any]]:
        """The output rows of ``rows`` (row ``first_row + i`` of the input), in order.

        ``errors``: position in ``rows`` -> the reader's message for a row it could not
        parse (its entry in ``rows`` is None)."""
        errors = dict(errors or {})
        items: list[Any] = []
        pairs: list[str] = []
        good: list[int] = []
        for i, row in enumerate(rows):
            if i in errors or row is None:
                errors.setdefault(i, "the row could not be read")
                continue
            try:
                item, pair = self._item(row)
            except InputError as err:
                errors[i] = str(err)
                continue
            items.append(item)
            pairs.append(pair)
            good.append(i)
        if errors and self.on_error == "fail":
            i = min(errors)
            raise RowError(first_row + i, f"row {first_row + i}: {errors[i]}")
        records = self._records(items, pairs if self._pair and not self._fields else None)
        out: list[dict[str, Any]] = []
        by_row = dict(zip(good, records, strict=True))
        for i, row in enumerate(rows):
            out.append(self._output_row(row, by_row.get(i), errors.get(i), first_row + i))
        return out

    def _item(self, row: Mapping[str, Any]) -> tuple[Any, str]:
        """One row as the classifier's input: a text (or a dict of template fields), and
        the second text of a pair (``""`` when there is none)."""
        if self._fields:
            return {f: self._cell(row, f) for f in self._fields}, ""
        text = self._cell(row, self._text)
        return text, self._cell(row, self._pair) if self._pair else ""

    @staticmethod
    def _cell(row: Mapping[str, Any], column: str) -> str:
        from ..data.labels import is_missing, text_value

        if column not in row:
            raise InputError(f"no {column!r} field (the row has {', '.join(map(repr, row))})")
        value = row[column]
        # null / NaN / an empty csv cell; an empty JSON string is a text (classified, as the
        # API classifies "")
        if is_missing(value):
            raise InputError(f"the {column!r} text is missing (null or an empty cell)")
        return text_value(value, column, "this row")

    def _records(self, items: list[Any], pairs: list[str] | None) -> list[dict[str, Any]]:
        if not items:
            return []
        from ..inference.records import prediction_records

        if pairs is not None and self.clf.template is None:
            scores = self.problem.scores(self.clf._pair_logits(items, pairs, None))
        elif pairs is not None:
            from ..data.templates import pair_items

            scores = self.clf.classify(pair_items(self.clf.template, items, pairs))
        else:
            scores = self.clf.classify(items)
        return prediction_records(scores, self.labels, decimals=6, problem=self.problem)

    def _output_row(
        self, row: Mapping[str, Any] | None, record: dict[str, Any] | None, error: str | None,
        number: int,
    ) -> dict[str, Any]:  # fmt: skip
        out: dict[str, Any] = {}
        for col, name in self._names().items():
            out[name] = None if row is None else row.get(col)
        if self._with_text() and "text" not in out:
            out["text"] = None if row is None else _shown(row, self.text_columns)
        if record is None:
            record = dict.fromkeys(self._prediction_fields())
        elif self.flat:
            from ..inference.records import flat_record

            record = flat_record(record)
        out.update(record)
        if self.on_error == "skip":
            out["error"] = None if error is None else f"row {number}: {error}"
        return out


def _shown(row: Mapping[str, Any], columns: list[str]) -> str | None:
    """The text(s) a row was classified on, as ``text`` shows them (pairs joined by ``|``)."""
    from ..data.labels import is_missing

    cells = [row.get(c) for c in columns]
    if any(is_missing(c) for c in cells):
        return None
    return " | ".join(str(c).strip() for c in cells)


def _load(model: Any, **options: Any) -> Any:
    """The classifier for ``model`` (adapter, run, export folder or Hub id)."""
    if model is None:
        raise InputError("give a model: an adapter, run or export folder, or a Hub repo id")
    from ..inference.classifier import load_classifier

    threads, batch_size = options.pop("threads"), options.pop("batch_size")
    kwargs = {k: v for k, v in options.items() if v is not None}
    revision = kwargs.pop("revision", None)
    from ..folder import resolve_folder

    found = resolve_folder(model, revision=revision)
    if found.kind == "export":
        kwargs.pop("device", None)
        if threads is not None:
            kwargs["num_threads"] = threads
    elif threads is not None:
        import torch

        torch.set_num_threads(threads)  # the process's pool: one worker per process/thread
    clf = load_classifier(found.path, **kwargs)
    if batch_size is not None:
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {shown(batch_size)}")
        clf.batch_size = batch_size
    log.debug("batch model %s loaded (%s)", found.path, type(clf).__name__)
    return clf
