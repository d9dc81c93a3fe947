"""The epoch loop that solo (:func:`lrtune.training.train.train`) and stacked (:func:`lrtune.training.fused.train_fused`)
training share, and what it measures and reports (:class:`EpochResult`, :class:`TrainResult`,
:func:`evaluate_metric`).

:func:`run_epochs` trains a group of K ≥ 1 members (solo: K = 1) for ``config.epochs`` epochs and
owns everything but the arithmetic of a step:

* **Batch order**: member k's batches are those :func:`lrtune.training.data.iterate_batches` draws for its
  own seed (one ``torch.Generator`` per member, one ``randperm`` per epoch). When every member has
  the same seed the group reads one shared batch ``[B, ...]``; otherwise one batched gather of the
  stacked permutations reads one batch per member ``[K, B, ...]``.
* **Divergence**: a member whose training loss is not finite leaves before the step is taken
  (its weights are those before the bad step), and one whose validation loss is not finite leaves
  after that epoch; either way ``diverged`` is True and the epoch is not reported.
* **Validation and schedules**: after each epoch every member is validated in
  ``config.metric``; its scheduler is told the *oriented* score ``sign · score`` (higher is
  better); an :class:`EpochResult` goes to ``on_epoch_end(k, result)``, and True stops member k
  (``stopped_early``: pruning).
* **Leaving**: a member that completes, stops or diverges is exported, its test accuracy and score
  measured (after a training divergence its validation score too, see below), and handed to
  ``on_member_end``; the group shrinks (:meth:`TrainingPath.keep`) so it costs nothing more.

A training path (:class:`TrainingPath`) plugs in only the maths: the members' losses on a batch,
one optimizer step of every member (with the schedule's per-step LR), the end of an epoch's
training, evaluation, export and shrinking.

After a *training* divergence, every path measures the validation score (and the test score)
on the model as it stopped — the weights before the bad step — so a diverged trial's stored scores
describe one model, and a fused trial is the same experiment as a solo one here too.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from lrtune.training.data import Dataset, iterate_batches, steps_per_epoch
from lrtune.training.metrics import ACCURACY, Metric

__all__ = [
    "EpochResult",
    "Member",
    "TrainResult",
    "TrainingPath",
    "chance_score",
    "evaluate",
    "evaluate_metric",
    "run_epochs",
]


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
    """The outcome of :func:`lrtune.training.train.train` (and of each member of a fused run).

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

    ``score = (1/n) Σ_i s(logits_i, y_i)`` summed in float64 (:class:`lrtune.training.metrics.Metric`).
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


class Scheduler(Protocol):
    """What the loop tells a member's schedule: the oriented validation score after each epoch."""

    def epoch_end(self, metric: float) -> None: ...


class LoopSettings(Protocol):
    """What :func:`run_epochs` reads of a :class:`lrtune.training.train.TrainConfig`."""

    epochs: int
    batch_size: int
    eval_batch_size: int
    metric: Metric


class TrainingPath(Protocol):
    """The maths of one way of training K members; positions index the members still in it."""

    def begin_epoch(self, first_step: int) -> None:
        """Before an epoch's first batch; ``first_step`` counts the steps taken before it."""

    def losses(self, xb: torch.Tensor, yb: torch.Tensor, *, per_member: bool) -> list[float]:
        """Each member's mean training loss on its batch (forward only; the graph is kept for :meth:`step`)."""

    def step(self, i: int) -> list[float]:
        """One optimizer step of every member on the last :meth:`losses`; each member's LR of step ``i``
        of the epoch (param group 0's, as used by the step)."""

    def end_training(self) -> None:
        """After the epoch's last batch (or a divergence of every member), before validation."""

    def evaluate(
        self, x: torch.Tensor, y: torch.Tensor, *, metric: Metric, batch_size: int
    ) -> tuple[list[float], list[float], list[float]]:
        """Per member: accuracy, mean cross-entropy and score on ``(x, y)`` (as :func:`evaluate_metric`)."""

    def export(self, position: int) -> nn.Module:
        """Member ``position``'s model with its current weights."""

    def keep(self, positions: Sequence[int]) -> None:
        """Keep only the members at ``positions`` (in that order)."""


@dataclass
class Member:
    """One member's book-keeping while it trains: its run's index, schedule, result and batch order."""

    index: int
    scheduler: Scheduler
    result: TrainResult
    generator: torch.Generator
    loss_sum: float = 0.0
    done: bool = False


