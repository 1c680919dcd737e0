"""Shared pieces of the benchmarks: model presets built from configs, timing, peak memory."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import torch

# Decoder classifiers built from configs (random weights time the same as real ones).
PRESETS = {
    # small enough for the 2-core CPU machines
    "small": dict(
        model_type="llama",
        hidden_size=512,
        intermediate_size=1536,
        num_hidden_layers=8,
        num_attention_heads=8,
        num_key_value_heads=8,
        vocab_size=8192,
        batch=8,
        seq=128,
    ),
    # gemma-2b's shapes: the GPU anchors in shared/anchors.md
    "gemma-2b": dict(
        model_type="gemma",
        hidden_size=2048,
        intermediate_size=16384,
        num_hidden_layers=18,
        num_attention_heads=8,
        num_key_value_heads=1,
        head_dim=256,
        vocab_size=256000,
        batch=16,
        seq=128,
    ),
}


def build_classifier(preset: str, dtype: torch.dtype, device: str, seed: int = 0):
    """A random *ForSequenceClassification of the preset's shape, plus (batch, seq)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    spec = dict(PRESETS[preset])
    batch, seq = spec.pop("batch"), spec.pop("seq")
    model_type = spec.pop("model_type")
    config = AutoConfig.for_model(model_type, num_labels=2, pad_token_id=0, **spec)
    torch.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForSequenceClassification.from_config(config, dtype=dtype)
    return model, batch, seq


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_it(fn: Callable[[], None], device: str, repeats: int) -> list[float]:
    """Seconds per call, each call synchronised."""
    out = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        out.append(time.perf_counter() - t0)
    return out


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def reset_peak_memory(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    else:  # Linux: writing 5 resets the process's peak RSS (VmHWM)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")


def peak_memory_gib(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**30
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    raise RuntimeError("no VmHWM in /proc/self/status")


def set_threads() -> None:
    n = os.environ.get("PHALANX_BENCH_THREADS")
    if n:
        torch.set_num_threads(int(n))


def word_tokenizer(path, texts: list[str], vocab_size: int, padding_side: str = "left"):
    """A WordLevel tokenizer of exactly ``vocab_size`` entries (one token per word), saved."""
    from collections import Counter

    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<unk>": 1, "<eos>": 2}
    counts = Counter(w for t in texts for w in t.lower().split())
    for word, _ in counts.most_common(vocab_size - len(vocab)):
        vocab[word] = len(vocab)
    while len(vocab) < vocab_size:
        vocab[f"<extra_{len(vocab)}>"] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        pad_token="<pad>",
        eos_token="<eos>",
        model_max_length=512,
        padding_side=padding_side,
        model_input_names=["input_ids", "attention_mask"],
    )
    fast.save_pretrained(path)
    return fast


def test_sentences(n: int = 1061, seed: int = 0) -> tuple[list[str], str]:
    """The rotten_tomatoes test split, or sentences of its lengths before the data is there."""
    try:
        from phalanx.data import load_data

        return load_data("rotten_tomatoes").test.texts, "rotten_tomatoes test split"
    except Exception:
        import random

        rng = random.Random(seed)
        words = "the a movie film is was good bad not very and of it to".split()
        lengths = [max(2, int(rng.gauss(21, 9))) for _ in range(n)]
        return [" ".join(rng.choice(words) for _ in range(k)) for k in lengths], "synthetic"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_tree(pid: int) -> list:
    """psutil processes of ``pid`` and all its descendants (those alive now)."""
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its descendants (all their threads)."""
    import psutil

    total = 0.0
    for proc in process_tree(pid):
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:  # a child that just ended
            pass
    return total


def tree_memory_mib(pid: int) -> tuple[float, float]:
    """(RSS now, peak RSS (VmHWM)) of ``pid`` and its descendants, in MiB."""
    import psutil

    rss = peak = 0.0
    for proc in process_tree(pid):
        try:
            rss += proc.memory_info().rss / 2**20
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak += int(line.split()[1]) / 2**10
        except (psutil.NoSuchProcess, FileNotFoundError):
            pass
    return rss, peak


def machine_load() -> str:
    """The load averages (1, 5, 15 min) and the core count, as one phrase."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} cores"
