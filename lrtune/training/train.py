"""The training loop: plain PyTorch, no Optuna.

:func:`train` trains a model on a :class:`~lrtune.training.data.Dataset` with a learning-rate schedule,
validates after every epoch and hands an :class:`EpochResult` to an optional callback (which
may stop the run, or raise — the Optuna objective prunes that way). It returns a
:class:`TrainResult`.

The schedule is anything with the interface of :class:`lrtune.core.schedules.Schedule`:
``peak_lr`` (the optimizer's LR) and ``build(optimizer, total_steps)`` returning a scheduler
with ``step()`` (called after every optimizer step) and ``epoch_end(metric)`` (called after
every epoch's validation with the *oriented* validation score ``sign · score``, higher is
better: the validation accuracy by default).

The selection metric is ``TrainConfig.metric`` (:class:`lrtune.training.metrics.Metric`, default
accuracy): every validation and the final test evaluation measure it (:func:`evaluate_metric`)
next to the accuracy and the cross-entropy, into ``val_scores``/``val_score``/``test_score``.

Divergence — a non-finite training or validation loss — is an outcome, not an error: the run
stops and the result says ``diverged=True`` with finite accuracies and scores.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from lrtune.training.data import Dataset, steps_per_epoch
from lrtune.training.epochs import EpochResult, TrainResult, chance_score, evaluate, evaluate_metric, run_epochs
from lrtune.training.metrics import ACCURACY, Metric
from lrtune.training.schedule_free import build_schedule_free_optimizer, to_eval_point, to_train_point

__all__ = [
    "OPTIMIZERS",
    "EpochResult",
    "TrainConfig",
    "TrainResult",
    "build_optimizer",
    "chance_score",
    "evaluate",
    "evaluate_metric",
    "train",
]

OPTIMIZERS: tuple[str, ...] = ("sgd", "adamw")
"""``sgd``: SGD with Nesterov momentum; ``adamw``: AdamW with torch's default betas."""


class _TaskSettings(Protocol):
    """What :meth:`TrainConfig.from_task` reads of a task configuration."""

    epochs: int
    batch_size: int
    optimizer: str
    weight_decay: float


class _Scheduler(Protocol):
    def step(self) -> None: ...

    def epoch_end(self, metric: float) -> None: ...


class _Schedule(Protocol):
    peak_lr: float

    def build(self, optimizer: torch.optim.Optimizer, total_steps: int) -> _Scheduler: ...


@dataclass(frozen=True)
class TrainConfig:
    """How to train (everything but the model, the data and the schedule).

    The defaults of ``epochs``, ``batch_size``, ``optimizer`` and ``weight_decay`` are the
    defaults of lrtune's options of those names: :class:`lrtune.tuning.config.TaskConfig` reads
    them from here, so they are declared once.

    Attributes:
        epochs: number of passes over the training split.
        batch_size: training examples per optimizer step (the last batch may be smaller).
        optimizer: one of :data:`OPTIMIZERS`.
        weight_decay: L2 penalty for ``sgd``, decoupled weight decay for ``adamw``; applied
            to every parameter.
        momentum: ``sgd``'s (Nesterov) momentum; ignored by ``adamw``.
        seed: seeds the order of the training batches. The model's initialisation is seeded
            where it is built (``build_model(..., seed=...)``).
        eval_batch_size: examples per forward pass when evaluating.
        metric: what validation and test measure for selection (:mod:`lrtune.training.metrics`);
            default accuracy, maximised.
    """

    epochs: int = 15
    batch_size: int = 128
    optimizer: str = "sgd"
    weight_decay: float = 5e-4
    momentum: float = 0.9
    seed: int = 0
    eval_batch_size: int = 2048
    metric: Metric = ACCURACY

    def total_steps(self, n_train: int) -> int:
        """Optimizer steps of a whole run on ``n_train`` examples: ``epochs · ⌈n_train / batch_size⌉``.

        >>> TrainConfig(epochs=3, batch_size=128).total_steps(1000)
        24
        """
        return self.epochs * steps_per_epoch(n_train, self.batch_size)

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, but got {value!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, but got {self.optimizer!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, but got {self.weight_decay!r}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), but got {self.momentum!r}")

    @classmethod
    def from_task(
        cls, task: _TaskSettings, *, seed: int, metric: Metric = ACCURACY, epochs: int | None = None
    ) -> TrainConfig:
        """The training settings of a task (:class:`lrtune.tuning.config.TaskConfig` or anything with
        ``epochs``, ``batch_size``, ``optimizer`` and ``weight_decay``) for one run.

        ``epochs`` overrides the task's (a horizon run trains M× longer).

        >>> from types import SimpleNamespace
        >>> task = SimpleNamespace(epochs=15, batch_size=128, optimizer="adamw", weight_decay=0.01)
        >>> config = TrainConfig.from_task(task, seed=3, epochs=30)
        >>> (config.epochs, config.batch_size, config.optimizer, config.weight_decay, config.seed)
        (30, 128, 'adamw', 0.01, 3)
        """
        return cls(
            epochs=task.epochs if epochs is None else epochs,
            batch_size=task.batch_size,
            optimizer=task.optimizer,
            weight_decay=task.weight_decay,
            seed=seed,
            metric=metric,
        )


def build_optimizer(
    model: nn.Module, *, lr: float, config: TrainConfig, schedule: _Schedule | None = None
) -> torch.optim.Optimizer:
    """The optimizer ``config.optimizer`` over all of ``model``'s parameters at ``lr``.

    A ``schedulefree`` ``schedule`` gets Schedule-Free SGD/AdamW instead
    (:func:`lrtune.training.schedule_free.build_schedule_free_optimizer`, at ``schedule.peak_lr``).
    """
    params = model.parameters()
    if schedule is not None and getattr(schedule, "schedule_free", False):
        return build_schedule_free_optimizer(
            params, schedule, optimizer=config.optimizer, weight_decay=config.weight_decay
        )
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=lr,
            momentum=config.momentum,
            nesterov=config.momentum > 0,
            weight_decay=config.weight_decay,
        )
    return torch.optim.AdamW(params, lr=lr, weight_decay=config.weight_decay)


