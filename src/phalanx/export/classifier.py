"""The classification API (classify / decide_class / evaluate) over an export folder.

``phalanx classify`` and ``phalanx evaluate`` use it when given an export, so a deployed
ONNX model is evaluated by the same code path as the adapter it came from.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..inference.classifier import TextClassifier
from .format import export_problem, read_export_meta
from .runtime import Pipeline

__all__ = ["ExportClassifier", "check_utf8"]

_TEXT_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl")


class ExportClassifier(TextClassifier):
    """A ``TextClassifier`` whose forward passes run in ONNX Runtime through a ``Pipeline``.

    Example:
        >>> clf = ExportClassifier("runs/demo/onnx-int8")  # doctest: +SKIP
        >>> clf.decide_class(["a charming journey"])  # doctest: +SKIP
        ['positive']
    """

    repr_tag = "ONNX"

    def __init__(
        self,
        path: str | Path,
        *,
        batch_size: int = 32,
        max_length: int | None = None,
        num_threads: int | None = None,
        problem_type: str | None = None,
    ):
        """``problem_type``: the problem type the caller expects; an export of another one
        is refused (default: whatever the export records)."""
        meta = read_export_meta(path)
        export_problem(meta, path).check_matches(problem_type, str(path))
        self.pipeline = Pipeline.create(
            model_path=path, batch_size=batch_size, max_length=max_length, num_threads=num_threads
        )
        self.meta = meta
        self.adapter = str(path)
        self.base_model_name = (meta.get("source") or {}).get("base_model") or str(path)
        self.id2label = {str(k): v for k, v in self.pipeline.id2label.items()}
        self.problem = self.pipeline.problem
        self.template = self.pipeline.template
        self.max_length = self.pipeline.max_length
        self.tokenizer = self.pipeline.tokenizer
        self.device = torch.device("cpu")
        self.model = self._no_pairs
        self.batch_size = batch_size

    def _no_pairs(self, **_: object):
        """Stands in for ``model(**encoding)``: only tokenized sentence pairs reach it."""
        raise ValueError(
            f"{self.adapter}: sentence pairs without an input template need token_type_ids, "
            "which an export does not take; evaluate the adapter folder instead, or train "
            "with an --input-template that joins the two texts"
        )

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None):
        """Logits for already tokenized inputs (as ``TextClassifier.__call__``)."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        batch = {"input_ids": input_ids.long().numpy(), "attention_mask": attention_mask.numpy()}
        return torch.from_numpy(self.pipeline._run(batch))

    def _logits(self, rendered: list[str], batch_size: int | None) -> torch.Tensor:
        bs = batch_size or self.batch_size
        if bs < 1:
            raise ValueError(f"batch_size must be >= 1, got {bs}")
        self.pipeline.batch_size = bs
        return torch.from_numpy(self.pipeline.logits_rendered(rendered))


def check_utf8(path: str | Path) -> None:
    """Refuse a text file that is not UTF-8, naming the file, the offset and the fix."""
    p = Path(path)
    if p.suffix.lower() not in _TEXT_SUFFIXES or not p.is_file():
        return  # parquet is binary; a missing file gets read_table's own error
    try:
        p.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{p} is not valid UTF-8 (byte 0x{err.object[err.start]:02x} at offset "
            f"{err.start}); re-save it as UTF-8, e.g. iconv -f latin1 -t utf-8 {p} > "
            f"{p.stem}.utf8{p.suffix}"
        ) from None
