"""The ``schedulefree`` family's optimizer: Schedule-Free SGD / AdamW from the ``schedulefree`` package.

Schedule-Free learning (Defazio et al. 2024, "The Road Less Scheduled"; the package is by its
authors) replaces the LR decay by iterate averaging. With base optimizer step on ``z``
(SGD, or Adam's normalised gradient), learning rate ``γ_t`` and interpolation ``β``::

    y_t     = (1 − β)·z_t + β·x_t               (where gradients are taken: the optimizer's "train" point)
    z_{t+1} = z_t − γ_t·∇f(y_t)                  (weight decay λ·y_t added to the gradient)
    x_{t+1} = (1 − c_{t+1})·x_t + c_{t+1}·z_{t+1}, c_{t+1} = w_{t+1}/Σ_{i≤t+1} w_i,
    w_t     = t^r · (max_{i≤t} γ_i)^weight_lr_power  (the "eval" point x: evaluate and export here)

Everything lrtune needs from the family lives here (the training layer; no Optuna):

* :func:`build_schedule_free_optimizer` builds ``SGDScheduleFree`` (``optimizer="sgd"``,
  momentum = β) or ``AdamWScheduleFree`` (``"adamw"``, betas = (β, 0.999)) at the schedule's
  peak LR with ``warmup_steps=0``: lrtune's :class:`~lrtune.core.schedules.ScheduleLR` drives the
  warmup through the param group's ``lr`` with the package's own formula
  ``γ_t = peak·(t + 1)/W`` (t < W), so the LR trace lrtune records is what the optimizer used,
  and the run equals ``SGDScheduleFree(lr=peak, warmup_steps=W)`` without any scheduler — the
  package's LR, ``lr_max`` and averaging weights see the same per-step values.
* :func:`to_train_point` / :func:`to_eval_point` switch the parameters between y and x
  (``optimizer.train()`` / ``.eval()``), as the package requires around every evaluation.
  :func:`to_eval_point` also recomputes BatchNorm statistics at x, as the package's README
  prescribes (forward passes in train mode over up to :data:`BN_BATCHES` training batches),
  here with the running statistics reset first and averaged exactly over those batches
  (``torch.optim.swa_utils.update_bn``), so no statistic of the y sequence survives.
* :data:`LR_SCALE`: the package's authors advise SGD learning rates 10–50× the classical ones
  (momentum SGD's effective step is γ/(1 − momentum)) and AdamW 1–10×; lrtune's study searches
  ``schedulefree`` over the task's LR range times the lower end of that advice.

Weight decay is the task's (every family gets the same), applied where the package applies it,
at y (the package's main optimizers offer no other place). In your own loop, for a schedule from
:func:`lrtune.suggest_schedule` with ``schedule.schedule_free`` True::

    optimizer = build_schedule_free_optimizer(model.parameters(), schedule, optimizer="sgd",
                                              weight_decay=5e-4)
    scheduler = schedule.build(optimizer, total_steps)   # the warmup; .step() after every step
    for epoch in range(epochs):
        to_train_point(optimizer)                        # before training steps
        ...                                              # the usual loop
        to_eval_point(optimizer, model, x_train, batch_size=128)   # before evaluating / saving
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from lrtune.errors import LrtuneError

__all__ = [
    "BN_BATCHES",
    "LR_SCALE",
    "MissingPackageError",
    "build_schedule_free_optimizer",
    "is_schedule_free",
    "recompute_batchnorm",
    "require_package",
    "to_eval_point",
    "to_train_point",
]

BN_BATCHES = 50
"""Training batches used to recompute BatchNorm statistics at x (the package README's number)."""

LR_SCALE: dict[str, float] = {"sgd": 10.0, "adamw": 1.0}
"""``schedulefree``'s peak-LR range = the task's range × this factor, per base optimizer."""

ADAM_BETA2 = 0.999
"""AdamWScheduleFree's second-moment decay (the package's and torch AdamW's default)."""


class MissingPackageError(LrtuneError, ImportError):
    """The ``schedulefree`` package is not installed; the message says how to install it."""


def require_package() -> None:
    """Raise :class:`MissingPackageError` (one line: how to install it) unless ``schedulefree`` imports."""
    _package()


def _package() -> Any:
    try:
        import schedulefree
    except ImportError:
        raise MissingPackageError(
            "the schedulefree family needs the 'schedulefree' package: pip install schedulefree"
        ) from None
    return schedulefree


def build_schedule_free_optimizer(
    params: Iterable[torch.Tensor] | Iterable[dict],
    schedule: Any,
    *,
    optimizer: str = "sgd",
    weight_decay: float = 0.0,
) -> torch.optim.Optimizer:
    """``SGDScheduleFree`` / ``AdamWScheduleFree`` for a ``schedulefree`` :class:`~lrtune.Schedule`.

    LR = ``schedule.peak_lr``; β, r and weight_lr_power from ``schedule.params``;
    ``warmup_steps=0`` because ``schedule.build(optimizer, total_steps)`` applies the warmup.
    The optimizer starts at the train point (``.train()`` already called).
    """
    if not getattr(schedule, "schedule_free", False):
        raise ValueError(f"not a schedulefree schedule: {getattr(schedule, 'family', schedule)!r}")
    sf = _package()
    p = schedule.params
    common = dict(
        lr=schedule.peak_lr,
        weight_decay=weight_decay,
        warmup_steps=0,
        r=float(p["r"]),
        weight_lr_power=float(p["weight_lr_power"]),
    )
    if optimizer == "sgd":
        opt = sf.SGDScheduleFree(params, momentum=float(p["beta"]), **common)
    elif optimizer == "adamw":
        opt = sf.AdamWScheduleFree(params, betas=(float(p["beta"]), ADAM_BETA2), **common)
    else:
        raise ValueError(f"optimizer must be one of sgd, adamw, but got {optimizer!r}")
    opt.train()
    return opt


def is_schedule_free(optimizer: torch.optim.Optimizer) -> bool:
    """True for the package's optimizers (they keep ``train_mode`` in every param group)."""
    return (
        bool(optimizer.param_groups)
        and "train_mode" in optimizer.param_groups[0]
        and callable(getattr(optimizer, "eval", None))
    )


def to_train_point(optimizer: torch.optim.Optimizer) -> None:
    """Parameters ← y (gradient point) before training steps; a no-op for other optimizers."""
    if is_schedule_free(optimizer):
        optimizer.train()


def recompute_batchnorm(
    model: nn.Module, x: torch.Tensor, *, batch_size: int, n_batches: int = BN_BATCHES
) -> None:
    """Reset every BatchNorm's running statistics and average them exactly over the first
    ``min(n_batches, ⌈len(x)/batch_size⌉)`` batches of ``x`` (in stored order, no gradients).

    A no-op for models without BatchNorm. The model's train/eval mode is restored.
    """
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return
    n = min(n_batches, math.ceil(len(x) / batch_size))
    batches = [x[i * batch_size : (i + 1) * batch_size] for i in range(n)]
    torch.optim.swa_utils.update_bn(batches, model)


def to_eval_point(
    optimizer: torch.optim.Optimizer,
    model: nn.Module,
    x_train: torch.Tensor,
    *,
    batch_size: int,
    n_batches: int = BN_BATCHES,
) -> None:
    """Parameters ← x (the average) and BatchNorm statistics recomputed there, before evaluating.

    Idempotent: nothing happens when the optimizer is already at x, or is not schedule-free.
    """
    if not is_schedule_free(optimizer) or not optimizer.param_groups[0]["train_mode"]:
        return
    optimizer.eval()
    recompute_batchnorm(model, x_train, batch_size=batch_size, n_batches=n_batches)
