"""``Pipeline``: labels, scores and probabilities from an export (ONNX Runtime) or an adapter.

Inputs are tokenized once, sorted by length and cut into batches that never cross a
``sequence_length`` bucket, so a short sentence is never padded to a long one; results come
back in input order. Each batch is padded to its own longest input: the exported graph has
dynamic axes, so padding further up to the bucket size would only add work.

``classify`` returns the scores of the model's problem type (``phalanx.problems.Problem``,
from the export's ``problem`` entry; an export without one is single_label): a softmax, a
sigmoid per label for multi-label models (never a softmax), the value for regression.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data.templates import render_inputs
from ..errors import InputError, first_line
from ..folder import resolve_folder
from ..hub import is_hub_id
from ..inference.batching import (
    check_scores,
    empty_token_id,
    length_batches,
    run_in_batches,
    tokenize,
)
from ..inference.records import check_top_k, prediction_records, ranked
from ..problems import Problem
from .format import REEXPORT, export_problem, read_export_meta

__all__ = ["TASKS", "Pipeline"]

log = logging.getLogger(__name__)

TASKS = ("text-classification", "sentiment-analysis", "text_classification")
"""Task names ``Pipeline.create`` takes: transformers' two and DeepSparse's."""


class _Unset:
    """``Pipeline.__call__`` without ``top_k``: phalanx's record per input."""

    def __repr__(self) -> str:
        return "unset"


_RECORD: Any = _Unset()


def _buckets(sequence_length: int | Sequence[int]) -> list[int]:
    values = [sequence_length] if isinstance(sequence_length, int) else list(sequence_length)
    if not values or any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in values):
        raise ValueError(
            f"sequence_length must be a positive int or a list of them (e.g. [32, 64, 128]), "
            f"got {sequence_length!r}"
        )
    return sorted(set(values))