class _Clock:
    """Shares wall-clock time out among the members that used it."""

    def __init__(self) -> None:
        self.last = time.perf_counter()

    def share(self, members: Sequence[Member]) -> None:
        now = time.perf_counter()
        for member in members:
            member.result.seconds += (now - self.last) / len(members)
        self.last = now


def new_result(steps: int) -> TrainResult:
    """An empty :class:`TrainResult` for a run of ``steps`` optimizer steps per epoch."""
    return TrainResult(
        val_accuracies=[],
        val_accuracy=math.nan,
        test_accuracy=math.nan,
        epochs_run=0,
        seconds=0.0,
        diverged=False,
        stopped_early=False,
        lr_trace=[],
        steps_per_epoch=steps,
    )


class _EpochLoop:
    """The state of one :func:`run_epochs` call: the members still training and those finished."""

    def __init__(
        self,
        path: TrainingPath,
        data: Dataset,
        config: LoopSettings,
        schedulers: Sequence[Scheduler],
        seeds: Sequence[int],
        on_epoch_end: Callable[[int, EpochResult], bool | None] | None,
        on_member_end: Callable[[int, TrainResult, nn.Module], None] | None,
    ) -> None:
        self.path, self.data, self.config = path, data, config
        self.on_epoch_end, self.on_member_end = on_epoch_end, on_member_end
        self.n_steps = steps_per_epoch(len(data.y_train), config.batch_size)
        self.alive = [
            Member(k, scheduler, new_result(self.n_steps), torch.Generator().manual_seed(seed))
            for k, (scheduler, seed) in enumerate(zip(schedulers, seeds))
        ]
        self.shared = len(set(seeds)) == 1  # one batch order for all: one batch for the group
        self.shared_generator = torch.Generator().manual_seed(seeds[0])  # outlives any member
        self.finished: dict[int, TrainResult] = {}
        self.clock = _Clock()

    def batches(self) -> tuple[Sequence[tuple[torch.Tensor, torch.Tensor]] | None, torch.Tensor | None]:
        """This epoch's shared batches, or the members' stacked permutations ``[K, n]``."""
        data, batch_size = self.data, self.config.batch_size
        if self.shared:
            batches = iterate_batches(
                data.x_train, data.y_train, batch_size=batch_size, generator=self.shared_generator
            )
            return batches, None
        n_train = len(data.y_train)
        order = torch.stack([torch.randperm(n_train, generator=m.generator) for m in self.alive])
        return None, order.to(data.device)

    def finish(self, position: int, *, needs_val: bool) -> None:
        """Export the member, measure what every run measures at its end, hand it over."""
        self.clock.share([m for m in self.alive if not m.done])
        member = self.alive[position]
        member.done = True
        model = self.path.export(position)
        result, metric, data = member.result, self.config.metric, self.data
        result.metric = metric.name
        if needs_val:
            result.val_accuracy, _, result.val_score = evaluate_metric(
                model, data.x_val, data.y_val, metric=metric, batch_size=self.config.eval_batch_size
            )
        result.test_accuracy, _, result.test_score = evaluate_metric(
            model, data.x_test, data.y_test, metric=metric, batch_size=self.config.eval_batch_size
        )
        self.clock.share([member])
        self.finished[member.index] = result
        if self.on_member_end is not None:
            self.on_member_end(member.index, result, model)

    def finish_diverged(self, positions: Sequence[int]) -> None:
        """Members whose training loss was not finite: their weights are those before the bad step."""
        for j in positions:
            result = self.alive[j].result
            result.diverged = True
            self.finish(j, needs_val=True)

    def drop(self, leaving: Sequence[int]) -> list[int]:
        """Shrink the group to the members not ``leaving``; their positions before shrinking."""
        keep = [j for j in range(len(self.alive)) if j not in leaving]
        self.alive = [self.alive[j] for j in keep]
        if self.alive:
            self.path.keep(keep)
        return keep

    def train_epoch(self, epoch: int) -> int:
        """The epoch's batches: a step of every member on each; the examples seen (0 when all diverged)."""
        data, batch_size, path = self.data, self.config.batch_size, self.path
        for member in self.alive:
            member.result.epochs_run = epoch
            member.loss_sum = 0.0
        path.begin_epoch((epoch - 1) * self.n_steps)
        batches, order = self.batches()
        seen = 0
        for i in range(self.n_steps):
            if order is None:
                xb, yb = next(batches)
            else:  # one batched gather: [K, B] indices → [K, B, ...] examples and labels
                index = order[:, i * batch_size : (i + 1) * batch_size]
                xb, yb = data.x_train[index], data.y_train[index]
            values = path.losses(xb, yb, per_member=order is not None)
            bad = [j for j, v in enumerate(values) if not math.isfinite(v)]
            if len(bad) == len(self.alive):
                path.end_training()
                self.finish_diverged(bad)
                self.alive = []
                return 0
            self.finish_diverged(bad)
            lrs = path.step(i)
            n_batch = yb.shape[-1]
            for j, member in enumerate(self.alive):
                if j not in bad:
                    member.result.lr_trace.append(lrs[j])
                    member.loss_sum += values[j] * n_batch
            seen += n_batch
            if bad:
                keep = self.drop(bad)
                if order is not None:
                    order = order[keep]
        path.end_training()
        return seen

    def validate(self, epoch: int, seen: int, epoch_started: float) -> None:
        """Validate, tell the schedules, report each member's epoch; finish those that leave."""
        config, metric = self.config, self.config.metric
        val_accuracies, val_losses, val_scores = self.path.evaluate(
            self.data.x_val, self.data.y_val, metric=metric, batch_size=config.eval_batch_size
        )
        leaving: list[int] = []
        for j, member in enumerate(self.alive):
            result = member.result
            if not math.isfinite(val_losses[j]):
                result.diverged = True
                result.val_accuracy, result.val_score = val_accuracies[j], val_scores[j]
                leaving.append(j)
                continue
            member.scheduler.epoch_end(metric.sign * val_scores[j])  # oriented: higher is better
            result.val_accuracies.append(val_accuracies[j])
            result.val_losses.append(val_losses[j])
            result.train_losses.append(member.loss_sum / seen)
            result.val_scores.append(val_scores[j])
            result.val_accuracy, result.val_score = val_accuracies[j], val_scores[j]
        self.clock.share(self.alive)
        epoch_seconds = time.perf_counter() - epoch_started
        for j, member in enumerate(self.alive):
            if j in leaving:
                continue
            result = member.result
            report = EpochResult(
                epoch=epoch,
                val_accuracy=result.val_accuracy,
                val_loss=result.val_losses[-1],
                train_loss=result.train_losses[-1],
                lr=result.lr_trace[-1],
                seconds=epoch_seconds,
                val_score=result.val_score,
            )
            if self.on_epoch_end is not None and self.on_epoch_end(member.index, report):
                result.stopped_early = True
                leaving.append(j)
        leaving.sort()
        for j in leaving:
            self.finish(j, needs_val=False)
        if leaving:
            self.drop(leaving)