class _SoloPath:
    """One model and its ``torch.optim`` optimizer and scheduler, as :func:`lrtune.training.epochs.run_epochs` drives them."""

    def __init__(
        self,
        model: nn.Module,
        data: Dataset,
        optimizer: torch.optim.Optimizer,
        scheduler: _Scheduler,
        batch_size: int,
    ) -> None:
        self.model, self.data, self.optimizer, self.scheduler = model, data, optimizer, scheduler
        self.batch_size = batch_size
        self.loss: torch.Tensor | None = None

    def begin_epoch(self, first_step: int) -> None:
        to_train_point(self.optimizer)  # schedule-free: parameters ← y; a no-op for other optimizers
        self.model.train()

    def losses(self, xb: torch.Tensor, yb: torch.Tensor, *, per_member: bool) -> list[float]:
        self.loss = F.cross_entropy(self.model(xb), yb)
        return [self.loss.item()]

    def step(self, i: int) -> list[float]:
        self.optimizer.zero_grad(set_to_none=True)
        self.loss.backward()
        lr = float(self.optimizer.param_groups[0]["lr"])
        self.optimizer.step()
        self.scheduler.step()
        return [lr]

    def end_training(self) -> None:  # schedule-free: parameters ← x, BatchNorm statistics recomputed there
        to_eval_point(self.optimizer, self.model, self.data.x_train, batch_size=self.batch_size)

    def evaluate(
        self, x: torch.Tensor, y: torch.Tensor, *, metric: Metric, batch_size: int
    ) -> tuple[list[float], list[float], list[float]]:
        accuracy, loss, score = evaluate_metric(self.model, x, y, metric=metric, batch_size=batch_size)
        return [accuracy], [loss], [score]

    def export(self, position: int) -> nn.Module:
        return self.model

    def keep(self, positions: Sequence[int]) -> None:
        """A single member never shrinks: it leaves only by finishing."""


def train(
    model: nn.Module,
    data: Dataset,
    schedule: _Schedule,
    *,
    config: TrainConfig,
    on_epoch_end: Callable[[EpochResult], bool | None] | None = None,
) -> TrainResult:
    """Train ``model`` on ``data.x_train`` with ``schedule`` for ``config.epochs`` epochs.

    The model is moved to the data's device. The optimizer (:func:`build_optimizer`) starts at
    ``schedule.peak_lr``; a schedule-free optimizer is switched to its gradient point y for
    every training epoch and to its average x (BatchNorm statistics recomputed there) for every
    evaluation, so the returned model holds x;
    the schedule's scheduler is stepped after every optimizer step
    (``total_steps = epochs * steps_per_epoch``) and told the oriented validation score
    (``config.metric.sign · score``, higher is better) after every epoch. Then ``on_epoch_end``
    gets the epoch's :class:`EpochResult`; returning True stops the run (``stopped_early``), and
    whatever it raises propagates. The epochs are :func:`lrtune.training.epochs.run_epochs`' with one member.

    A non-finite training loss stops the run before the step is taken, and a non-finite
    validation loss stops it after that epoch; either way ``diverged`` is True, the epoch is
    not reported to ``on_epoch_end``, and the accuracies and scores are measured on the model
    as it is (finite: see :func:`evaluate_metric`).
    """
    started = time.perf_counter()
    model.to(data.device)
    optimizer = build_optimizer(model, lr=schedule.peak_lr, config=config, schedule=schedule)
    scheduler = schedule.build(optimizer, config.total_steps(len(data.y_train)))
    path = _SoloPath(model, data, optimizer, scheduler, config.batch_size)
    callback = None if on_epoch_end is None else (lambda _k, report: on_epoch_end(report))
    (result,) = run_epochs(
        path, data, config=config, schedulers=[scheduler], seeds=[config.seed], on_epoch_end=callback
    )
    result.seconds = time.perf_counter() - started
    return result
