"""The model folders benchmarks/serve_peers.py serves: N adapters on one base, a merged
transformers copy of an adapter (what infinity serves), a gemma-2b-shaped base.

Every adapter is a real folder that ``phalanx serve`` loads, written by phalanx's own
savers (``save_sparta_adapter``, ``save_peft_adapter``), with weights of its own: its own
seed picks its SpaRTA indices (or LoRA init), its deltas / LoRA B and its head are seeded
noise, and the label sets alternate between 2 and 3 labels so a mixed batch holds heads
of different sizes. Throughput does not depend on whether the weights were trained.

    python benchmarks/peers/make_adapters.py sparta runs/bench/sparta --n 8
    python benchmarks/peers/make_adapters.py lora runs/bench/lora --n 8
    python benchmarks/peers/make_adapters.py merged runs/demo/adapter runs/bench/merged
    python benchmarks/peers/make_adapters.py gemma runs/bench/gemma --tiny
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

LABEL_SETS = (["negative", "positive"], ["negative", "neutral", "positive"])


def labels_of(k: int, same_labels: bool = False) -> dict[int, str]:
    """Adapter k's labels: 2 for even k, 3 for odd k (2 for all with ``same_labels``)."""
    return dict(enumerate(LABEL_SETS[0 if same_labels else k % 2]))


def _noise_(tensors, seed: int, std: float) -> None:
    """Add seeded Gaussian noise to each tensor in place (a generator, not the global RNG)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in tensors:
            noise = torch.randn(t.shape, generator=gen, dtype=torch.float32) * std
            t.add_(noise.to(device=t.device, dtype=t.dtype))


def sparta_adapters(
    root: Path,
    n: int,
    base: str = "minilm-l6",
    density: float = 0.01,
    device: str = "cpu",
    same_labels: bool = False,
) -> list[Path]:
    """``n`` SpaRTA adapters on ``base`` in root/sparta-<k>: indices of seed k, deltas and
    head of seeded noise."""
    from phalanx import SpaRTAMethodConfig, get_sparta_model, save_sparta_adapter
    from phalanx.models.loading import load_base_classifier

    out = []
    for k in range(n):
        torch.manual_seed(1000 + k)  # the new head's init
        model = load_base_classifier(base, labels_of(k, same_labels), device=device)
        sparta = get_sparta_model(model, SpaRTAMethodConfig(density=density, seed=k))
        _noise_([sd.delta for sd in sparta.deltas.values()], seed=k, std=0.01)
        heads = [p for name, p in model.named_parameters() if sparta._is_head(name)]
        _noise_(heads, seed=10_000 + k, std=0.02)
        path = root / f"sparta-{k}"
        out.append(save_sparta_adapter(sparta, path, base_model=base, overwrite=True))
        del sparta, model
    return out


def lora_adapters(
    root: Path, n: int, base: str = "minilm-l6", r: int = 8, same_labels: bool = False
) -> list[Path]:
    """``n`` LoRA adapters (query/value, rank ``r``, peft's own init with B made non-zero by
    seeded noise, so each changes the output) in root/lora-<k>."""
    from phalanx.methods.peft_backed.config import LoraMethodConfig
    from phalanx.methods.peft_backed.model import apply_peft, save_peft_adapter
    from phalanx.models.loading import load_base_classifier

    out = []
    for k in range(n):
        torch.manual_seed(2000 + k)  # LoRA A (peft's kaiming init) and the new head
        model = load_base_classifier(base, labels_of(k, same_labels))
        wrapped = apply_peft(model, LoraMethodConfig(r=r, lora_dropout=0.0))
        named = [(name, p) for name, p in wrapped.named_parameters() if p.requires_grad]
        _noise_([p for name, p in named if "lora_B" in name], seed=k, std=0.02)
        heads = [p for name, p in named if "lora_" not in name]  # the saved head copies
        _noise_(heads, seed=20_000 + k, std=0.02)
        path = root / f"lora-{k}"
        out.append(save_peft_adapter(wrapped, path, base_model=base, overwrite=True))
        del wrapped, model
    return out


def merged_model(adapter: Path, out: Path) -> Path:
    """The adapter folded into its base, saved as a plain transformers folder
    (AutoModelForSequenceClassification + tokenizer): what another server loads. The
    tokenizer keeps the adapter's max_length, so both servers truncate alike."""
    from phalanx import load_classifier

    clf = load_classifier(adapter, device="cpu", dtype="float32")
    if clf.template:
        raise SystemExit(f"{adapter} has an input_template; a plain model cannot apply it")
    clf.merge()
    model = clf.hf_model
    model.config.id2label = {i: label for i, label in enumerate(clf.labels)}
    model.config.label2id = {label: i for i, label in enumerate(clf.labels)}
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    clf.tokenizer.model_max_length = clf.max_length
    clf.tokenizer.save_pretrained(out)
    return out


# a tiny config of gemma-2b's kind (its sizes: benchmarks/_common.py PRESETS), so the
# CUDA scenario's code path runs on a CPU too
GEMMA_TINY = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=1,
    head_dim=16,
    vocab_size=4096,
)


def gemma_base(out: Path, tiny: bool, texts: list[str], device: str = "cpu") -> Path:
    """A GemmaForSequenceClassification of gemma-2b's shapes (or tiny ones) with random
    weights, in bf16 on CUDA (fp32 on a CPU), saved with a word-level tokenizer of its
    vocabulary size (random weights time the same as real ones)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from _common import PRESETS, word_tokenizer
    from transformers import AutoModelForSequenceClassification, GemmaConfig

    if (out / "config.json").is_file():
        return out
    sizes = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
             "num_key_value_heads", "head_dim", "vocab_size")  # fmt: skip
    spec = GEMMA_TINY if tiny else {k: PRESETS["gemma-2b"][k] for k in sizes}
    config = GemmaConfig(
        num_labels=2, pad_token_id=0, eos_token_id=2, bos_token_id=2, max_position_embeddings=512,
        **spec,
    )  # fmt: skip
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForSequenceClassification.from_config(config, dtype=dtype)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    word_tokenizer(out, texts, spec["vocab_size"])
    return out


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="what", required=True)
    for name in ("sparta", "lora"):
        s = sub.add_parser(name, help=f"N {name} adapters on one base")
        s.add_argument("root", type=Path)
        s.add_argument("--n", type=int, default=8)
        s.add_argument("--base", default="minilm-l6")
        s.add_argument("--same-labels", action="store_true", help="2 labels for every one")
    m = sub.add_parser("merged", help="an adapter merged into a plain transformers folder")
    m.add_argument("adapter", type=Path)
    m.add_argument("out", type=Path)
    g = sub.add_parser("gemma", help="a gemma-2b-shaped classifier base with random weights")
    g.add_argument("out", type=Path)
    g.add_argument("--tiny", action="store_true", help="tiny sizes (CPU tests)")
    g.add_argument("--device", default="cpu")
    args = p.parse_args()
    if args.what in ("sparta", "lora"):
        if args.n < 1:
            p.error(f"--n must be >= 1, got {args.n}")
        make = sparta_adapters if args.what == "sparta" else lora_adapters
        for path in make(args.root, args.n, args.base, same_labels=args.same_labels):
            print(path)
    elif args.what == "merged":
        if not args.adapter.is_dir():
            p.error(f"{str(args.adapter)!r} is not an adapter folder")
        print(merged_model(args.adapter, args.out))
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from _common import test_sentences

        print(gemma_base(args.out, args.tiny, test_sentences()[0], args.device))


if __name__ == "__main__":
    main()
