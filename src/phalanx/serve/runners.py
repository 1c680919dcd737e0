"""How a served model turns token ids into scores, so the batcher can tokenize first.

The batcher tokenizes each request when it arrives (on a tokenizer thread, off the event
loop) and forms batches by a token budget; the forward then runs on those ids without
tokenizing again. ``runner_for`` gives the runner of a backend: ``TorchRunner`` for a
``TextClassifier``, ``OnnxRunner`` for an export ``Pipeline`` (one ONNX Runtime session
per worker); other backends (generative classifiers, stand-ins) have none and are run by
their own ``classify``.
"""

from __future__ import annotations

import queue
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..inference.batching import tokenize

__all__ = ["OnnxRunner", "TorchRunner", "onnx_session", "runner_for"]

Ids = list[list[int]]


class TorchRunner:
    """A ``TextClassifier``'s forward over given ids (what its ``classify`` computes)."""

    def __init__(self, clf: Any):
        self.clf = clf

    def encode(self, rendered: Sequence[str]) -> Ids:
        return tokenize(self.clf.tokenizer, rendered, self.clf.max_length)["input_ids"]

    def scores(self, ids: Ids) -> np.ndarray:
        import torch

        with torch.inference_mode():  # as TextClassifier.classify: no autograd records
            logits = self.clf._forward_batches({"input_ids": ids}, None)
            scores = self.clf.problem.scores(logits)
        return np.asarray(getattr(scores, "numpy", lambda: scores)(), dtype=np.float32)


class OnnxRunner:
    """An export ``Pipeline``'s forward over given ids, on a pool of sessions: each worker
    takes a free one, so ``workers`` forwards run at once with their own thread pools."""

    def __init__(self, pipe: Any, sessions: Sequence[Any]):
        self.pipe = pipe
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        for s in sessions:
            self._free.put(s)
        self.sessions = len(sessions)

    def encode(self, rendered: Sequence[str]) -> Ids:
        p = self.pipe
        return tokenize(p.tokenizer, rendered, p.max_length, empty_id=p.empty_id)["input_ids"]

    def scores(self, ids: Ids) -> np.ndarray:
        p = self.pipe
        session = self._free.get()
        try:
            logits = p.logits_ids(ids, lambda batch: session.run(["logits"], batch)[0])
        finally:
            self._free.put(session)
        return np.asarray(p.problem.scores(logits.astype(np.float64))).astype(np.float32)


def onnx_session(path: str | Path, model_file: str, threads: int, spinning: bool) -> Any:
    """An ONNX Runtime CPU session with ``threads`` intra-op threads; ``spinning`` lets
    idle pool threads busy-wait for work (ONNX Runtime's default; off by default here:
    measured in benchmarks/RESULTS.md)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    file = str(Path(path) / model_file)
    return ort.InferenceSession(file, so, providers=["CPUExecutionProvider"])


def runner_for(backend: Any) -> TorchRunner | OnnxRunner | None:
    """The runner of ``backend`` (None: it tokenizes inside its own ``classify``)."""
    runner = getattr(backend, "phalanx_runner", None)
    if runner is not None:
        return runner
    from ..inference.classifier import TextClassifier

    plain = isinstance(backend, TextClassifier) and type(backend)._logits is TextClassifier._logits
    return TorchRunner(backend) if plain and hasattr(backend, "_forward_batches") else None
