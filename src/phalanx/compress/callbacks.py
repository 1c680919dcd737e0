"""How recipe modifiers act on the HF Trainer: a loss override, a scheduler and a callback.

Epochs are measured in optimizer steps: ``epoch = global_step / steps_per_epoch``, so a
modifier starting at epoch 2.5 acts at the first step of the second half of epoch 3.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import TrainerCallback

from ..training.trainer import PhalanxTrainer
from .distill import distillation_loss
from .modifiers import (
    ConstantPruningModifier,
    DistillationModifier,
    GMPruningModifier,
    LearningRateFunctionModifier,
    QuantizationModifier,
    SetWeightDecayModifier,
)
from .prune import MaskSet, prunable_parameters
from .recipe import Recipe

__all__ = ["CompressTrainer", "RecipeCallback", "lr_factor", "steps_per_epoch"]

log = logging.getLogger("phalanx.compress")
TEACHER_KEY = "teacher_logits"


def steps_per_epoch(n_examples: int, batch_size: int, grad_accum: int = 1, world: int = 1) -> int:
    """Optimizer steps in one epoch, as the HF Trainer counts them."""
    batches = math.ceil(n_examples / (batch_size * world))
    return max(math.ceil(batches / grad_accum), 1)


def lr_factor(mod: LearningRateFunctionModifier, epoch: float) -> float:
    """LR at ``epoch`` as a multiple of init_lr: init before start, final after end."""
    if epoch <= mod.start:
        lr = mod.init_lr
    elif mod.end_epoch != -1 and epoch >= mod.end_epoch:
        lr = mod.final_lr
    else:
        span = mod.end_epoch - mod.start
        p = (epoch - mod.start) / span
        if mod.lr_func == "linear":
            lr = mod.init_lr + (mod.final_lr - mod.init_lr) * p
        else:  # cosine
            lr = mod.final_lr + 0.5 * (mod.init_lr - mod.final_lr) * (1 + math.cos(math.pi * p))
    return lr / mod.init_lr


class CompressTrainer(PhalanxTrainer):
    """PhalanxTrainer + distillation loss + the recipe's learning-rate function.

    ``problem_type`` picks the distillation loss; ``loss_fn`` (the problem's training loss,
    default cross-entropy) is the loss without a teacher and the hard part with one.
    """

    def __init__(
        self,
        *args: Any,
        recipe: Recipe,
        steps_per_epoch: int,
        problem_type: str = "single_label",
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.recipe = recipe
        self.spe = steps_per_epoch
        self.problem_type = problem_type
        self.distill: DistillationModifier | None = recipe.one(DistillationModifier)

    def _epoch(self) -> float:
        return self.state.global_step / self.spe

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        teacher = inputs.pop(TEACHER_KEY, None)
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        d = self.distill
        active = (
            d is not None
            and teacher is not None
            and model.training
            and self._epoch() >= d.start
            and (d.end_epoch == -1 or self._epoch() < d.end_epoch)
        )
        if active:
            loss = distillation_loss(
                logits, teacher, labels, d.hardness, d.temperature, self.problem_type,
                self.loss_fn,
            )  # fmt: skip
        elif self.loss_fn is not None:
            loss = self.loss_fn(logits, labels)
        else:
            loss = F.cross_entropy(logits.float(), labels)
        return (loss, {"logits": logits}) if return_outputs else loss

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        mod = self.recipe.one(LearningRateFunctionModifier)
        if mod is None:
            return super().create_scheduler(num_training_steps, optimizer)
        if self.lr_scheduler is None:
            spe = self.spe
            self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
                optimizer if optimizer is not None else self.optimizer,
                lambda step: lr_factor(mod, step / spe),
            )
        return self.lr_scheduler


@dataclass
class _Pruning:
    modifier: ConstantPruningModifier | GMPruningModifier
    masks: MaskSet
    started: bool = False
    finished: bool = False
    next_update: float = 0.0
    history: list[tuple[float, float]] = field(default_factory=list)


class RecipeCallback(TrainerCallback):
    """Starts/updates pruning masks, QAT and weight decay at the recipe's epochs."""

    def __init__(self, recipe: Recipe, model: nn.Module, steps_per_epoch: int):
        self.recipe, self.model, self.spe = recipe, model, steps_per_epoch
        self.pruning = [
            _Pruning(m, MaskSet(prunable_parameters(model, m.params)))
            for m in recipe.modifiers
            if isinstance(m, ConstantPruningModifier | GMPruningModifier)
        ]
        self.quant: QuantizationModifier | None = recipe.one(QuantizationModifier)
        self.qat_started = self.observers_frozen = False
        wd = recipe.one(SetWeightDecayModifier)
        self.late_wd = wd if wd is not None and wd.start > 0 else None

    # -- the schedule, evaluated after every optimizer step (and before the first) -------
    # after, not before, each step: a modifier ending with training (GMP's end_epoch =
    # num_epochs) then still reaches its final state, after the last step
    def on_train_begin(self, args, state, control, optimizer=None, **kwargs):
        self.advance(state.global_step / self.spe, optimizer)
        return control

    def on_step_end(self, args, state, control, optimizer=None, **kwargs):
        self.advance(state.global_step / self.spe, optimizer)
        return control

    def advance(self, epoch: float, optimizer: Any = None) -> None:
        """Bring every modifier to its state at ``epoch`` (also callable without a Trainer)."""
        for pr in self.pruning:
            self._prune(pr, epoch)
        q = self.quant
        if q is not None and not self.qat_started and epoch >= q.start:
            from .quantize import prepare_qat

            before = {id(p) for p in self.model.parameters()}
            prepare_qat(
                self.model,
                exclude_module_types=tuple(q.exclude_module_types),
                submodules=q.submodules,
                quantize_embeddings=q.quantize_embeddings,
                quantize_activations=q.quantize_linear_activations,
            )
            if any(id(p) not in before for p in self.model.parameters() if p.requires_grad):
                raise RuntimeError(
                    "prepare_qat created new parameters the optimizer does not hold; "
                    "QAT must wrap the existing weights"
                )
            self.qat_started = True
            log.info("epoch %.2f: quantization-aware training starts", epoch)
        obs = q.disable_quantization_observer_epoch if q is not None else None
        if self.qat_started and obs is not None and not self.observers_frozen and epoch >= obs:
            from .quantize import freeze_observers

            freeze_observers(self.model)
            self.observers_frozen = True
            log.info("epoch %.2f: quantization observers frozen", epoch)
        wd = self.late_wd
        if wd is not None and optimizer is not None and epoch >= wd.start:
            # the Trainer's first group holds the decayed weights (not biases / LayerNorm)
            optimizer.param_groups[0]["weight_decay"] = wd.weight_decay
            self.late_wd = None

    def _prune(self, pr: _Pruning, epoch: float) -> None:
        m = pr.modifier
        if pr.finished or epoch < m.start:
            return
        if isinstance(m, ConstantPruningModifier):
            if not pr.started:
                pr.masks.keep_zeros()
                pr.started = True
                log.info("epoch %.2f: holding %.1f%% zeros", epoch, 100 * pr.masks.sparsity())
            elif m.end_epoch != -1 and epoch >= m.end_epoch:
                pr.masks.remove()
                pr.finished = True
            return
        # 1e-9: steps / steps_per_epoch lands on update epochs only up to rounding
        if not pr.started or epoch >= pr.next_update - 1e-9 or epoch >= m.end_epoch - 1e-9:
            at_end = epoch >= m.end_epoch - 1e-9
            target = m.sparsity_at(m.end_epoch if at_end else epoch)
            pr.masks.set_sparsity(target, global_sparsity=m.global_sparsity)
            pr.history.append((round(epoch, 4), round(target, 6)))
            pr.started = True
            done = math.floor((epoch - m.start) / m.update_frequency + 1e-9)
            pr.next_update = m.start + (done + 1) * m.update_frequency
            log.info("epoch %.2f: %s sparsity %.1f%%", epoch, m.name, 100 * target)
            if at_end:
                pr.finished = True
                if not m.leave_enabled:
                    pr.masks.remove()

    def on_optimizer_step(self, args, state, control, **kwargs):
        self.apply_masks()
        return control

    def apply_masks(self) -> None:
        for pr in self.pruning:
            pr.masks.apply()

    def schedule(self) -> list[dict[str, Any]]:
        """The sparsity steps taken (epoch, target) per pruning modifier."""
        return [{"modifier": p.modifier.name, "steps": p.history} for p in self.pruning]
