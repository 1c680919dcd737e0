"""int8 vs fp32 on the rotten_tomatoes test split, for several models side by side.

For each adapter or compress output, the fp32 ONNX export and its two int8 copies (kept
under ``--work``): dynamic (``int8-dynamic``, one activation range per batch) and per-token
(``int8-token``, what ``--quantize int8`` makes, calibrated on 256 training sentences)
classify all 1,061 test sentences.
Printed per model and int8 mode: fp32 and int8 test accuracy, the share of sentences whose
int8 prediction equals the fp32 one (issue 6's bar: >= 99%), the largest probability
change, and how many fp32 predictions lie within 0.05 of a tie (the sentences a small
logit change can flip).

    python benchmarks/int8_agreement.py runs/compare/lora/adapter runs/compress-qat
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", help="adapter folders or compress outputs")
    p.add_argument("--work", default="runs/int8_agreement", help="where the exports are kept")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads")
    args = p.parse_args()
    from cpu_inference import _exports  # the same fp32 + int8 exports

    from phalanx.data import load_data
    from phalanx.export import Pipeline

    test = load_data("rotten_tomatoes").test
    texts, labels = list(test.texts), np.array(test.labels)
    rows = []
    for model in args.models:
        work = Path(args.work) / re.sub(r"[^A-Za-z0-9]+", "-", str(model)).strip("-")
        probs = {}
        names = ("fp32", "int8-dynamic", "int8-token")
        for name, folder in zip(names, _exports(Path(model), work), strict=True):
            pipe = Pipeline.create(model_path=str(folder), num_threads=args.threads)
            probs[name] = pipe.classify(texts)
        pred = {k: v.argmax(-1) for k, v in probs.items()}
        top = np.sort(probs["fp32"], axis=-1)
        for mode in names[1:]:
            rows.append(
                {
                    "model": f"{model} ({mode})",
                    "fp32": 100 * float((pred["fp32"] == labels).mean()),
                    "int8": 100 * float((pred[mode] == labels).mean()),
                    "agree": 100 * float((pred[mode] == pred["fp32"]).mean()),
                    "flips": int((pred[mode] != pred["fp32"]).sum()),
                    "max_dp": float(np.abs(probs[mode] - probs["fp32"]).max()),
                    "near_tie": int((top[:, -1] - top[:, -2] < 0.05).sum()),
                }
            )
    print(f"\n{len(texts)} test sentences, int8 exports (ONNX Runtime), {args.threads} thread(s)")
    print("| model | fp32 acc % | int8 acc % | agreement % | flips | max prob change | "
          "fp32 margin < 0.05 |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['fp32']:.2f} | {r['int8']:.2f} | {r['agree']:.2f} | "
              f"{r['flips']} | {r['max_dp']:.3f} | {r['near_tie']} |")  # fmt: skip


if __name__ == "__main__":
    main()
