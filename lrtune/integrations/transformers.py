"""lrtune in the Hugging Face ``Trainer``: any lrtune schedule, Schedule-Free, bounded pruning.

``pip install "lrtune[transformers]"``::

    from lrtune.integrations.transformers import PruningCallback, ScheduleTrainer

    schedule = lrtune.suggest_schedule(trial, ["cosine", "rex", "schedulefree"], lr=(1e-5, 1e-2))
    args = TrainingArguments(output_dir=..., num_train_epochs=E, eval_strategy="epoch", ...)
    trainer = ScheduleTrainer(model=model, args=args, schedule=schedule, train_dataset=...,
                              eval_dataset=..., compute_metrics=accuracy,
                              callbacks=[PruningCallback(trial, "eval_accuracy")])
    trainer.train()

The pitfalls this avoids: ``TrainingArguments.lr_scheduler_type`` knows a dozen curves, none
with lrtune's per-family parameters (no rex, onecycle, cyclic, wsd decay shapes …), and a
scheduler built by hand needs the Trainer's step count, which depends on epochs, batch size,
gradient accumulation and devices. :class:`ScheduleTrainer` overrides
``create_scheduler(num_training_steps, optimizer)``: the schedule is built over the Trainer's own
``num_training_steps`` and stepped by the Trainer after every optimizer step, so the LR at
optimizer step t is ``schedule.lr_at(t, T)`` (the tests check it at every step). The peak LR is
the schedule's: ``args.learning_rate`` is set to ``schedule.peak_lr``; ``args.warmup_steps`` must
be 0 (the schedule has its own warmup; two warmups would multiply). ``args.optim`` picks the
optimizer as usual (its weight-decay groups included); for ``schedulefree`` the Trainer gets
Schedule-Free SGD (``args.optim`` containing "sgd") or AdamW, the switches to its average x before
every evaluation and at the end of training, and BatchNorm statistics recomputed at x.

:class:`PruningCallback` reports the evaluation metric after every epoch (``eval_strategy="epoch"``;
step = epoch, 1-based) and prunes only at epochs ⌈E/2⌉ … E − 1.
"""

from __future__ import annotations

import math
from typing import Any

import optuna
import torch
from transformers import Trainer, TrainerCallback

from lrtune.core.schedules import Schedule
from lrtune.integrations.glue import IntegrationError, recompute_batchnorm_over, report_epoch
from lrtune.training.schedule_free import BN_BATCHES, build_schedule_free_optimizer, is_schedule_free

__all__ = ["PruningCallback", "ScheduleTrainer"]

LABEL_KEYS = ("labels", "label", "label_ids")


def _forward_without_labels(model: torch.nn.Module, batch: dict[str, Any]) -> Any:
    device = next(model.parameters()).device
    return model(**{k: v.to(device) for k, v in batch.items() if k not in LABEL_KEYS})