def run_epochs(
    path: TrainingPath,
    data: Dataset,
    *,
    config: LoopSettings,
    schedulers: Sequence[Scheduler],
    seeds: Sequence[int],
    on_epoch_end: Callable[[int, EpochResult], bool | None] | None = None,
    on_member_end: Callable[[int, TrainResult, nn.Module], None] | None = None,
) -> list[TrainResult]:
    """Train the K members of ``path`` for ``config.epochs`` epochs; their results in member order.

    Member k's batch order is drawn from ``seeds[k]`` and its schedule hears its oriented
    validation score through ``schedulers[k].epoch_end``. ``on_epoch_end(k, result)`` gets every
    completed, non-diverged epoch (True stops member k); ``on_member_end(k, result, model)`` runs as
    soon as member k is finished, with its test accuracy measured. ``result.seconds`` is the
    member's share of the wall-clock time (each stretch divided among the members that used it).
    """
    if not len(schedulers) == len(seeds) >= 1:
        raise ValueError(f"need one scheduler per seed, but got {len(schedulers)} and {len(seeds)}")
    loop = _EpochLoop(path, data, config, schedulers, seeds, on_epoch_end, on_member_end)
    for epoch in range(1, config.epochs + 1):
        if not loop.alive:
            break
        epoch_started = time.perf_counter()
        seen = loop.train_epoch(epoch)
        if not loop.alive:
            break
        loop.validate(epoch, seen, epoch_started)
    for j in range(len(loop.alive)):
        loop.finish(j, needs_val=False)
    return [loop.finished[k] for k in range(len(seeds))]
