"""The one place where Optuna meets training: suggest, train, report, prune, record.

:class:`Objective` is called with a live trial. It suggests a schedule from the family's
search space, trains the task's model with it (:func:`lrtune.training.train.train`), reports the
validation score of the task's metric after every epoch (``trial.report(val_score, epoch)``,
epochs 1-based; the accuracy by default) and stops when the pruner says so — Optuna's pruners
read the study's direction, which is the metric's. It returns the **final-epoch validation
score** — always finite: a diverged run (non-finite loss) is an outcome, recorded as
``diverged=True`` with the score measured when it stopped, never a NaN that would turn the
trial into FAIL.

User attrs of every trial (COMPLETE or PRUNED) follow ``docs/architecture.md``.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import optuna

from lrtune.core.schedules import Schedule
from lrtune.core.spaces import suggest_schedule
from lrtune.training.data import Dataset
from lrtune.training.fused import train_fused
from lrtune.training.train import TrainConfig, TrainResult, train
from lrtune.tuning.assembly import AssembledTask, assemble
from lrtune.tuning.config import TaskConfig
from lrtune.tuning.optuna_compat import frozen_trial, storage_of, trial_id
from lrtune.tuning.pruning import make_pruner, may_prune

__all__ = [
    "LR_CURVE_POINTS",
    "Objective",
    "curve_steps",
    "downsample",
    "make_pruner",
    "make_sampler",
    "original_trial_number",
    "record_trial",
    "run_fused_trials",
    "trial_attrs",
    "search_trial_seed",
]

LR_CURVE_POINTS = 200
"""The realised LR curve is stored with at most this many points."""


def search_trial_seed(base_seed: int, trial_number: int) -> int:
    """Seed of trial ``n``: same number → same initialisation and batch order in every family.

    Families are compared on paired seeds, which removes initialisation noise from the
    difference between trial n of one family and trial n of another.
    """
    return base_seed * 1_000_003 + trial_number


def original_trial_number(trial: optuna.Trial) -> int:
    """The number of the trial this one retries (a dead worker's trial), else its own number.

    A retry keeps the original's parameters *and* seed, so it reproduces what was lost. Optuna 5's
    ``retried_trial_number`` needs a FrozenTrial (a live Trial has no ``system_attrs``).
    """
    if not isinstance(trial, optuna.Trial):  # FixedTrial: no storage behind it
        return trial.number
    frozen = frozen_trial(trial)
    original = optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(frozen)
    return trial.number if original is None else original


def downsample(values: list[float] | np.ndarray, points: int = LR_CURVE_POINTS) -> tuple[list[int], list[float]]:
    """At most ``points`` (step, value) pairs, evenly spaced, always keeping the first and last."""
    values = np.asarray(values, dtype=float)
    steps = curve_steps(len(values), points)
    return steps.tolist(), values[steps].tolist()


def curve_steps(total_steps: int, points: int = LR_CURVE_POINTS) -> np.ndarray:
    """At most ``points`` step indices in ``[0, total_steps)``, evenly spaced, first and last kept.

    >>> curve_steps(10, 4).tolist(), curve_steps(3).tolist(), curve_steps(0).tolist()
    ([0, 3, 6, 9], [0, 1, 2], [])
    """
    if total_steps <= 0:
        return np.zeros(0, dtype=int)
    return np.unique(np.linspace(0, total_steps - 1, min(points, total_steps)).round().astype(int))


def make_sampler(name: str, *, seed: int) -> optuna.samplers.BaseSampler:
    """A seeded sampler by name (``tpe`` is multivariate with ``group=True`` in lrtune)."""
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, scramble=True)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    raise ValueError(f"unknown sampler {name!r}; valid: tpe, random, qmc, cmaes, gp")


class Objective:
    """``objective(trial) -> final validation score`` (the task's metric) for one family of one task.

    ``on_trial_start(trial, schedule, total_steps)`` runs after the schedule is suggested and
    before training (lrtune uses it to attach the LR-curve artifact and the trial note while the
    trial is running, which optuna-dashboard requires).

    ``task`` is an :class:`~lrtune.tuning.assembly.AssembledTask`, or a ``TaskConfig`` with the
    ``data`` it trains on (assembled here by :func:`~lrtune.tuning.assembly.assemble`).
    """

    def __init__(
        self,
        task: AssembledTask | TaskConfig,
        family: str,
        data: Dataset | None = None,
        *,
        on_trial_start: Callable[[optuna.Trial, Schedule, int], None] | None = None,
    ) -> None:
        self.assembled = task if isinstance(task, AssembledTask) else assemble(task, data=data)
        self.task = self.assembled.config
        self.family = family
        self.data = self.assembled.data
        self.on_trial_start = on_trial_start
        self.metric = self.assembled.metric

    def train_config(self, seed: int) -> TrainConfig:
        return self.assembled.train_config(seed)

    def __call__(self, trial: optuna.Trial) -> float:
        started = time.perf_counter()
        schedule = suggest_schedule(
            trial, self.family, lr=self.task.lr_range_for(self.family), warmup=self.task.warmup_range
        )
        seed = search_trial_seed(self.task.seed, original_trial_number(trial))
        config = self.train_config(seed)
        if self.on_trial_start is not None:
            self.on_trial_start(trial, schedule, config.total_steps(len(self.data.y_train)))
        model = self.assembled.build_model(seed)

        def report(epoch_result) -> bool:
            trial.report(epoch_result.val_score, epoch_result.epoch)
            return may_prune(epoch_result.epoch, config.epochs) and trial.should_prune()

        result = train(model, self.data, schedule, config=config, on_epoch_end=report)
        record_trial(trial, self.family, seed, result, seconds=time.perf_counter() - started)
        if result.stopped_early:
            raise optuna.TrialPruned(f"pruned at epoch {result.epochs_run}")
        return float(result.val_score)


def record_trial(trial: optuna.Trial, family: str, seed: int, result: TrainResult, *, seconds: float) -> None:
    """Store the trial's user attrs (:func:`trial_attrs`) on a running trial."""
    for key, value in trial_attrs(family, seed, result, seconds=seconds).items():
        trial.set_user_attr(key, value)


def trial_attrs(family: str, seed: int, result: TrainResult, *, seconds: float) -> dict[str, Any]:
    """A trained run's user attrs (the stored-data contract, docs/architecture.md) — all finite,
    JSON-friendly; a confirmation run stores the same with ``create_trial``."""
    steps, lrs = downsample(result.lr_trace)
    attrs: dict[str, Any] = {
        "family": family,
        "seed": seed,
        "val_accuracy": float(result.val_accuracy),
        "test_accuracy": float(result.test_accuracy),
        "epochs_run": int(result.epochs_run),
        "seconds": round(float(seconds), 4),
        "diverged": bool(result.diverged),
        "steps_per_epoch": int(result.steps_per_epoch),
        "lr_curve_steps": steps,
        "lr_curve": lrs,
    }
    if result.metric != "accuracy":  # a task's own metric: its scores next to the accuracies
        attrs.update(metric=result.metric, val_score=float(result.val_score), test_score=float(result.test_score))
    return attrs


# ----------------------------------------------------------------------------------- fused trials


def run_fused_trials(
    study: optuna.Study, objective: Objective, k: int, *, mode: str = "auto"
) -> list[optuna.trial.FrozenTrial]:
    """Ask ``k`` trials, train them at once as one stacked model, report, prune and tell each.

    The fused counterpart of ``study.optimize(objective, n_trials=k)``: every trial gets its
    schedule from ``suggest_schedule`` and its own seed
    (``search_trial_seed(task.seed, original_trial_number(trial))``, stored as ``seed``) for its
    initialisation *and* its batch order (stored as ``data_seed``, equal to ``seed``;
    ``fuse_group`` is the first trial's number), so every member is exactly the trial the
    unfused objective would have run (same split, init, batches, schedule). After every
    epoch each member reports its validation score; a member whose ``should_prune()`` is true
    leaves the stack and is told PRUNED, a diverged one leaves and is told COMPLETE with its
    finite score, the rest are told COMPLETE with their final-epoch validation score. User
    attrs are those of :func:`record_trial`; ``seconds`` is the member's share of the group's time.
    If training raises (Ctrl-C included), the trials not yet told are told FAIL and it re-raises.
    """

    task, data = objective.task, objective.data
    heartbeat = _GroupHeartbeat(study)
    with warnings.catch_warnings():  # heartbeats are kept below, as optimize() would
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        trials = [study.ask() for _ in range(k)]
    told: set[int] = set()
    heartbeat.start([trial_id(t) for t in trials])
    try:
        schedules = [
            suggest_schedule(t, objective.family, lr=task.lr_range_for(objective.family), warmup=task.warmup_range)
            for t in trials
        ]
        seeds = [search_trial_seed(task.seed, original_trial_number(t)) for t in trials]
        config = objective.train_config(seeds[0])
        if objective.on_trial_start is not None:
            total_steps = config.total_steps(len(data.y_train))
            for trial, schedule in zip(trials, schedules):
                objective.on_trial_start(trial, schedule, total_steps)
        models = [objective.assembled.build_model(s) for s in seeds]

        def report(index: int, epoch_result) -> bool:
            trials[index].report(epoch_result.val_score, epoch_result.epoch)
            return may_prune(epoch_result.epoch, config.epochs) and trials[index].should_prune()

        def tell(member) -> None:
            trial, result = trials[member.index], member.result
            record_trial(trial, objective.family, seeds[member.index], result, seconds=result.seconds)
            trial.set_user_attr("data_seed", seeds[member.index])
            trial.set_user_attr("fuse_group", trials[0].number)
            if result.stopped_early:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            else:
                study.tell(trial, float(result.val_score))
            told.add(member.index)
            heartbeat.drop(trial_id(trial))

        train_fused(
            models,
            data,
            schedules,
            config=config,
            on_epoch_end=report,
            on_member_end=tell,
            mode=mode,
            data_seeds=seeds,
        )
    except BaseException:
        for i, trial in enumerate(trials):
            if i not in told:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise
    finally:
        heartbeat.stop()
    return [study.get_trials(deepcopy=False)[t.number] for t in trials]


class _GroupHeartbeat:
    """What ``optimize()`` does for one trial, for a fused group: fail stale trials of dead
    workers first (they get their retry), then beat every heartbeat interval for each member
    still running, from one thread. A no-op on storages without heartbeats."""

    def __init__(self, study: optuna.Study) -> None:
        self.storage = storage_of(study)
        interval = getattr(self.storage, "get_heartbeat_interval", lambda: None)()
        self.interval = interval
        self.ids: set[int] = set()
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None
        if interval:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)

    def start(self, trial_ids: list[int]) -> None:
        if not self.interval:
            return
        self.ids = set(trial_ids)
        self.thread = threading.Thread(target=self._beat, name="lrtune-fused-heartbeat", daemon=True)
        self.thread.start()

    def _beat(self) -> None:
        while True:
            with self.lock:
                ids = sorted(self.ids)
            for running_id in ids:
                self.storage.record_heartbeat(running_id)
            if self.stopped.wait(timeout=self.interval):
                return

    def drop(self, trial_id: int) -> None:
        with self.lock:
            self.ids.discard(trial_id)

    def stop(self) -> None:
        self.stopped.set()
        if self.thread is not None:
            self.thread.join()
