"""Sentences per second on CPU: transformers' pipeline vs phalanx (PyTorch, ONNX fp32, int8).

One process, one adapter, the 1,061 rotten_tomatoes test sentences at their true lengths.
Engines, each timed on one full pass over the sentences:

- ``hf-pipeline``: transformers ``pipeline("text-classification")`` on the merged PyTorch
  model (what a user would write), fed the whole list with ``batch_size``;
- ``phalanx-torch``: ``phalanx.export.Pipeline`` on the adapter folder (PyTorch);
- ``onnx-fp32`` / ``onnx-int8`` / ``onnx-int8-token``: the Pipeline on the fp32 export, its
  dynamic int8 copy and its per-token int8 copy (calibrated on 256 training sentences);
  ``--pruned DIR`` adds an export or adapter folder (a structurally pruned model).

The engines take turns inside every repeat (round-robin), so they see the same load on a
shared machine; the median of the repeats is reported with the ratio to hf-pipeline.
Accuracy of every engine and the int8-vs-fp32 prediction agreement come from the same run.

    python benchmarks/cpu_inference.py --adapter runs/sparta/adapter
    python benchmarks/cpu_inference.py --adapter A --batch-sizes 32 1 --repeats 5 --pruned P
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def _exports(adapter: Path, work: Path) -> tuple[Path, Path, Path]:
    """fp32, dynamic int8 and per-token int8 exports of ``adapter`` (made once, under work)."""
    from phalanx.data import load_data
    from phalanx.export import export_onnx, is_export, quantize_export

    fp32, int8, token = work / "onnx-fp32", work / "onnx-int8", work / "onnx-int8-token"
    if not is_export(fp32):
        export_onnx(adapter, fp32, overwrite=True)
    if not is_export(int8):
        quantize_export(fp32, int8, "int8-dynamic", overwrite=True)
    if not is_export(token):  # calibrated as `phalanx export` does: on training sentences
        calibration = load_data("rotten_tomatoes").train.texts[:256]
        quantize_export(fp32, token, "int8-token", calibration, overwrite=True)
    return fp32, int8, token


def _hf_engine(adapter: Path, batch_size: int) -> Callable[[list[str]], np.ndarray]:
    """transformers' pipeline on the merged model (templates applied by the caller)."""
    from transformers import pipeline

    from phalanx.export.merge import merge_for_export

    merged = merge_for_export(adapter)
    model = merged.module.model  # the merged *ForSequenceClassification
    clf = merged.classifier
    pipe = pipeline(
        "text-classification", model=model, tokenizer=merged.tokenizer, device="cpu", top_k=None
    )
    labels = clf.labels

    def run(texts: list[str]) -> np.ndarray:
        out = pipe(texts, batch_size=batch_size, truncation=True, max_length=clf.max_length)
        probs = np.zeros((len(texts), len(labels)), dtype=np.float32)
        for i, scores in enumerate(out):
            for s in scores:
                probs[i, labels.index(s["label"])] = s["score"]
        return probs

    return run


def _pipeline_engine(path: Path, batch_size: int, threads: int | None):
    from phalanx.export import Pipeline

    pipe = Pipeline.create(model_path=path, batch_size=batch_size, num_threads=threads)
    return pipe.classify


def _sentences(limit: int | None) -> tuple[list[str], np.ndarray]:
    from phalanx.data import load_data

    test = load_data("rotten_tomatoes").test
    texts, labels = list(test.texts), np.array(test.labels)
    if limit and limit < len(texts):
        step = len(texts) / limit  # every k-th sentence keeps the length distribution
        keep = [int(i * step) for i in range(limit)]
        texts, labels = [texts[i] for i in keep], labels[keep]
    return texts, labels


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--adapter", required=True, help="a phalanx adapter folder")
    p.add_argument("--work", default="runs/cpu_inference", help="where the exports are kept")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 1])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--limit", type=int, help="sentences (default: all 1,061)")
    p.add_argument("--limit-batch1", type=int, default=300, help="sentences at batch 1")
    p.add_argument("--threads", type=int, help="intra-op threads (default: the runtime's)")
    p.add_argument("--pruned", help="export or adapter folder of a structurally pruned model")
    args = p.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    from phalanx.data.templates import render_inputs
    from phalanx.export import read_export_meta

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    adapter = Path(args.adapter)
    fp32, int8, token = _exports(adapter, Path(args.work))
    template = read_export_meta(fp32).get("input_template")
    print(f"load average: {os.getloadavg()}; cpus: {os.cpu_count()}")
    for bs in args.batch_sizes:
        limit = args.limit if bs > 1 else (args.limit or args.limit_batch1)
        texts, labels = _sentences(limit)
        rendered = render_inputs(template, texts)  # hf's pipeline knows no templates
        engines: dict[str, Callable] = {
            "hf-pipeline": _hf_engine(adapter, bs),
            "phalanx-torch": _pipeline_engine(adapter, bs, args.threads),
            "onnx-fp32": _pipeline_engine(fp32, bs, args.threads),
            "onnx-int8": _pipeline_engine(int8, bs, args.threads),
            "onnx-int8-token": _pipeline_engine(token, bs, args.threads),
        }
        if args.pruned:
            engines["pruned"] = _pipeline_engine(Path(args.pruned), bs, args.threads)
        times: dict[str, list[float]] = {n: [] for n in engines}
        preds: dict[str, np.ndarray] = {}
        for name, run in engines.items():  # warm-up: first-call allocations, lazy init
            run((rendered if name == "hf-pipeline" else texts)[:bs])
        for _ in range(args.repeats):
            for name, run in engines.items():
                start = time.perf_counter()
                probs = run(rendered if name == "hf-pipeline" else texts)
                times[name].append(time.perf_counter() - start)
                preds[name] = probs.argmax(1)
        _report(bs, len(texts), times, preds, labels)


def _report(bs: int, n: int, times, preds, labels) -> None:
    base = n / statistics.median(times["hf-pipeline"])
    print(f"\nbatch {bs}, {n} sentences, load average {os.getloadavg()[0]:.1f}")
    print(f"{'engine':<15}{'sent/s':>10}{'ratio':>8}{'accuracy':>10}  runs (s)")
    for name, ts in times.items():
        rate = n / statistics.median(ts)
        acc = float((preds[name] == labels).mean())
        runs = " ".join(f"{t:.2f}" for t in ts)
        print(f"{name:<15}{rate:>10.1f}{rate / base:>7.2f}x{100 * acc:>9.2f}%  {runs}")
    for name in ("onnx-int8", "onnx-int8-token"):
        agree = float((preds[name] == preds["onnx-fp32"]).mean())
        print(f"{name} vs fp32 prediction agreement: {100 * agree:.2f}%")


if __name__ == "__main__":
    main()
