"""What the Lightning and Hugging Face integrations share, with no third-party trainer imported.

* :func:`build_optimizer` — the optimizer a :class:`~lrtune.Schedule` needs: its param groups
  start at ``schedule.peak_lr`` (the scheduler multiplies each group's starting LR by m(t), so
  ``lr(t) = peak_lr · m(t)`` = ``schedule.lr_at(t, T)``); Schedule-Free SGD/AdamW for the
  ``schedulefree`` family.
* :func:`report_epoch` — ``trial.report(score, epoch)`` and, only when
  :func:`~lrtune.tuning.pruning.may_prune` (⌈E/2⌉ ≤ epoch ≤ E − 1), ``trial.should_prune()``.
* :func:`recompute_batchnorm_over` — BatchNorm statistics reset and averaged exactly over the
  first ``n`` batches of any iterable, for inputs that are not one tensor (dicts, tuples).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

import optuna
import torch
from torch import nn

from lrtune.core.schedules import Schedule
from lrtune.errors import LrtuneError
from lrtune.training.schedule_free import BN_BATCHES, build_schedule_free_optimizer
from lrtune.tuning.pruning import may_prune

__all__ = ["IntegrationError", "OPTIMIZERS", "build_optimizer", "recompute_batchnorm_over", "report_epoch"]

OPTIMIZERS = ("sgd", "adamw")


class IntegrationError(LrtuneError, ValueError):
    """A setting an integration cannot honour (unknown optimizer, epochs it cannot count, ...)."""


def build_optimizer(
    schedule: Schedule,
    params: Iterable[torch.Tensor] | Iterable[dict],
    *,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    weight_decay: float = 0.0,
) -> torch.optim.Optimizer:
    """``optimizer`` ("sgd": momentum SGD, Nesterov when momentum > 0, as lrtune's trainer; "adamw")
    at ``lr = schedule.peak_lr``; for a ``schedulefree`` schedule Schedule-Free SGD (momentum = the
    schedule's β) or AdamW, started at its train point."""
    if optimizer not in OPTIMIZERS:
        raise IntegrationError(f"unknown optimizer {optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
    if schedule.schedule_free:
        return build_schedule_free_optimizer(params, schedule, optimizer=optimizer, weight_decay=weight_decay)
    if optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=schedule.peak_lr, momentum=momentum, nesterov=momentum > 0, weight_decay=weight_decay
        )
    return torch.optim.AdamW(params, lr=schedule.peak_lr, weight_decay=weight_decay)


def report_epoch(trial: optuna.trial.BaseTrial, score: float, epoch: int, epochs: int) -> None:
    """Report ``score`` at step ``epoch`` (1-based) and raise ``optuna.TrialPruned`` when the
    study's pruner says so — asked only at epochs ⌈E/2⌉ … E − 1, so a trial is never pruned
    before half its epochs nor at its final epoch, whatever pruner the study uses."""
    trial.report(float(score), epoch)
    if may_prune(epoch, epochs) and trial.should_prune():
        raise optuna.TrialPruned(f"pruned at epoch {epoch} of {epochs}")


def recompute_batchnorm_over(
    model: nn.Module,
    batches: Iterable[Any],
    forward: Callable[[nn.Module, Any], Any],
    *,
    n_batches: int = BN_BATCHES,
) -> int:
    """Reset every BatchNorm's running statistics and average them exactly (``momentum=None``) over
    the first ``n_batches`` of ``batches``, calling ``forward(model, batch)`` in train mode without
    gradients (``torch.optim.swa_utils.update_bn`` for any batch type). Returns the batches used
    (0 and nothing changed for a model without BatchNorm); the model's mode is restored."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return 0
    momenta = {}
    for norm in norms:
        norm.reset_running_stats()
        momenta[norm] = norm.momentum
        norm.momentum = None  # cumulative average
    was_training = model.training
    model.train()
    used = 0
    with torch.no_grad():
        for batch in itertools.islice(batches, n_batches):
            forward(model, batch)
            used += 1
    for norm in norms:
        norm.momentum = momenta[norm]
    model.train(was_training)
    return used
