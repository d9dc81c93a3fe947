"""The training loop: plain PyTorch, no Optuna.

:func:`train` trains a model on a :class:`~lrtune.data.Dataset` with a learning-rate schedule,
validates after every epoch and hands an :class:`EpochResult` to an optional callback (which
may stop the run, or raise — the Optuna objective prunes that way). It returns a
:class:`TrainResult`.

The schedule is anything with the interface of :class:`lrtune.schedules.Schedule`:
``peak_lr`` (the optimizer's LR) and ``build(optimizer, total_steps)`` returning a scheduler
with ``step()`` (called after every optimizer step) and ``epoch_end(metric)`` (called after
every epoch's validation with the *oriented* validation score ``sign · score``, higher is
better: the validation accuracy by default).

The selection metric is ``TrainConfig.metric`` (:class:`lrtune.metrics.Metric`, default
accuracy): every validation and the final test evaluation measure it (:func:`evaluate_metric`)
next to the accuracy and the cross-entropy, into ``val_scores``/``val_score``/``test_score``.

Divergence — a non-finite training or validation loss — is an outcome, not an error: the run
stops and the result says ``diverged=True`` with finite accuracies and scores.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from lrtune.data import Dataset, iterate_batches, steps_per_epoch
from lrtune.metrics import ACCURACY, Metric
from lrtune.schedule_free import build_schedule_free_optimizer, to_eval_point, to_train_point

__all__ = [
    "OPTIMIZERS",
    "EpochResult",
    "TrainConfig",
    "TrainResult",
    "build_optimizer",
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
        metric: what validation and test measure for selection (:mod:`lrtune.metrics`);
            default accuracy, maximised.
    """

    epochs: int = 15
    batch_size: int = 64
    optimizer: str = "sgd"
    weight_decay: float = 5e-4
    momentum: float = 0.9
    seed: int = 0
    eval_batch_size: int = 2048
    metric: Metric = ACCURACY

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
        """The training settings of a task (:class:`lrtune.config.TaskConfig` or anything with
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


@dataclass(frozen=True)
class EpochResult:
    """What one completed, non-diverged epoch measured.

    ``epoch`` is 1-based; ``lr`` is the learning rate of param group 0 used by the epoch's
    last optimizer step; ``seconds`` covers training and validation; ``val_score`` is the
    validation score in the run's metric (the accuracy by default; not oriented).
    """

    epoch: int
    val_accuracy: float
    val_loss: float
    train_loss: float
    lr: float
    seconds: float
    val_score: float = math.nan

    def __post_init__(self) -> None:
        if math.isnan(self.val_score):  # callers that only know the accuracy: the default metric
            object.__setattr__(self, "val_score", self.val_accuracy)


@dataclass
class TrainResult:
    """The outcome of :func:`train`.

    Attributes:
        val_accuracies: validation accuracy after each completed, non-diverged epoch (one
            entry per ``on_epoch_end`` call).
        val_accuracy: validation accuracy of the final model — the last epoch's, or, after a
            divergence, measured on the model as it was when the run stopped. Always finite.
        test_accuracy: test accuracy of the final model (for reporting, never for selection).
        epochs_run: epochs started, including one cut short by divergence.
        seconds: wall-clock time of the whole run, including the final evaluations.
        diverged: a training or validation loss was not finite.
        stopped_early: ``on_epoch_end`` asked to stop.
        lr_trace: learning rate of param group 0 at every optimizer step taken.
        steps_per_epoch: optimizer steps in a full epoch.
        train_losses: mean training loss of each entry in ``val_accuracies``.
        val_losses: validation loss of each entry in ``val_accuracies``.
        metric: the name of the run's metric (``TrainConfig.metric``).
        val_scores, val_score, test_score: as ``val_accuracies``, ``val_accuracy`` and
            ``test_accuracy``, in the run's metric (equal to them for accuracy; always finite).
    """

    val_accuracies: list[float]
    val_accuracy: float
    test_accuracy: float
    epochs_run: int
    seconds: float
    diverged: bool
    stopped_early: bool
    lr_trace: list[float]
    steps_per_epoch: int
    train_losses: list[float] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)
    metric: str = "accuracy"
    val_scores: list[float] = field(default_factory=list)
    val_score: float = math.nan
    test_score: float = math.nan


def build_optimizer(
    model: nn.Module, *, lr: float, config: TrainConfig, schedule: _Schedule | None = None
) -> torch.optim.Optimizer:
    """The optimizer ``config.optimizer`` over all of ``model``'s parameters at ``lr``.

    A ``schedulefree`` ``schedule`` gets Schedule-Free SGD/AdamW instead
    (:func:`lrtune.schedule_free.build_schedule_free_optimizer`, at ``schedule.peak_lr``).
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


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 2048) -> tuple[float, float]:
    """Accuracy and mean cross-entropy loss of ``model`` on ``(x, y)``, in eval mode.

    The model's train/eval mode is restored afterwards. The accuracy is always finite; the
    loss is not when the model's outputs are not.
    """
    accuracy, loss, _ = evaluate_metric(model, x, y, batch_size=batch_size)
    return accuracy, loss


