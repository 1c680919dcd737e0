"""The classification API shared by every method: classify, decide_class, evaluate.

Inputs are tokenized once, sorted by length and batched, so a short sentence is never padded
to the longest one in the whole list; results come back in input order.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..data.labels import label_ids
from ..data.templates import render_inputs
from ..errors import InputError, shown
from ..models.loading import default_max_length
from ..problems import Problem
from ..validation import check_int_range
from .batching import check_scores, run_in_batches, token_budget, tokenize
from .metrics import Evaluation, evaluation_from_logits
from .records import prediction_records

__all__ = ["TextClassifier", "load_classifier"]

log = logging.getLogger(__name__)


class TextClassifier:
    """Inference over a ``*ForSequenceClassification`` model plus labels and a template.

    The constructor reads the folder's metadata, labels and base model, then asks the
    subclass for what differs: ``_load`` (the model to run), ``hf_model`` (the transformers
    model under any wrapper), ``_ready`` (last touches). ``_activate`` runs before each
    forward (adapters sharing a base make their weights the live ones).
    """

    model: Any
    tokenizer: Any
    id2label: dict[str, str]
    template: str | None
    max_length: int
    device: torch.device
    batch_size: int = 32
    adapter: str = ""
    base_model_name: str = ""
    max_batch_tokens: int | None = None
    """Cap on padded tokens per batch (None: 2048 on CPU, unlimited on GPU)."""
    method: str = ""
    """The registered method of the folder (``sparta``, ``lora``, ...)."""
    meta: dict[str, Any]
    problem: Problem
    """What the model predicts (single_label, multi_label, regression) and how its logits
    read: ``classify`` returns ``problem.scores(logits)``."""

    def __init__(
        self,
        adapter: str | Path,
        model: Any = None,
        device: str | torch.device = "cpu",
        input_template: str | None = None,
        max_length: int | None = None,
        dtype: str | torch.dtype | None = None,
        batch_size: int = 32,
        *,
        meta: dict[str, Any] | None = None,
        problem_type: str | None = None,
    ):
        """Load the adapter folder ``adapter`` for inference.

        Args:
            adapter: the adapter folder (or a run folder holding ``adapter/``).
            model: an already loaded base (or another classifier) to share instead of
                loading the base again, where the method allows it.
            device: ``"cpu"``, ``"cuda"``, ``"cuda:0"``, ...
            input_template: ``"... {sentence} ..."``; default: the one saved with the adapter.
            max_length: truncation length; default: the one saved with the adapter.
            dtype: ``"float32"``, ``"bfloat16"``, ...; default fp32 on CPU, bf16 on CUDA.
            batch_size: sentences per forward pass.
            meta: the folder's already parsed ``phalanx.json`` (read from the folder if None).
            problem_type: the problem type the caller expects; a folder of another one is
                refused (default: whatever the folder records).
        """
        from ..folder import (
            META_FILE,
            base_model_of,
            check_meta,
            has_tokenizer,
            labels_of,
            read_config,
            read_meta,
            resolve_adapter,
        )
        from ..models.loading import load_tokenizer
        from ..registry import method_for_folder

        path = resolve_adapter(adapter)  # a run folder's adapter/ too
        self.adapter = str(path)
        self.batch_size = batch_size
        self.meta = read_meta(path) if meta is None else check_meta(meta, path / META_FILE)
        self.method = method_for_folder(path, self.meta).name
        self.base_model_name = base_model_of(path, self.meta) or str(path)
        self.problem = Problem.from_meta(self.meta, read_config(path))
        self.problem.check_matches(problem_type, str(path))
        labels = labels_of(path, self.meta) or ["LABEL_0", "LABEL_1"]  # peft's default
        self.id2label = {str(i): label for i, label in enumerate(labels)}
        if isinstance(model, TextClassifier):
            model = model.model
        self.model = self._load(path, model, device=device, dtype=dtype).eval()
        self.device = next(self.model.parameters()).device
        inner = self.hf_model
        source = str(path) if has_tokenizer(path) else self.base_model_name
        self.tokenizer = load_tokenizer(source, inner)
        self._settings(self.meta, input_template, max_length, inner)
        self._ready()
        self._activate()

    def _load(self, path: Path, model: Any, *, device: str | torch.device, dtype: Any) -> Any:
        """The model to run for the folder ``path`` (``model``: a base to share, or None)."""
        raise NotImplementedError(f"{type(self).__name__} does not load adapter folders")

    @property
    def hf_model(self) -> Any:
        """The transformers model under any wrapper (its config, padding side, head)."""
        return self.model

    def _ready(self) -> None:
        """Last touches once the tokenizer and settings are known."""

    def merge(self) -> None:
        """Fold the adapter into ``hf_model``'s weights (export, faster inference).

        By default activating is enough: the adapter's weights are the live ones.
        """
        self._activate()

    def unmerge(self) -> None:
        """Undo ``merge`` (by default there is nothing to undo)."""

    def _activate(self) -> None:
        """Make this classifier's weights the live ones (adapters sharing a base)."""

    def _settings(self, meta: dict, template: str | None, max_length: int | None, model) -> None:
        """Template and max length: the caller's, else the adapter's, else the model's."""
        self.meta = meta
        self.template = template if template is not None else meta.get("input_template")
        if max_length is not None:
            check_int_range("max_length", max_length)
        self.max_length = int(
            max_length or meta.get("max_length") or default_max_length(self.tokenizer, model)
        )

    repr_tag = "SpaRTA"

    def __repr__(self) -> str:
        """peft-sparta's printed form (``repr_tag`` names the method)."""
        id2label = ", ".join(f"{i}: '{label}'" for i, label in self.id2label.items())
        return (
            f"({self.repr_tag})ModelForSeqClassification(\n"
            f"\tadapter = '{self.adapter}'\n"
            f"\tmodel = '{self.base_model_name}'\n"
            f"\tid2label = {{{id2label}}}\n)"
        )

    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    @property
    def labels(self) -> list[str]:
        return [self.id2label[str(i)] for i in range(self.num_labels)]

    # -- forward ----------------------------------------------------------------------
    @torch.inference_mode()
    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None):
        """Logits (fp32) for already tokenized inputs, as peft-sparta's ``__call__``."""
        self._activate()
        kwargs = {"input_ids": input_ids.to(self.device)}
        if attention_mask is not None:
            kwargs["attention_mask"] = attention_mask.to(self.device)
        return self.model(**kwargs).logits.float()

    def logits(self, texts: Any, batch_size: int | None = None) -> torch.Tensor:
        """fp32 logits [N, C] on the CPU, in input order."""
        return self._logits(render_inputs(self.template, texts), batch_size)

    @torch.inference_mode()
    def _logits(self, rendered: list[str], batch_size: int | None) -> torch.Tensor:
        if not rendered:
            return torch.empty((0, self.num_labels))
        ids = tokenize(self.tokenizer, rendered, self.max_length)["input_ids"]
        return self._forward_batches({"input_ids": ids}, batch_size)

    @torch.inference_mode()
    def _pair_logits(
        self, texts: list[str], pairs: list[str], batch_size: int | None = None
    ) -> torch.Tensor:
        """fp32 logits of sentence pairs tokenized as pairs (training without a template)."""
        columns = tokenize(self.tokenizer, texts, self.max_length, pairs)
        return self._forward_batches(columns, batch_size)

    def _forward_batches(self, columns: dict[str, list[list[int]]], batch_size: int | None):
        """Logits [N, C] on the CPU over length-sorted batches of at most ``batch_size`` rows
        and (on CPU) ``max_batch_tokens``: a batch larger than the caches runs slower per
        sentence, so a token budget splits big batches of long ones."""
        bs = batch_size or self.batch_size
        if bs < 1:
            raise ValueError(f"batch_size must be >= 1, got {bs}")
        self._activate()

        def forward(batch: dict[str, torch.Tensor]) -> torch.Tensor:
            batch = {k: v.to(self.device) for k, v in batch.items()}
            return self.model(**batch).logits.float().cpu()

        logits = run_in_batches(
            columns,
            forward,
            pad_id=self.tokenizer.pad_token_id,
            padding_side=self.tokenizer.padding_side,
            batch_size=bs,
            max_tokens=token_budget(self.device, self.max_batch_tokens),
        )
        return check_scores(logits, f"adapter {self.adapter}")

    def classify(self, texts: Any, batch_size: int | None = None) -> torch.Tensor:
        """Scores [N, C]; column i is ``id2label[str(i)]``: class probabilities (a softmax)
        for single_label, independent per-label probabilities (a sigmoid each, never a
        softmax) for multi_label, the predicted value [N, 1] for regression.

        >>> clf.classify(["It was a bad movie."])  # doctest: +SKIP
        tensor([[0.9720, 0.0280]])
        """
        return self.problem.scores(self.logits(texts, batch_size))

    def decide_class(self, texts: Any, batch_size: int | None = None) -> list[Any]:
        """The decision for each input: the most likely label (single_label), the list of
        labels at or above their thresholds (multi_label), the value (regression)."""
        return self.problem.decide(self.classify(texts, batch_size), self.labels)

    # scikit-learn-like names beside peft-sparta's
    predict = decide_class
    predict_proba = classify

    def predict_records(self, texts: Any, batch_size: int | None = None) -> list[dict[str, Any]]:
        """One record per input, as ``Pipeline``, the HTTP API and ``classify --json`` give:
        ``{"label": str, "score": float, "probabilities": {label: float, ...}}``.

        >>> clf.predict_records(["It was a bad movie."])  # doctest: +SKIP
        [{'label': 'negative', 'score': 0.972, 'probabilities': {'negative': 0.972, ...}}]
        """
        return prediction_records(
            self.classify(texts, batch_size), self.labels, problem=self.problem
        )

    def _label_ids(self, labels: Sequence[Any]) -> torch.Tensor:
        """Class ids of ``labels`` by the one label rule (``phalanx.data.labels.label_ids``):
        a value equal to a label name (as text: ``1`` and ``"1"`` are the name "1") is that
        class; an integer is a class id only when no label name is a number."""
        return torch.tensor(label_ids(labels, self.labels), dtype=torch.long)

    def _targets(self, labels: Sequence[Any], separator: str = "|") -> torch.Tensor:
        """What ``evaluate`` scores against: class ids (single_label), multi-hot rows over
        the label names (multi_label: each value a list of names, or one text joined by
        ``separator``), or float targets (regression)."""
        if self.problem.type == "single_label":
            return self._label_ids(labels)
        if self.problem.type == "regression":
            return torch.tensor([_target(v, i) for i, v in enumerate(labels)], dtype=torch.float64)
        rows = torch.zeros((len(labels), self.num_labels))
        for i, value in enumerate(labels):
            items = value.split(separator) if isinstance(value, str) else value
            if not isinstance(items, list | tuple):
                raise InputError(
                    f"labels at position {i} (from 0) is {shown(value)}; a multi_label model "
                    f"takes a list of label names per text (or one text joined by "
                    f"{separator!r})"
                )
            items = [v for v in items if not (isinstance(v, str) and not v.strip())]
            ids = label_ids(items, self.labels, at=lambda _, i=i: f"at position {i} (from 0)")
            rows[i, ids] = 1.0
        return rows

    def evaluate(
        self, texts: Any, labels: Sequence[Any], batch_size: int | None = None
    ) -> Evaluation:
        """The metrics of the model's problem type on labelled texts.

        single_label: loss (mean cross-entropy), accuracy, confusion matrix, balanced
        accuracy, MCC, F1 (binary), macro-F1 and the per-class report; ``labels`` are label
        names (``1`` and ``"1"`` both name the label "1") or, when no label name is a
        number, class ids. multi_label: ``labels`` are lists of label names (or texts
        joined by ``|``); micro / macro / samples F1, subset accuracy, Hamming loss, mAP and
        per-label figures at the saved thresholds. regression: ``labels`` are numbers; MSE,
        MAE, Pearson and Spearman. The result is a dict (one snake_case key per metric)
        that prints readably.
        """
        rendered = render_inputs(self.template, texts)
        if len(rendered) != len(labels):
            raise InputError(f"{len(rendered)} texts but {len(labels)} labels")
        if not rendered:
            raise InputError("evaluate needs at least one labelled text")
        y = self._targets(labels)  # a bad label fails before the forward passes
        logits = self._logits(rendered, batch_size)
        if self.problem.type == "single_label":
            return evaluation_from_logits(logits, y, self.labels)
        from ..problems.metrics import evaluation_for

        return evaluation_for(self.problem, logits, y, self.labels)

    def push_to_hub(self, repo_id: str, **options: Any) -> str:
        """Upload the folder this classifier was loaded from (adapter or export, as is) to
        the Hub repo ``repo_id``; the commit or pull request URL. Options of
        ``phalanx.hub.push_folder``: ``private``, ``revision``, ``create_pr``, ``token``,
        ``commit_message``. ``load_classifier(repo_id)`` loads it back."""
        from ..hub import push_folder

        return push_folder(self.adapter, repo_id, **options)

    # -- a user's files (columns default to the training run's: phalanx.inference.files)
    def classify_file(self, path: str | Path, batch_size: int | None = None, **columns: Any):
        """Class probabilities [N, C] of every row of a data file (csv, tsv, json, jsonl,
        parquet). ``text_column`` / ``text_pair_column`` default to the training run's.

        >>> clf.classify_file("new.csv")  # doctest: +SKIP
        tensor([[0.9720, 0.0280], ...])
        """
        from .files import classify_inputs, file_inputs

        return classify_inputs(self, file_inputs(self, path, **columns), batch_size)

    def evaluate_dataset(self, dataset: str, **options: Any) -> Evaluation:
        """The metrics of ``evaluate`` on a labelled dataset: a file (every row, unless
        ``split=``), a folder of split files or a built-in (its ``test`` split).

        Options (``phalanx.inference.files.evaluate_dataset``): ``split``, ``text_column``,
        ``text_pair_column``, ``label_column`` (default: the training run's columns),
        ``limit``, ``batch_size``. Fewer than 30 examples log a warning.

        >>> print(clf.evaluate_dataset("other.csv"))  # doctest: +SKIP
        """
        from .files import evaluate_dataset

        return evaluate_dataset(self, dataset, **options)


