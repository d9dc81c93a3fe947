"""Fused trials: K models of one architecture trained at once as one stacked model.

Small models leave a CPU (or GPU) mostly idle between tiny kernels; stacking K trials of one
family into one model turns K small matrix products into one batched product and K optimizer
steps into one, so K trials cost little more than one. Each member keeps its own weights,
initialisation, schedule and optimizer state and ends exactly where the same trial trained alone
by :func:`lrtune.training.train.train` ends (to float rounding):

* **Initialisation and layers**: :class:`lrtune.training.stacked_model.StackedModel` copies each member's
  weights (built as it would be alone, ``build_model(name, ..., seed=member_seed)``) into one
  stack and back; its layers are :mod:`lrtune.training.stacked_layers`' (members first, batch last). An
  ``nn.Sequential`` of Linear, Conv1d/Conv2d, BatchNorm, ReLU, Flatten and pooling layers stacks
  (lrtune's ``mlp``, ``cnn1d``, ``cnn``) when the order of its layers does (:func:`why_not_fusable`).
  ``train_fused(mode="auto")`` trains anything else (``resnet``, users' own modules) member by
  member through :func:`lrtune.training.train.train`, with a one-line warning; so is ``schedulefree`` (its
  Schedule-Free optimizer is not stacked).
* **Data order and epochs**: member k draws the mini-batches ``train`` would draw for its own seed
  (``data_seeds[k]``; lrtune passes each trial's seed), so every member is exactly the trial it
  would have been unfused: the epochs are :func:`lrtune.training.epochs.run_epochs`', the loop ``train``
  runs too. Members with their own seeds read one batch each ``[K, B, ...]`` (one batched gather);
  members that share one seed read one batch through a stride-0 view.
* **Optimizer**: :class:`StackedOptimizer` is torch's SGD (Nesterov momentum, L2 weight decay)
  or AdamW, written out with a per-member learning rate ``lr[k]`` broadcast over each weight's
  member dimension — the same arithmetic as ``torch.optim`` in the same order.
* **Schedules**: each member's LR curve is precomputed (``Schedule.curve_multipliers``) into a
  ``[steps, K]`` block per epoch; ``plateau`` members get their reduction from a
  :class:`lrtune.core.schedules.ScheduleLR` told the member's oriented validation score (``sign · score``
  in ``config.metric``; the accuracy by default), as ``train`` does.
* **Leaving the stack**: a member stops when ``on_epoch_end`` asks (pruning), when its loss is
  not finite (divergence: its weights are taken *before* the bad step, as ``train`` does) or when
  its validation loss is not finite; the stack is then compacted so it costs nothing more.

Nothing here imports Optuna; :func:`lrtune.tuning.objective.run_fused_trials` drives it with ask/tell.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from lrtune.training.data import Dataset, steps_per_epoch
from lrtune.training.epochs import EpochResult, TrainResult, run_epochs
from lrtune.training.memory import keep_freed_memory
from lrtune.training.metrics import Metric
from lrtune.training.stacked_layers import NotFusableError, member_losses
from lrtune.training.stacked_model import StackedModel, fusable, why_not_fusable
from lrtune.training.train import OPTIMIZERS, TrainConfig, train

__all__ = [
    "FUSE_MODES",
    "MemberResult",
    "NotFusableError",
    "StackedModel",
    "StackedOptimizer",
    "fusable",
    "train_fused",
    "why_not_fusable",
]

FUSE_MODES: tuple[str, ...] = ("auto", "stacked", "sequential")
"""``stacked``: one stacked model (error if the architecture can't be stacked); ``sequential``:
member by member through ``train``; ``auto``: stacked where the architecture allows it."""

_ADAM_BETAS = (0.9, 0.999)  # torch.optim.AdamW's defaults, as lrtune.training.train uses them
_ADAM_EPS = 1e-8


# ---------------------------------------------------------------------------------------------
# The stacked optimizer


class StackedOptimizer:
    """torch's ``SGD`` (Nesterov) or ``AdamW`` over a :class:`StackedModel`, one LR per member.

    ``sgd`` (as ``torch.optim.SGD(momentum=μ, nesterov=μ > 0, weight_decay=λ)``)::

        d = g + λ·p;  b = d (first step) else μ·b + d;  d = d + μ·b (Nesterov) or b;  p -= lr_k·d

    ``adamw`` (as ``torch.optim.AdamW(weight_decay=λ)``, betas (0.9, 0.999), eps 1e-8)::

        p *= 1 − lr_k·λ;  m = lerp(m, g, 1 − β₁);  v = β₂·v + (1 − β₂)·g²;
        p -= (lr_k / (1 − β₁ᵗ))·m / (√v / √(1 − β₂ᵗ) + eps)

    :meth:`step` takes the step's per-member factors precomputed by :meth:`factors`.
    """

    def __init__(self, model: StackedModel, *, optimizer: str, weight_decay: float, momentum: float) -> None:
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, but got {optimizer!r}")
        self.model = model
        self.kind = optimizer
        self.weight_decay = float(weight_decay)
        self.momentum = float(momentum)
        self.steps = 0
        self.state: dict[str, list[torch.Tensor]] = {}

    def factors(self, lrs: np.ndarray, first_step: int) -> tuple[torch.Tensor, ...]:
        """Per-step, per-member factors for ``lrs`` ``[S, K]`` (float64) starting at step ``first_step``.

        ``sgd``: ``(lr,)``; ``adamw``: ``(1 − lr·λ, −lr/(1 − β₁ᵗ))``; each ``[S, K]`` on the model's
        device in the weights' dtype, computed in float64 exactly as torch does in Python.
        """
        dev = self.model.device
        dtype = next(iter(self.model.params.values())).dtype
        if self.kind == "sgd":
            return (torch.from_numpy(lrs).to(dev, dtype),)
        t = np.arange(first_step + 1, first_step + 1 + lrs.shape[0], dtype=np.float64)[:, None]
        bias1 = np.array([1 - _ADAM_BETAS[0] ** float(s) for s in t[:, 0]])[:, None]
        decay = 1 - lrs * self.weight_decay
        step_size = lrs / bias1
        return (torch.from_numpy(decay).to(dev, dtype), torch.from_numpy(-step_size).to(dev, dtype))

    @torch.no_grad()
    def step(self, factors: Sequence[torch.Tensor]) -> None:
        """One update of every member; ``factors`` are rows (``[K]``) of :meth:`factors`' output.

        Works in place (the gradients are used as scratch space and are garbage afterwards).
        """
        params = list(self.model.params.values())
        grads = [p.grad for p in params]
        views = lambda row: [row.view(-1, *([1] * (p.ndim - 1))) for p in params]  # noqa: E731
        self.steps += 1
        if self.kind == "sgd":
            if self.weight_decay:
                torch._foreach_add_(grads, params, alpha=self.weight_decay)
            if self.momentum:
                if "momentum" not in self.state:
                    self.state["momentum"] = [g.clone() for g in grads]
                else:
                    torch._foreach_mul_(self.state["momentum"], self.momentum)
                    torch._foreach_add_(self.state["momentum"], grads)
                torch._foreach_add_(grads, self.state["momentum"], alpha=self.momentum)  # Nesterov
            torch._foreach_addcmul_(params, grads, views(factors[0]), value=-1)
            return
        b1, b2 = _ADAM_BETAS
        if "exp_avg" not in self.state:
            self.state["exp_avg"] = [torch.zeros_like(p) for p in params]
            self.state["exp_avg_sq"] = [torch.zeros_like(p) for p in params]
        m, v = self.state["exp_avg"], self.state["exp_avg_sq"]
        if self.weight_decay:
            torch._foreach_mul_(params, views(factors[0]))
        torch._foreach_lerp_(m, grads, 1 - b1)
        torch._foreach_mul_(v, b2)
        torch._foreach_addcmul_(v, grads, grads, value=1 - b2)
        bias2_sqrt = (1 - b2 ** float(self.steps)) ** 0.5
        denom = grads  # scratch: denom = √v / √(1 − β₂ᵗ) + eps, then m / denom
        torch._foreach_copy_(denom, v)
        torch._foreach_sqrt_(denom)
        torch._foreach_div_(denom, bias2_sqrt)
        torch._foreach_add_(denom, _ADAM_EPS)
        for mi, di in zip(m, denom):
            torch.div(mi, di, out=di)
        torch._foreach_addcmul_(params, denom, views(factors[1]))

    def keep(self, index: Sequence[int]) -> None:
        """Drop the state of members not in ``index`` (call with the model's :meth:`StackedModel.keep`)."""
        idx = torch.as_tensor(list(index), dtype=torch.long, device=self.model.device)
        self.state = {k: [t.index_select(0, idx) for t in ts] for k, ts in self.state.items()}


# ---------------------------------------------------------------------------------------------
# Training


@dataclass
class MemberResult:
    """One member of a fused run: its :class:`~lrtune.training.train.TrainResult` and its trained model.

    ``result.seconds`` is the member's share of the group's wall-clock time: each epoch's time
    is divided among the members trained in it, so the shares of a group add up to its time.
    """

    index: int
    result: TrainResult
    model: nn.Module


def train_fused(
    models: Sequence[nn.Module],
    data: Dataset,
    schedules: Sequence[Any],
    *,
    config: TrainConfig,
    on_epoch_end: Callable[[int, EpochResult], bool | None] | None = None,
    on_member_end: Callable[[MemberResult], None] | None = None,
    mode: str = "auto",
    data_seeds: Sequence[int] | None = None,
) -> list[MemberResult]:
    """Train ``models[k]`` with ``schedules[k]`` for every k at once; like K calls of ``train``.

    Member k sees the batch order ``train`` draws for ``data_seeds[k]`` (default: ``config.seed``
    for every member), so member k is the run ``train(models[k], data, schedules[k],
    config=replace(config, seed=data_seeds[k]))``. Members with different seeds get their own
    mini-batches: each step gathers a ``[K, B]`` index into the training tensors (one batched
    gather); members sharing one seed read one batch through a stride-0 view. After every epoch each
    member's :class:`~lrtune.training.train.EpochResult` goes to ``on_epoch_end(k, result)``; True stops
    member k (``stopped_early``). ``on_member_end(member_result)`` runs as soon as a member is
    finished (completed, stopped, or diverged), with its test accuracy measured. Returns the
    members' results in the order of ``models``. ``mode`` is one of :data:`FUSE_MODES`.
    """
    if len(models) != len(schedules):
        raise ValueError(
            f"models and schedules must have the same length, but got {len(models)} and {len(schedules)}"
        )
    if mode not in FUSE_MODES:
        raise ValueError(f"mode must be one of {', '.join(FUSE_MODES)}, but got {mode!r}")
    seeds = [config.seed] * len(models) if data_seeds is None else [int(s) for s in data_seeds]
    if len(seeds) != len(models):
        raise ValueError(f"data_seeds must have one seed per model, but got {len(seeds)} for {len(models)} models")
    if not models:
        return []
    if any(getattr(s, "schedule_free", False) for s in schedules):
        mode = "sequential"  # Schedule-Free optimizers aren't stacked: schedulefree runs member by member
    if mode == "stacked":
        reason = why_not_fusable(models[0], data.input_shape)
        if reason is not None:
            raise NotFusableError(reason)
    elif mode == "auto" and len(models) > 1:
        reason = why_not_fusable(models[0], data.input_shape)
        if reason is not None:
            warnings.warn(
                f"lrtune: can't stack {type(models[0]).__name__} ({reason}); training the {len(models)} members one by one",
                RuntimeWarning,
                stacklevel=2,
            )
            mode = "sequential"
    if mode == "sequential":
        return _train_sequential(
            models,
            data,
            schedules,
            config=config,
            on_epoch_end=on_epoch_end,
            on_member_end=on_member_end,
            seeds=seeds,
        )
    return _train_stacked(
        models, data, schedules, config=config, on_epoch_end=on_epoch_end, on_member_end=on_member_end, seeds=seeds
    )


def _train_sequential(
    models, data, schedules, *, config, on_epoch_end, on_member_end, seeds
) -> list[MemberResult]:
    out = []
    for k, (model, schedule) in enumerate(zip(models, schedules)):
        callback = None if on_epoch_end is None else (lambda r, k=k: on_epoch_end(k, r))
        member = MemberResult(
            k, train(model, data, schedule, config=replace(config, seed=seeds[k]), on_epoch_end=callback), model
        )
        if on_member_end is not None:
            on_member_end(member)
        out.append(member)
    return out


class _LrCurve:
    """One member's LR per step as ``ScheduleLR`` computes it: ``base · (m(t) · reactive)``."""

    def __init__(self, schedule: Any, total_steps: int) -> None:
        self.curve = np.asarray(schedule.curve_multipliers(total_steps), dtype=np.float64)
        self.peak = float(schedule.peak_lr)
        # a ScheduleLR on a one-number optimizer keeps plateau's reactive state exactly as train's
        dummy = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=self.peak)
        self.scheduler = schedule.build(dummy, total_steps)

    def lrs(self, start: int, stop: int) -> np.ndarray:
        """LR of steps ``start..stop-1``."""
        reactive = float(getattr(self.scheduler, "reactive", 1.0))
        t = np.minimum(np.arange(start, stop), len(self.curve) - 1)
        return self.peak * (self.curve[t] * reactive)


class _StackedPath:
    """A :class:`StackedModel` and its :class:`StackedOptimizer`, as :func:`lrtune.training.epochs.run_epochs` drives them.

    Each epoch's LRs ``[steps, K]`` (float64) and the optimizer's factors are computed at its start.
    """

    def __init__(
        self, models: Sequence[nn.Module], data: Dataset, curves: list[_LrCurve], config: TrainConfig
    ) -> None:
        self.models = list(models)
        self.curves = curves
        self.n_steps = steps_per_epoch(len(data.y_train), config.batch_size)
        self.stack = StackedModel(models, device=data.device)
        self.optimizer = StackedOptimizer(
            self.stack, optimizer=config.optimizer, weight_decay=config.weight_decay, momentum=config.momentum
        )
        self.stack.train()
        self.lrs = np.zeros((0, len(models)))
        self.factors: tuple[torch.Tensor, ...] = ()
        self.loss: torch.Tensor | None = None

    def begin_epoch(self, first_step: int) -> None:
        first = first_step
        self.lrs = np.stack([c.lrs(first, first + self.n_steps) for c in self.curves], axis=1)  # [S, K]
        self.factors = self.optimizer.factors(self.lrs, self.optimizer.steps)

    def losses(self, xb: torch.Tensor, yb: torch.Tensor, *, per_member: bool) -> list[float]:
        self.loss = member_losses(self.stack(xb, per_member=per_member), yb)
        return self.loss.detach().tolist()

    def step(self, i: int) -> list[float]:
        for p in self.stack.params.values():
            p.grad = None
        self.loss.sum().backward()
        self.optimizer.step([f[i] for f in self.factors])
        return [float(lr) for lr in self.lrs[i]]

    def end_training(self) -> None:
        """Nothing to switch: the stacked optimizers are not schedule-free."""

    def evaluate(
        self, x: torch.Tensor, y: torch.Tensor, *, metric: Metric, batch_size: int
    ) -> tuple[list[float], list[float], list[float]]:
        return self.stack.evaluate_metric(x, y, metric=metric, batch_size=batch_size)

    def export(self, position: int) -> nn.Module:
        return self.stack.export(position, self.models[position])

    def keep(self, positions: Sequence[int]) -> None:
        self.models = [self.models[j] for j in positions]
        self.curves = [self.curves[j] for j in positions]
        self.lrs = self.lrs[:, positions]
        self.factors = tuple(f[:, positions] for f in self.factors)
        self.stack.keep(positions)
        self.optimizer.keep(positions)


def _train_stacked(models, data, schedules, *, config, on_epoch_end, on_member_end, seeds) -> list[MemberResult]:
    keep_freed_memory()  # a step's activations are reused, not page-faulted in again (lrtune.training.memory)
    for model in models:
        model.to(data.device)
    total_steps = config.total_steps(len(data.y_train))
    curves = [_LrCurve(s, total_steps) for s in schedules]
    path = _StackedPath(models, data, curves, config)
    member_end = None
    if on_member_end is not None:
        member_end = lambda k, result, model: on_member_end(MemberResult(k, result, model))  # noqa: E731
    results = run_epochs(
        path,
        data,
        config=config,
        schedulers=[c.scheduler for c in curves],
        seeds=seeds,
        on_epoch_end=on_epoch_end,
        on_member_end=member_end,
    )
    return [MemberResult(k, r, m) for k, (r, m) in enumerate(zip(results, models))]
