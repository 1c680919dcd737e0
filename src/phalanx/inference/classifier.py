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
import torch.nn.functional as F

from ..data.templates import render_inputs
from ..models.loading import default_max_length
from .metrics import Evaluation, classification_metrics, confusion_matrix

__all__ = ["TextClassifier", "load_classifier"]

log = logging.getLogger(__name__)


class TextClassifier:
    """Inference over a ``*ForSequenceClassification`` model plus labels and a template.

    Subclasses set ``model``, ``tokenizer``, ``id2label`` (string keys), ``template``,
    ``max_length``, ``device`` and may override ``_activate`` (called before each forward).
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

    def _pad(self, seqs: list[list[int]]) -> dict[str, torch.Tensor]:
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        left = self.tokenizer.padding_side == "left"
        for row, s in enumerate(seqs):
            span = slice(width - len(s), width) if left else slice(0, len(s))
            ids[row, span] = torch.tensor(s)
            mask[row, span] = 1
        return {"input_ids": ids.to(self.device), "attention_mask": mask.to(self.device)}

    def logits(self, texts: Any, batch_size: int | None = None) -> torch.Tensor:
        """fp32 logits [N, C] on the CPU, in input order."""
        return self._logits(render_inputs(self.template, texts), batch_size)

    @torch.inference_mode()
    def _logits(self, rendered: list[str], batch_size: int | None) -> torch.Tensor:
        if not rendered:
            return torch.empty((0, self.num_labels))
        bs = batch_size or self.batch_size
        if bs < 1:
            raise ValueError(f"batch_size must be >= 1, got {bs}")
        self._activate()
        enc = self.tokenizer(rendered, truncation=True, max_length=self.max_length)["input_ids"]
        fallback = self.tokenizer.eos_token_id or self.tokenizer.pad_token_id
        enc = [s if s else [fallback] for s in enc]  # an empty text still gets one token
        order = sorted(range(len(enc)), key=lambda i: len(enc[i]))
        out = torch.empty((len(enc), self.num_labels))
        for rows in self._batches(order, [len(s) for s in enc], bs):
            batch = self._pad([enc[i] for i in rows])
            out[rows] = self.model(**batch).logits.float().cpu()
        return out

    def _batches(self, order: list[int], lengths: list[int], bs: int):
        """Length-sorted batches of at most ``bs`` rows and (on CPU) ``max_batch_tokens``.

        On CPU a batch larger than the caches runs slower per sentence, so a token budget
        splits big batches of long sentences; on GPUs ``batch_size`` alone decides.
        """
        budget = self.max_batch_tokens
        if budget is None and torch.device(self.device).type == "cpu":
            budget = 2048
        rows: list[int] = []
        for i in order:
            if rows and (len(rows) == bs or (budget and (len(rows) + 1) * lengths[i] > budget)):
                yield rows
                rows = []
            rows.append(i)
        if rows:
            yield rows

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

    # scikit-learn-like names beside the seed's
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

        The result is a dict that prints in the seed's layout.
        """
        rendered = render_inputs(self.template, texts)
        if len(rendered) != len(labels):
            raise ValueError(f"{len(rendered)} texts but {len(labels)} labels")
        if not rendered:
            raise ValueError("evaluate needs at least one labelled text")
        y = self._label_ids(labels)
        logits = self._logits(rendered, batch_size)
        cm = confusion_matrix(y, logits.argmax(-1), self.num_labels)
        result = Evaluation(loss=F.cross_entropy(logits, y).item())
        metrics = classification_metrics(cm)
        result["accuracy"] = metrics.pop("accuracy")
        result["confusion matrix"] = cm.tolist()
        result.update(metrics)
        result["n"] = len(rendered)
        return result


def load_classifier(path: str | Path, **kwargs: Any) -> TextClassifier:
    """Load any phalanx (or peft-sparta) adapter folder as a classifier.

    >>> clf = load_classifier("runs/sparta-minilm")  # doctest: +SKIP
    >>> clf.decide_class(["a charming journey"])  # doctest: +SKIP
    ['positive']
    """
    import json

    from ..registry import method_for_folder

    meta = Path(path) / "phalanx.json"
    if meta.is_file() and json.loads(meta.read_text()).get("task") == "generative":
        from ..generative.classifier import GenerativeClassifier

        return GenerativeClassifier(path, **kwargs)
    return method_for_folder(Path(path)).load_classifier(path, **kwargs)