def _target(value: Any, position: int) -> float:
    """A regression target as a finite float, or an error naming it and its position."""
    try:
        number = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or not math.isfinite(number):
        raise InputError(
            f"target {shown(value)} at position {position} (from 0) is not a finite number; "
            "a regression model is evaluated against numbers"
        )
    return number


def load_classifier(
    path: str | Path, *, revision: str | None = None, **kwargs: Any
) -> TextClassifier:
    """Load a model folder as a classifier: an adapter folder (phalanx or peft-sparta), a
    run folder (its ``adapter/``) or an export folder (ONNX Runtime, on the CPU); or a
    Hugging Face Hub repo id holding one (``"user/repo"``, at ``revision``: a branch, tag
    or commit), downloaded into the Hub cache (``phalanx.folder.resolve_folder``).

    The registry picks an adapter's loader (the folder's method, or its task's classifier);
    keyword arguments are ``TextClassifier``'s (an export takes ``batch_size``,
    ``max_length`` and ``num_threads``).

    >>> clf = load_classifier("runs/sparta-minilm")  # doctest: +SKIP
    >>> clf.decide_class(["a charming journey"])  # doctest: +SKIP
    ['positive']
    """
    from ..folder import read_meta, resolve_folder
    from ..registry import classifier_loader

    found = resolve_folder(path, revision=revision)
    if found.kind == "export":
        return _export_classifier(found.path, kwargs)
    meta = read_meta(found.path)
    return classifier_loader(found.path, meta)(found.path, meta=meta, **kwargs)


_EXPORT_OPTIONS = ("batch_size", "max_length", "num_threads", "problem_type")


def _export_classifier(path: Path, kwargs: dict[str, Any]) -> TextClassifier:
    """An export folder as a classifier, refusing options that do not apply to it."""
    from ..registry import export_loader  # exports build on this module: no import here

    device = kwargs.pop("device", None) or "cpu"
    if str(device) != "cpu":
        raise InputError(
            f"{path} is an ONNX export: it runs on cpu (ONNX Runtime), not {device}; drop "
            "device= (--device)"
        )
    unused = sorted(k for k, v in kwargs.items() if k not in _EXPORT_OPTIONS and v is not None)
    if unused:
        raise InputError(
            f"{path} is an ONNX export: {', '.join(unused)} do not apply to it (it takes "
            f"{', '.join(_EXPORT_OPTIONS)}); load the adapter it came from for those"
        )
    return export_loader()(path, **{k: v for k, v in kwargs.items() if v is not None})
