"""The HF ``Trainer`` adapted to adapters: small checkpoints, fp32 loss, graceful Ctrl-C.

Checkpoints hold only the trainable tensors (``trainable.safetensors``: SpaRTA deltas and
the head, LoRA matrices, ...) plus the optimizer, scheduler, RNG and trainer state, so a
checkpoint of a 22 M-parameter model is a few MB. A checkpoint counts as complete when every
file a resume reads is there and whole (``checkpoint_problem``); a resume takes the newest
complete one and names those it skips.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import signal
import threading
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
import torch.nn.functional as F
from transformers import Trainer, TrainerCallback

from ..inference.metrics import classification_metrics, confusion_matrix
from .progress import EpochReport, use_phalanx_output

__all__ = [
    "TRAINABLE_FILE",
    "EpochReport",
    "InterruptHandler",
    "PhalanxTrainer",
    "checkpoint_folders",
    "checkpoint_problem",
    "compute_metrics",
    "last_checkpoint",
    "load_trainable_state",
    "metrics_for",
    "trainable_state",
]

log = logging.getLogger(__name__)
TRAINABLE_FILE = "trainable.safetensors"
STATE_FILE = "trainer_state.json"
#: torch.save (zip) files every resume reads: the optimizer and the lr scheduler
TORCH_STATE_FILES = ("optimizer.pt", "scheduler.pt")
_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter that requires grad, detached, contiguous, on the CPU."""
    return {
        n: p.detach().to("cpu", copy=True).contiguous()
        for n, p in model.named_parameters()
        if p.requires_grad
    }


@torch.no_grad()
def load_trainable_state(
    model: torch.nn.Module, state: dict[str, torch.Tensor], source: str
) -> None:
    """Copy ``state`` into the trainable parameters; the names must match exactly.

    The copy is in place; SpaRTA re-merges its deltas on the next forward because it compares
    their values with the ones it last merged (``SparseDelta.is_merged``).
    """
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    missing, unexpected = sorted(set(params) - set(state)), sorted(set(state) - set(params))
    if missing or unexpected:
        name = (missing or unexpected)[0]
        raise ValueError(
            f"checkpoint {source} does not fit this model: {len(missing)} trainable tensors "
            f"missing and {len(unexpected)} unexpected (e.g. {name!r}); was it written with "
            "another method, model or method options? Start afresh with --overwrite"
        )
    for name, p in params.items():
        t = state[name]
        if t.shape != p.shape:
            raise ValueError(
                f"checkpoint {source}: {name} has shape {tuple(t.shape)}, the model "
                f"{tuple(p.shape)}; it was written for other method options or another model"
            )
        p.copy_(t.to(device=p.device, dtype=p.dtype))