@torch.no_grad()
def evaluate_metric(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, metric: Metric = ACCURACY, batch_size: int = 2048
) -> tuple[float, float, float]:
    """Accuracy, mean cross-entropy and ``metric``'s score of ``model`` on ``(x, y)``, in one pass.

    ``score = (1/n) Σ_i s(logits_i, y_i)`` summed in float64 (:class:`lrtune.metrics.Metric`).
    The score is always finite: a non-finite one (a diverged model) is replaced by the score
    of the uniform predictor (all-zero logits, chance level: ``log C`` for the loss), as the
    accuracy of a diverged model is what it is. The model's train/eval mode is restored.
    """
    if len(y) == 0:
        raise ValueError("cannot evaluate on an empty split")
    was_training = model.training
    model.eval()
    correct = 0
    loss_sum = 0.0
    score_sum = 0.0
    n_classes = 0
    try:
        for start in range(0, len(y), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            logits = model(xb)
            n_classes = logits.shape[-1]
            loss_sum += F.cross_entropy(logits, yb, reduction="sum").item()
            correct += int((logits.argmax(dim=1) == yb).sum().item())
            if metric is not ACCURACY:
                score_sum += float(metric.sums(logits, yb))
    finally:
        model.train(was_training)
    accuracy = correct / len(y)
    score = accuracy if metric is ACCURACY else score_sum / len(y)
    if not math.isfinite(score):
        score = chance_score(metric, y, n_classes)
    return accuracy, loss_sum / len(y), score


def chance_score(metric: Metric, y: torch.Tensor, n_classes: int) -> float:
    """``metric`` of the uniform predictor (all-zero logits) on targets ``y``: a diverged model's score."""
    zeros = torch.zeros(len(y), n_classes, device=y.device)
    value = float(metric.sums(zeros, y)) / len(y)
    return value if math.isfinite(value) else 0.0


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
    (``config.metric.sign · score``, higher is better) after every epoch. Then ``on_epoch_end`` gets the epoch's :class:`EpochResult`; returning True stops
    the run (``stopped_early``), and whatever it raises propagates.

    A non-finite training loss stops the run before the step is taken, and a non-finite
    validation loss stops it after that epoch; either way ``diverged`` is True, the epoch is
    not reported to ``on_epoch_end``, and the accuracies and scores are measured on the model
    as it is (finite: see :func:`evaluate_metric`).
    """
    started = time.perf_counter()
    model.to(data.device)
    n_steps = steps_per_epoch(len(data.y_train), config.batch_size)
    optimizer = build_optimizer(model, lr=schedule.peak_lr, config=config, schedule=schedule)
    scheduler = schedule.build(optimizer, config.epochs * n_steps)
    generator = torch.Generator().manual_seed(config.seed)
    result = TrainResult(
        val_accuracies=[],
        val_accuracy=math.nan,
        test_accuracy=math.nan,
        epochs_run=0,
        seconds=0.0,
        diverged=False,
        stopped_early=False,
        lr_trace=[],
        steps_per_epoch=n_steps,
    )
    for epoch in range(1, config.epochs + 1):
        epoch_started = time.perf_counter()
        result.epochs_run = epoch
        to_train_point(optimizer)  # schedule-free: parameters ← y; a no-op for other optimizers
        train_loss = _train_epoch(model, data, optimizer, scheduler, config, generator, result)
        to_eval_point(optimizer, model, data.x_train, batch_size=config.batch_size)  # ← x, BN stats
        if train_loss is None:
            result.diverged = True
            break
        metric = config.metric
        val_accuracy, val_loss, val_score = evaluate_metric(
            model, data.x_val, data.y_val, metric=metric, batch_size=config.eval_batch_size
        )
        if not math.isfinite(val_loss):
            result.diverged = True
            result.val_accuracy, result.val_score = val_accuracy, val_score
            break
        scheduler.epoch_end(metric.sign * val_score)  # oriented: higher is better
        result.val_accuracies.append(val_accuracy)
        result.val_losses.append(val_loss)
        result.train_losses.append(train_loss)
        result.val_scores.append(val_score)
        result.val_accuracy, result.val_score = val_accuracy, val_score
        report = EpochResult(
            epoch=epoch,
            val_accuracy=val_accuracy,
            val_loss=val_loss,
            train_loss=train_loss,
            lr=result.lr_trace[-1],
            seconds=time.perf_counter() - epoch_started,
            val_score=val_score,
        )
        if on_epoch_end is not None and on_epoch_end(report):
            result.stopped_early = True
            break
    _final_evaluations(model, data, config, result)
    result.seconds = time.perf_counter() - started
    return result


def _final_evaluations(model: nn.Module, data: Dataset, config: TrainConfig, result: TrainResult) -> None:
    """What every run measures at its end: the validation score when a divergence left it unmeasured,
    and the test accuracy and score (reported only, never used to select)."""
    metric = config.metric
    result.metric = metric.name
    if result.diverged and not (math.isfinite(result.val_accuracy) and math.isfinite(result.val_score)):
        result.val_accuracy, _, result.val_score = evaluate_metric(
            model, data.x_val, data.y_val, metric=metric, batch_size=config.eval_batch_size
        )
    result.test_accuracy, _, result.test_score = evaluate_metric(
        model, data.x_test, data.y_test, metric=metric, batch_size=config.eval_batch_size
    )


def _train_epoch(
    model: nn.Module,
    data: Dataset,
    optimizer: torch.optim.Optimizer,
    scheduler: _Scheduler,
    config: TrainConfig,
    generator: torch.Generator,
    result: TrainResult,
) -> float | None:
    """One pass over the training split; the mean training loss, or None on divergence.

    Appends the learning rate of every step taken to ``result.lr_trace``.
    """
    model.train()
    loss_sum = 0.0
    seen = 0
    for xb, yb in iterate_batches(data.x_train, data.y_train, batch_size=config.batch_size, generator=generator):
        loss = F.cross_entropy(model(xb), yb)
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            return None
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        result.lr_trace.append(float(optimizer.param_groups[0]["lr"]))
        optimizer.step()
        scheduler.step()
        loss_sum += loss_value * len(yb)
        seen += len(yb)
    return loss_sum / seen