class Pipeline:
    """Text classification over an ONNX export or any phalanx adapter folder.

    Example:
        >>> pipe = Pipeline.create(model_path="runs/demo/onnx-int8")  # doctest: +SKIP
        >>> pipe("a charming journey")  # doctest: +SKIP
        {'label': 'positive', 'score': 0.97, 'probabilities': {'negative': 0.03, 'positive': 0.97}}
        >>> pipe("a charming journey", top_k=None)  # transformers' shape  # doctest: +SKIP
        [{'label': 'positive', 'score': 0.97}, {'label': 'negative', 'score': 0.03}]
    """

    def __init__(
        self,
        run: Callable[[dict[str, np.ndarray]], np.ndarray],
        tokenizer: Any,
        *,
        id2label: Mapping[Any, str],
        template: str | None,
        max_length: int,
        pad_id: int,
        padding_side: str,
        empty_id: int,
        batch_size: int = 32,
        sequence_length: int | Sequence[int] = (32, 64, 128),
        backend: str = "onnxruntime",
        model_path: str = "",
        problem: Problem | None = None,
    ):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self._run = run
        self.tokenizer = tokenizer
        self.id2label = {int(k): v for k, v in id2label.items()}
        self.labels = [self.id2label[i] for i in range(len(self.id2label))]
        self.template = template
        self.max_length = int(max_length)
        self.pad_id, self.padding_side, self.empty_id = pad_id, padding_side, empty_id
        self.batch_size = batch_size
        self.sequence_length = _buckets(sequence_length)
        self.backend = backend
        self.model_path = model_path
        self.problem = problem or Problem()
        """What the model predicts and how its logits read (single_label by default)."""

    @classmethod
    def create(
        cls,
        task: str = "text-classification",
        model_path: str | Path | None = None,
        batch_size: int = 32,
        sequence_length: int | Sequence[int] = (32, 64, 128),
        num_threads: int | None = None,
        *,
        max_length: int | None = None,
        device: str = "cpu",
        revision: str | None = None,
    ) -> Pipeline:
        """A pipeline for ``model_path``: an export folder (ONNX Runtime), an adapter folder
        or a run folder holding ``adapter/`` (PyTorch through ``phalanx.load_classifier``),
        or a Hub repo id holding one (``"user/repo"`` at ``revision``, downloaded once).

        ``num_threads``: intra-op threads (None: the runtime's default, one per core);
        ``max_length``: truncate shorter than the model's saved limit.
        """
        if task not in TASKS:
            raise InputError(f"task {task!r} is not supported; choose one of {', '.join(TASKS)}")
        if model_path is None:
            raise ValueError("give model_path: an export folder or an adapter folder")
        if num_threads is not None and (not isinstance(num_threads, int) or num_threads < 1):
            raise ValueError(f"num_threads must be an int >= 1 or None, got {num_threads!r}")
        if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
            raise ValueError(f"max_length must be an int >= 1 or None, got {max_length!r}")
        if not Path(model_path).is_dir() and not is_hub_id(model_path):
            raise FileNotFoundError(f"model_path {str(model_path)!r} is not a folder")
        opts = {"batch_size": batch_size, "sequence_length": sequence_length}
        found = resolve_folder(model_path, revision=revision)  # or a Hub repo's snapshot
        if found.kind == "export":
            return cls._onnx(found.path, num_threads, max_length, opts)
        return cls._torch(found.path, num_threads, max_length, device, opts)

    @classmethod
    def _onnx(cls, path: Path, threads: int | None, max_length: int | None, opts) -> Pipeline:
        from .onnx import require_export_deps

        meta = read_export_meta(path)
        require_export_deps()
        import onnxruntime as ort
        from transformers import AutoTokenizer

        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
        model_file = path / meta["model_file"]
        try:
            session = ort.InferenceSession(str(model_file), so, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime's own types: InvalidProtobuf, Fail, ...
            raise InputError(
                f"{model_file} is not an ONNX model onnxruntime can load ({first_line(err)}): it "
                f"was cut short or garbled; {REEXPORT}"
            ) from None
        try:
            tok = AutoTokenizer.from_pretrained(str(path), padding_side=meta["padding_side"])
        except Exception as err:  # tokenizers and transformers raise many types
            raise InputError(
                f"{path}: its tokenizer files cannot be read ({first_line(err)}); {REEXPORT}"
            ) from None

        def run(batch: dict[str, np.ndarray]) -> np.ndarray:
            return session.run(["logits"], batch)[0]

        return cls(
            run,
            tok,
            id2label=meta["id2label"],
            template=meta.get("input_template"),
            max_length=min(max_length or meta["max_length"], meta["max_length"]),
            pad_id=meta["pad_token_id"],
            padding_side=meta["padding_side"],
            empty_id=meta["empty_token_id"],
            backend="onnxruntime",
            model_path=str(path),
            problem=export_problem(meta, path),
            **opts,
        )

    @classmethod
    def _torch(cls, path: Path, threads, max_length, device: str, opts) -> Pipeline:
        import torch

        from ..generative.classifier import GenerativeClassifier
        from ..inference.classifier import load_classifier

        if threads:
            torch.set_num_threads(threads)  # process-wide: PyTorch has no per-model setting
        kwargs: dict[str, Any] = {"device": device}
        if max_length:
            kwargs["max_length"] = max_length
        clf = load_classifier(path, **kwargs)
        tok = clf.tokenizer

        def run(batch: dict[str, np.ndarray]) -> np.ndarray:
            ids, mask = (torch.from_numpy(batch[k]) for k in ("input_ids", "attention_mask"))
            return clf(ids, mask).cpu().numpy()

        pipe = cls(
            run,
            tok,
            id2label=clf.id2label,
            template=clf.template,
            max_length=clf.max_length,
            pad_id=tok.pad_token_id,
            padding_side=tok.padding_side,
            empty_id=empty_token_id(tok),
            backend="pytorch",
            model_path=str(path),
            problem=getattr(clf, "problem", None),
            **opts,
        )
        pipe.classifier = clf
        if isinstance(clf, GenerativeClassifier):
            # label scoring runs its own batched forwards; there are no logits to bucket
            def scored(rendered: list[str]) -> np.ndarray:
                return clf._logits(rendered, pipe.batch_size).numpy()

            pipe.logits_rendered = scored  # type: ignore[method-assign]
        return pipe

    def __repr__(self) -> str:
        return (
            f"Pipeline(model_path={self.model_path!r}, backend={self.backend!r}, "
            f"labels={self.labels}, problem={self.problem.type!r}, batch_size={self.batch_size}, "
            f"sequence_length={self.sequence_length})"
        )

    # -- inference ------------------------------------------------------------------------
    def _batches(self, lengths: list[int]) -> list[list[int]]:
        """Row indices per batch: length-sorted, at most batch_size, never across a bucket."""
        return length_batches(lengths, self.batch_size, buckets=self.sequence_length)

    def logits(self, texts: Any) -> np.ndarray:
        """fp32 logits [N, C] in input order."""
        return self.logits_rendered(render_inputs(self.template, texts))

    def logits_rendered(self, rendered: list[str]) -> np.ndarray:
        """fp32 logits [N, C] for texts the template was already applied to."""
        if not rendered:
            return np.empty((0, len(self.labels)), dtype=np.float32)
        ids = tokenize(self.tokenizer, rendered, self.max_length, empty_id=self.empty_id)
        return self.logits_ids(ids["input_ids"])

    def logits_ids(
        self,
        ids: list[list[int]],
        run: Callable[[dict[str, np.ndarray]], np.ndarray] | None = None,
    ) -> np.ndarray:
        """fp32 logits [N, C] for unpadded token ids, length-sorted into padded batches;
        ``run`` runs one batch (default: this pipeline's session; a server passes one of its
        own sessions)."""
        logits = run_in_batches(
            {"input_ids": ids},
            run or self._run,
            pad_id=self.pad_id,
            padding_side=self.padding_side,
            batch_size=self.batch_size,
            buckets=self.sequence_length,
            return_tensors="np",
        ).astype(np.float32, copy=False)
        fix = REEXPORT if self.backend == "onnxruntime" else "re-train or re-save the adapter"
        return check_scores(logits, f"model {self.model_path}", fix)

    def classify(self, texts: Any) -> np.ndarray:
        """Scores, numpy float32 [N, C]; column i is ``id2label[i]``: class probabilities (a
        softmax) for single_label, each label's own probability (a sigmoid, never a
        softmax) for multi_label, the value [N, 1] for regression."""
        logits = self.logits(texts).astype(np.float64)  # float64 math, float32 out
        return np.asarray(self.problem.scores(logits)).astype(np.float32)

    def __call__(self, inputs: Any, *, top_k: Any = _RECORD) -> Any:
        """One record for a str (or a dict of template fields), a list of them for a list:
        ``{"label": str, "score": float, "probabilities": {label: float, ...}}``
        (multi-label: ``{"labels": [...], "probabilities": {...}}``; regression:
        ``{"value": float}``; ``phalanx.inference.records``, the same as the HTTP API and
        ``classify --json``).

        ``top_k`` gives transformers' shape instead: per input a list of
        ``{"label": str, "score": float}``, best first, the ``top_k`` most likely labels
        (None: every label); a regression model refuses it.

        >>> pipe(["a charming journey"], top_k=1)  # doctest: +SKIP
        [[{'label': 'positive', 'score': 0.97}]]
        """
        rank = top_k is not _RECORD
        if rank:
            check_top_k(top_k, self.problem)  # before any work
        single = isinstance(inputs, (str, Mapping))
        scores = self.classify([inputs] if single else inputs)
        records = prediction_records(scores, self.labels, problem=self.problem)
        results = [ranked(r, top_k) for r in records] if rank else records
        return results[0] if single else results
