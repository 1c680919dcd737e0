"""Training step time and peak memory: phalanx SpaRTA vs peft LoRA vs peft-sparta 0.0.3.

Same process, same model shape, same batch; the methods take turns in several rounds so
drifting machine speed hits them alike. Peak memory is read per method in a fresh process
(peak RSS on CPU, CUDA allocator peak on GPU), since a process's peak never goes down.

    python benchmarks/train_step.py                       # CPU, small decoder preset
    python benchmarks/train_step.py --device cuda --preset gemma-2b
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import (
    build_classifier,
    median,
    peak_memory_gib,
    reset_peak_memory,
    set_threads,
    time_it,
)

METHODS = ("phalanx-sparta", "peft-lora", "peft-sparta")


def make(method: str, preset: str, dtype: torch.dtype, device: str, sparsity: float):
    model, batch, seq = build_classifier(preset, dtype, device)
    if method == "phalanx-sparta":
        from phalanx import SpaRTAMethodConfig, get_sparta_model

        wrapped = get_sparta_model(model, SpaRTAMethodConfig(sparsity=sparsity))
        params = [p for p in wrapped.parameters() if p.requires_grad]
    elif method == "peft-lora":
        from peft import LoraConfig, get_peft_model

        cfg = LoraConfig(
            task_type="SEQ_CLS", r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]
        )
        wrapped = get_peft_model(model, cfg)
        params = [p for p in wrapped.parameters() if p.requires_grad]
    elif method == "peft-sparta":
        from peft_sparta import SpaRTA

        wrapped = SpaRTA(model, sparsity=sparsity)
        params = list(wrapped.parameters())
    else:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    wrapped.train()
    opt = torch.optim.AdamW(params, lr=1e-4)
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(1, model.config.vocab_size, (batch, seq), generator=gen).to(device)
    labels = torch.randint(0, 2, (batch,), generator=gen).to(device)
    autocast = torch.autocast(
        device_type=device.split(":")[0], dtype=dtype, enabled=dtype != torch.float32
    )

    def step():
        with autocast:
            loss = wrapped(input_ids=ids, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    trainable = sum(p.numel() for p in params)
    return step, trainable


def memory_child(args) -> None:
    step, trainable = make(args.only, args.preset, _dtype(args), args.device, args.sparsity)
    step()  # warm-up: optimizer state allocated
    reset_peak_memory(args.device)
    for _ in range(2):
        step()
    print(json.dumps({"peak_gib": peak_memory_gib(args.device), "trainable": trainable}))


def _dtype(args) -> torch.dtype:
    if args.dtype == "auto":
        return torch.bfloat16 if args.device.startswith("cuda") else torch.float32
    return getattr(torch, args.dtype)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--preset", default=None, help="small (CPU default) or gemma-2b (GPU default)")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--sparsity", type=float, default=0.99)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=3, help="timed steps per method per round")
    p.add_argument("--only", choices=METHODS, help=argparse.SUPPRESS)
    p.add_argument("--no-memory", action="store_true")
    args = p.parse_args()
    args.preset = args.preset or ("gemma-2b" if args.device.startswith("cuda") else "small")
    set_threads()
    if args.only:
        return memory_child(args)

    dtype = _dtype(args)
    steps, trainable, times = {}, {}, {m: [] for m in METHODS}
    for m in METHODS:
        steps[m], trainable[m] = make(m, args.preset, dtype, args.device, args.sparsity)
        steps[m]()  # warm-up
    for _ in range(args.rounds):
        for m in METHODS:
            times[m] += time_it(steps[m], args.device, args.steps)
    memory = {}
    if not args.no_memory:
        for m in METHODS:
            cmd = [
                sys.executable,
                __file__,
                "--only",
                m,
                "--device",
                args.device,
                "--preset",
                args.preset,
                "--dtype",
                args.dtype,
                "--sparsity",
                str(args.sparsity),
            ]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            memory[m] = json.loads(out.strip().splitlines()[-1])["peak_gib"]

    lora = median(times["peft-lora"])
    peer = median(times["peft-sparta"])
    print(
        f"train step, preset={args.preset}, device={args.device}, dtype={dtype}, "
        f"threads={torch.get_num_threads()}, {args.rounds}x{args.steps} steps each"
    )
    print(
        f"{'method':<16} {'trainable':>11} {'step ms':>9} {'vs LoRA':>8} {'vs peft-sparta':>15} "
        f"{'peak GiB':>9} {'mem vs LoRA':>12}"
    )
    for m in METHODS:
        t = median(times[m])
        mem = memory.get(m)
        mem_s = f"{mem:9.2f} {mem / memory['peft-lora']:11.2f}x" if mem else f"{'-':>9} {'-':>12}"
        print(
            f"{m:<16} {trainable[m]:>11,} {t * 1e3:9.1f} {t / lora:7.2f}x {t / peer:14.2f}x {mem_s}"
        )


if __name__ == "__main__":
    main()
