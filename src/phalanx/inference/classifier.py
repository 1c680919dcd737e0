"""The classification API shared by every method: classify, decide_class, evaluate.

Inputs are tokenized once, sorted by length and batched, so a short sentence is never padded
to the longest one in the whole list; results come back in input order.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..data.templates import render_inputs
from ..models.loading import default_max_length
from .batching import run_in_batches, token_budget, tokenize
from .metrics import Evaluation, evaluation_from_logits

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
    ):
        """Load the adapter folder ``adapter`` for inference.

        Args:
            adapter: the adapter folder.
            model: an already loaded base (or another classifier) to share instead of
                loading the base again, where the method allows it.
            device: ``"cpu"``, ``"cuda"``, ``"cuda:0"``, ...
            input_template: ``"... {sentence} ..."``; default: the one saved with the adapter.
            max_length: truncation length; default: the one saved with the adapter.
            dtype: ``"float32"``, ``"bfloat16"``, ...; default fp32 on CPU, bf16 on CUDA.
            batch_size: sentences per forward pass.
            meta: the folder's already parsed ``phalanx.json`` (read from the folder if None).
        """
        from ..folder import base_model_of, has_tokenizer, labels_of, read_meta
        from ..models.loading import load_tokenizer
        from ..registry import method_for_folder

        path = Path(adapter)
        if not path.is_dir():
            raise FileNotFoundError(f"adapter folder {path} does not exist")
        self.adapter = str(adapter)
        self.batch_size = batch_size
        self.meta = read_meta(path) if meta is None else meta
        self.method = method_for_folder(path, self.meta).name
        self.base_model_name = base_model_of(path, self.meta) or str(path)
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

        return run_in_batches(
            columns,
            forward,
            pad_id=self.tokenizer.pad_token_id,
            padding_side=self.tokenizer.padding_side,
            batch_size=bs,
            max_tokens=token_budget(self.device, self.max_batch_tokens),
        )

    def classify(self, texts: Any, batch_size: int | None = None) -> torch.Tensor:
        """Class probabilities [N, C]; column i is ``id2label[str(i)]``.

        >>> clf.classify(["It was a bad movie."])  # doctest: +SKIP
        tensor([[0.9720, 0.0280]])
        """
        return self.logits(texts, batch_size).softmax(-1)

    def decide_class(self, texts: Any, batch_size: int | None = None) -> list[str]:
        """The most likely label of each input."""
        preds = self.logits(texts, batch_size).argmax(-1).tolist()
        return [self.id2label[str(i)] for i in preds]

    # scikit-learn-like names beside peft-sparta's
    predict = decide_class
    predict_proba = classify

    def _label_ids(self, labels: Sequence[Any]) -> torch.Tensor:
        label2id = {v: int(k) for k, v in self.id2label.items()}
        out = []
        for i, lab in enumerate(labels):
            if isinstance(lab, str) and lab in label2id:
                out.append(label2id[lab])
            elif isinstance(lab, int) and not isinstance(lab, bool) and 0 <= lab < self.num_labels:
                out.append(lab)
            elif hasattr(lab, "item") and 0 <= int(lab.item()) < self.num_labels:
                out.append(int(lab.item()))
            else:
                raise ValueError(
                    f"label {i} ({lab!r}) is not in the label set: ids 0..{self.num_labels - 1} "
                    f"or names {self.labels}"
                )
        return torch.tensor(out, dtype=torch.long)

    def evaluate(
        self, texts: Any, labels: Sequence[Any], batch_size: int | None = None
    ) -> Evaluation:
        """Loss (mean cross-entropy from log-softmax, always finite), accuracy, confusion
        matrix, balanced accuracy, MCC, F1 (binary) and macro-F1.

        The result is a dict that prints in peft-sparta's layout.
        """
        rendered = render_inputs(self.template, texts)
        if len(rendered) != len(labels):
            raise ValueError(f"{len(rendered)} texts but {len(labels)} labels")
        if not rendered:
            raise ValueError("evaluate needs at least one labelled text")
        y = self._label_ids(labels)  # a bad label fails before the forward passes
        return evaluation_from_logits(self._logits(rendered, batch_size), y)


def load_classifier(path: str | Path, **kwargs: Any) -> TextClassifier:
    """Load any phalanx (or peft-sparta) adapter folder as a classifier.

    The registry picks the loader (the folder's method, or its task's classifier); keyword
    arguments are ``TextClassifier``'s.

    >>> clf = load_classifier("runs/sparta-minilm")  # doctest: +SKIP
    >>> clf.decide_class(["a charming journey"])  # doctest: +SKIP
    ['positive']
    """
    from ..folder import read_meta
    from ..registry import classifier_loader

    meta = read_meta(path)
    return classifier_loader(Path(path), meta)(path, meta=meta, **kwargs)
