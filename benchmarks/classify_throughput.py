"""Sentences per second of ``classify``: phalanx vs peft-sparta 0.0.3 on the same adapter.

One process, the same SpaRTA adapter on a decoder classifier built from a config (random
weights), the rotten_tomatoes test sentences (one token per word), several batch sizes.
peft-sparta's ``classify`` takes one list; it is fed chunks of the batch size in input
order, as a user would. The two take turns in each round.

    python benchmarks/classify_throughput.py                       # CPU, small preset
    python benchmarks/classify_throughput.py --device cuda --preset gemma-2b
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import (
    build_classifier,
    median,
    set_threads,
    test_sentences,
    time_it,
    word_tokenizer,
)


def make_adapter(root: Path, preset: str, texts: list[str]) -> Path:
    from phalanx import SpaRTAMethodConfig, get_sparta_model, save_sparta_adapter

    model, _, _ = build_classifier(preset, torch.float32, "cpu")
    base = root / "base"
    model.save_pretrained(base)
    word_tokenizer(base, texts, model.config.vocab_size)
    sparta = get_sparta_model(model, SpaRTAMethodConfig(sparsity=0.99))
    with torch.no_grad():
        for sd in sparta.deltas.values():
            sd.delta.normal_(0, 0.02)
    save_sparta_adapter(sparta, root / "adapter", base_model=str(base), meta={"max_length": 512})
    return root / "adapter"


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--preset", default=None)
    p.add_argument("--batch-sizes", default="16,64,256")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    args.preset = args.preset or ("gemma-2b" if args.device.startswith("cuda") else "small")
    set_threads()
    from peft_sparta import SpaRTAforSequenceClassification as Peer

    from phalanx import SpaRTAforSequenceClassification

    texts, source = test_sentences()
    with tempfile.TemporaryDirectory() as tmp:
        adapter = make_adapter(Path(tmp), args.preset, texts)
        # peft-sparta always runs bf16 (autocast); phalanx at the same precision, and fp32
        ours = {
            "bf16": SpaRTAforSequenceClassification(adapter, device=args.device, dtype="bfloat16"),
            "fp32": SpaRTAforSequenceClassification(adapter, device=args.device, dtype="float32"),
        }
        peer = Peer(str(adapter), device=args.device)
        print(
            f"classify throughput, preset={args.preset}, device={args.device}, "
            f"threads={torch.get_num_threads()}, {len(texts)} sentences ({source})"
        )
        ref = peer.classify(texts[:256]).argmax(-1).cpu()
        for name, clf in ours.items():
            agree = (clf.classify(texts[:256]).argmax(-1) == ref).float().mean().item()
            print(f"argmax agreement with peft-sparta, phalanx {name}: {agree:.3f}")
        print(
            f"{'batch':>6} {'peft-sparta bf16':>17} {'phalanx bf16':>13} {'ratio':>7} "
            f"{'phalanx fp32':>13} {'ratio':>7}   (sentences/s)"
        )
        for bs in (int(b) for b in args.batch_sizes.split(",")):

            def run_peer(bs=bs):
                for i in range(0, len(texts), bs):
                    peer.classify(texts[i : i + bs])

            runs = {"peer": run_peer}
            for name, clf in ours.items():
                runs[name] = lambda clf=clf, bs=bs: clf.classify(texts, batch_size=bs)
            times = {k: [] for k in runs}
            for _ in range(args.rounds):
                for k, fn in runs.items():
                    times[k] += time_it(fn, args.device, 1)
            rate = {k: len(texts) / median(v) for k, v in times.items()}
            print(
                f"{bs:>6} {rate['peer']:>17.1f} {rate['bf16']:>13.1f} "
                f"{rate['bf16'] / rate['peer']:>6.2f}x {rate['fp32']:>13.1f} "
                f"{rate['fp32'] / rate['peer']:>6.2f}x"
            )


if __name__ == "__main__":
    main()