def checkpoint_folders(folder: str | Path) -> list[Path]:
    """The ``checkpoint-<step>`` folders in ``folder``, newest (highest step) first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [
        (int(m.group(1)), sub) for sub in folder.iterdir() if (m := _CHECKPOINT_RE.match(sub.name))
    ]
    return [sub for _, sub in sorted(found, reverse=True) if sub.is_dir()]


def _rng_files(folder: Path, world_size: int) -> list[str]:
    """The RNG state files a resume by ``world_size`` processes reads."""
    if world_size > 1:
        return [f"rng_state_{i}.pth" for i in range(world_size)]
    if (folder / "rng_state_0.pth").is_file() and not (folder / "rng_state.pth").is_file():
        return ["rng_state_0.pth"]  # a torchrun checkpoint: one process resumes it as well
    return ["rng_state.pth"]


def checkpoint_problem(folder: Path, world_size: int = 1) -> str | None:
    """Why a resume cannot use checkpoint ``folder`` (a file it reads is missing, empty or
    cut short), or None when it is complete.

    A resume reads ``trainer_state.json`` (it must parse, with the step), the trainable
    tensors (their safetensors header must fit the file), the optimizer and scheduler and
    the RNG state (one file per process under torchrun; whole zip archives).
    """
    for name in (STATE_FILE, TRAINABLE_FILE, *TORCH_STATE_FILES, *_rng_files(folder, world_size)):
        file = folder / name
        if not file.is_file():
            return f"{name} is missing"
        if file.stat().st_size == 0:
            return f"{name} is empty"
        if name.endswith((".pt", ".pth")) and not zipfile.is_zipfile(file):
            return f"{name} is cut short (not a whole torch.save archive)"
    try:
        state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return f"{STATE_FILE} is not valid JSON ({err})"
    if not isinstance(state, dict) or not isinstance(state.get("global_step"), int):
        return f"{STATE_FILE} records no global_step"
    try:
        with safetensors.safe_open(str(folder / TRAINABLE_FILE), framework="pt") as f:
            f.keys()
    except Exception as err:  # safetensors raises its own error types for a torn file
        return f"{TRAINABLE_FILE} is unreadable ({type(err).__name__}: {err})"
    return None


def last_checkpoint(folder: str | Path, world_size: int = 1) -> Path | None:
    """The newest complete checkpoint in ``folder`` (None if there is none); newer ones a
    crash left incomplete are skipped, each with a warning naming it and what is wrong."""
    for sub in checkpoint_folders(folder):
        problem = checkpoint_problem(sub, world_size)
        if problem is None:
            return sub
        log.warning("skipping the incomplete checkpoint %s: %s", sub, problem)
    return None


def compute_metrics(pred: Any) -> dict[str, float]:
    """Trainer hook: accuracy, macro_f1, balanced_accuracy, mcc and (two classes) f1, under
    the keys an ``Evaluation`` uses; the Trainer logs them as ``eval_<key>`` (the loss comes
    apart)."""
    logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
    logits = torch.from_numpy(np.asarray(logits))
    labels = torch.from_numpy(np.asarray(pred.label_ids))
    cm = confusion_matrix(labels, logits.argmax(-1), logits.shape[-1])
    return classification_metrics(cm)


def metrics_for(problem: Any, label_names: list[str]) -> Any:
    """The Trainer's ``compute_metrics`` for ``problem``: ``compute_metrics`` for
    single_label; the scalar metrics of ``evaluation_for`` otherwise (multi-label at the
    problem's thresholds; regression targets, normalised for training, back in the data's
    units first)."""
    if problem.type == "single_label":
        return compute_metrics

    def compute(pred: Any) -> dict[str, float]:
        from ..problems.metrics import evaluation_for

        logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
        labels = data_units(problem, np.asarray(pred.label_ids))
        ev = evaluation_for(problem, torch.from_numpy(np.asarray(logits)), labels, label_names)
        return {k: float(v) for k, v in ev.items() if isinstance(v, int | float) and k != "loss"}

    return compute


def data_units(problem: Any, labels: Any) -> Any:
    """Training targets back in the data's units (regression targets are trained
    normalised when the problem has a ``target_scale``); other labels as they are."""
    if problem.type != "regression" or problem.target_scale is None:
        return labels
    mean, std = problem.target_scale
    return labels * std + mean


class PhalanxTrainer(Trainer):
    """``Trainer`` whose checkpoints hold only trainable tensors and whose loss is computed
    in fp32 by ``loss_fn`` (a ``phalanx.problems.loss.ProblemLoss``; default cross-entropy)."""

    loss_is_scaled_for_ga = False  # compute_loss returns a per-batch mean

    def __init__(
        self, *args: Any, layer_lr_decay: float = 1.0, loss_fn: Any = None, **kwargs: Any
    ) -> None:
        self.layer_lr_decay = layer_lr_decay
        self.loss_fn = loss_fn
        super().__init__(*args, **kwargs)
        use_phalanx_output(self)  # no raw log dicts on stdout, no nested bars

    def create_optimizer(self, model=None):
        """The Trainer's AdamW, with per-layer learning rates when layer_lr_decay < 1."""
        if self.layer_lr_decay == 1.0 or self.optimizer is not None:
            return super().create_optimizer(model)
        from .layer_lr import layer_lr_groups

        opt_model = self.model if model is None else model
        groups = layer_lr_groups(
            opt_model,
            self.args.learning_rate,
            self.layer_lr_decay,
            self.args.weight_decay,
            set(self.get_decay_parameter_names(opt_model)),
        )
        optimizer_cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        kwargs.pop("lr", None)  # each group carries its own
        self.optimizer = optimizer_cls(groups, lr=self.args.learning_rate, **kwargs)
        return self.optimizer

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        if self.loss_fn is None:
            loss = F.cross_entropy(logits.float(), labels)
        else:
            loss = self.loss_fn(logits, labels)
        return (loss, {"logits": logits}) if return_outputs else loss

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        if not self.args.should_save:
            return
        out = Path(output_dir or self.args.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / f".{TRAINABLE_FILE}.tmp"
        safetensors.torch.save_file(
            trainable_state(self.model), str(tmp), metadata={"format": "pt"}
        )
        os.replace(tmp, out / TRAINABLE_FILE)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        path = Path(resume_from_checkpoint) / TRAINABLE_FILE
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {resume_from_checkpoint} has no {TRAINABLE_FILE}")
        state = safetensors.torch.load_file(str(path), device="cpu")
        load_trainable_state(model if model is not None else self.model, state, str(path))
        log.info("loaded the trainable state of %s", resume_from_checkpoint)

    def _load_best_model(self) -> None:
        best = self.state.best_model_checkpoint
        log.info(
            "loading the best checkpoint %s (%s = %s)",
            best,
            self.args.metric_for_best_model,
            self.state.best_metric,
        )
        self._load_from_checkpoint(best)


class InterruptHandler(TrainerCallback):
    """First Ctrl-C: finish the current step, checkpoint, stop. Second Ctrl-C: abort at once.

    In a distributed run every rank stops at the same step (the flag is all-reduced).
    """

    def __init__(self) -> None:
        self.requested = False
        self.stopped_at: int | None = None
        self._previous: Any = None

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)

    def uninstall(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _on_sigint(self, signum, frame) -> None:
        if self.requested:
            self.uninstall()
            raise KeyboardInterrupt
        self.requested = True
        log.warning(
            "interrupt: stopping after this step and saving a checkpoint (Ctrl-C again to abort)"
        )

    def _agreed(self) -> bool:
        flag = self.requested
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            t = torch.tensor([1.0 if flag else 0.0])
            if torch.distributed.get_backend() == "nccl":
                t = t.cuda()
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
            flag = bool(t.item())
        self.requested = flag
        return flag

    def on_step_end(self, args, state, control, **kwargs):
        if not self._agreed():
            return control
        self.stopped_at = state.global_step
        if math.isclose(state.epoch, round(state.epoch)):
            return control  # the epoch ends here: let its evaluation and checkpoint happen
        control.should_save = True
        control.should_training_stop = True
        return control

    def on_epoch_end(self, args, state, control, **kwargs):
        if self.stopped_at is None:
            return control
        if not math.isclose(state.epoch, round(state.epoch)):
            # stopped mid-epoch: the step checkpoint is written; skip the epoch's evaluation
            control.should_evaluate = False
            control.should_save = False
        control.should_training_stop = True
        return control