class ScheduleTrainer(Trainer):
    """A ``transformers.Trainer`` whose LR follows ``schedule`` over the Trainer's own step count."""

    def __init__(self, *args: Any, schedule: Schedule, bn_batches: int = BN_BATCHES, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(schedule, Schedule):
            raise IntegrationError(f"schedule must be an lrtune.Schedule, but got {type(schedule).__name__}")
        if self.args.warmup_steps:
            raise IntegrationError(
                f"args.warmup_steps={self.args.warmup_steps}: the lrtune schedule has its own warmup "
                "(warmup_frac); set warmup_steps=0"
            )
        self.schedule = schedule
        self.bn_batches = bn_batches
        self.args.learning_rate = schedule.peak_lr  # every param group starts at the peak LR

    def create_optimizer(self, model: torch.nn.Module | None = None) -> torch.optim.Optimizer:
        """``args.optim``'s optimizer at the peak LR; Schedule-Free SGD/AdamW for ``schedulefree``
        (with the Trainer's weight-decay groups: no decay on biases and norms)."""
        if self.optimizer is None and self.schedule.schedule_free:
            target = self.model if model is None else model
            decay = set(self.get_decay_parameter_names(target))
            named = [(n, p) for n, p in target.named_parameters() if p.requires_grad]
            groups = [
                {"params": [p for n, p in named if n in decay], "weight_decay": self.args.weight_decay},
                {"params": [p for n, p in named if n not in decay], "weight_decay": 0.0},
            ]
            kind = "sgd" if "sgd" in str(self.args.optim).lower() else "adamw"
            self.optimizer = build_schedule_free_optimizer(
                [g for g in groups if g["params"]], self.schedule, optimizer=kind
            )
            return self.optimizer
        return super().create_optimizer(model)

    def create_scheduler(
        self, num_training_steps: int, optimizer: torch.optim.Optimizer | None = None
    ) -> torch.optim.lr_scheduler.LRScheduler:
        """``schedule.build(optimizer, num_training_steps)``: the Trainer steps it after every
        optimizer step, so step t runs at ``schedule.lr_at(t, num_training_steps)``."""
        if self.lr_scheduler is None:
            self.lr_scheduler = self.schedule.build(
                optimizer or self.optimizer, total_steps=int(num_training_steps)
            )
            self._created_lr_scheduler = True
        return self.lr_scheduler

    def to_eval_point(self) -> None:
        """Schedule-Free: parameters ← x and BatchNorm recomputed there over up to ``bn_batches``
        training batches (idempotent; a no-op for other optimizers or before training)."""
        opt = self.optimizer
        if opt is None or not is_schedule_free(opt) or not opt.param_groups[0]["train_mode"]:
            return
        opt.eval()
        if self.train_dataset is not None:
            batches = iter(self.get_train_dataloader())
            recompute_batchnorm_over(self.model, batches, _forward_without_labels, n_batches=self.bn_batches)

    def evaluate(self, *args: Any, **kwargs: Any) -> dict[str, float]:
        self.to_eval_point()  # training_step switches back to y (the Trainer calls optimizer.train())
        return super().evaluate(*args, **kwargs)

    def train(self, *args: Any, **kwargs: Any):
        result = super().train(*args, **kwargs)
        self.to_eval_point()  # the trained model is x: evaluate, save or export it
        return result


class PruningCallback(TrainerCallback):
    """Report ``metrics[metric]`` of every epoch's evaluation to ``trial`` (step = epoch, 1-based)
    and raise ``optuna.TrialPruned`` when the study's pruner says so — asked only at epochs
    ⌈E/2⌉ … E − 1, ``E = ⌈args.num_train_epochs⌉`` (or ``epochs``). Needs
    ``eval_strategy="epoch"``. ``reported`` lists the ``(epoch, score)`` pairs reported."""

    def __init__(self, trial: optuna.trial.BaseTrial, metric: str = "eval_accuracy", *, epochs: int | None = None):
        self.trial, self.metric, self.epochs = trial, metric, epochs
        self.reported: list[tuple[int, float]] = []

    def on_train_begin(self, args, state, control, **kwargs) -> None:
        if str(getattr(args.eval_strategy, "value", args.eval_strategy)) != "epoch":
            raise IntegrationError(
                f"PruningCallback reports once per epoch: set eval_strategy='epoch' (got {args.eval_strategy!r})"
            )

    def on_evaluate(self, args, state, control, metrics=None, **kwargs) -> None:
        metrics = metrics or {}
        if self.metric not in metrics:
            raise IntegrationError(
                f"no metric {self.metric!r} in the evaluation; got: {', '.join(sorted(metrics))}"
            )
        if state.epoch is None:  # an evaluation outside training
            return
        epochs = self.epochs if self.epochs is not None else math.ceil(args.num_train_epochs)
        epoch = round(state.epoch)
        score = float(metrics[self.metric])
        self.reported.append((epoch, score))
        report_epoch(self.trial, score, epoch, epochs)
