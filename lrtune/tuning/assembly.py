"""One task assembly: a stored task configuration → data, model factory, metric, training settings.

Every command that trains — the search (``lrtune.study``), the confirmations (``lrtune.analyze
--confirm``), the ``--fuse`` start-up probe, the benchmark and the pruning account — turns a
:class:`~lrtune.tuning.config.TaskConfig` into what it trains here, and only here:

* built-in task: ``load_dataset(dataset, val_fraction, seed)`` and ``build_model(model, seed)``;
* user task (``--task module:callable``): the loaded :class:`lrtune.Task`'s data (refused when
  its fingerprint differs from the stored one) and ``make_model(seed)``;
* the metric: a built-in name resolves by itself; a user's callable comes from the loaded task;
* the training settings: ``TrainConfig.from_task(config, seed, metric)`` — the configuration's
  epochs, batch size, optimizer and weight decay, never defaults of their own;
* the derived counts, computed once: ``steps_per_epoch = ⌈n_train / batch_size⌉`` and
  ``total_steps = epochs · steps_per_epoch`` (``TrainConfig.total_steps``).
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass

import torch
from torch import nn

from lrtune.training.data import Dataset, load_dataset, steps_per_epoch
from lrtune.training.fused import why_not_fusable
from lrtune.training.metrics import METRICS, Metric, resolve_metric
from lrtune.training.models import build_model
from lrtune.training.train import TrainConfig
from lrtune.training.user_task import TaskError, load_task
from lrtune.tuning.config import RunConfig, TaskConfig

__all__ = ["AssembledTask", "assemble", "assemble_for_run", "task_metric"]


@dataclass(frozen=True)
class AssembledTask:
    """A task ready to train: its configuration, data on the device and selection metric."""

    config: TaskConfig
    data: Dataset
    metric: Metric

    def build_model(self, seed: int) -> nn.Module:
        """The model of one run: the user task's ``make_model(seed)`` (torch seeded first), else the
        built-in ``build_model(model, input_shape, n_classes, seed)``."""
        task = self.config
        if task.user_task is not None:
            return load_task(task.user_task, device=self.data.device).build_model(seed)
        return build_model(task.model, input_shape=self.data.input_shape, n_classes=self.data.n_classes, seed=seed)

    def train_config(self, seed: int, *, epochs: int | None = None) -> TrainConfig:
        """The training settings of one run (``epochs`` overrides the task's: a horizon run)."""
        return TrainConfig.from_task(self.config, seed=seed, metric=self.metric, epochs=epochs)

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch, ``⌈n_train / batch_size⌉``."""
        return steps_per_epoch(len(self.data.y_train), self.config.batch_size)

    def total_steps(self, *, epochs: int | None = None) -> int:
        """``epochs · steps_per_epoch`` (the task's epochs unless given)."""
        return self.train_config(0, epochs=epochs).total_steps(len(self.data.y_train))


def task_metric(task: TaskConfig, device: str | torch.device = "cpu") -> Metric:
    """The :class:`Metric` a task's trials are selected on, as its configuration stores it.

    A built-in name resolves by itself; a user's callable comes from the loaded task, which must
    still carry the stored name and direction (else :class:`~lrtune.training.user_task.TaskError`).
    """
    if task.metric in METRICS:
        return resolve_metric(task.metric, task.direction)
    if task.user_task is None:
        raise TaskError(f"unknown metric {task.metric!r}; valid: {', '.join(METRICS)}")
    metric = load_task(task.user_task, device=device).metric
    if (metric.name, metric.direction) != (task.metric, task.direction):
        raise TaskError(
            f"--task {task.user_task}: its metric is now {metric.name} ({metric.direction}), but the "
            f"studies were created with {task.metric} ({task.direction}); use another --study-name"
        )
    return metric


def _task_data(task: TaskConfig, *, data_dir: str, download: bool, device: str | torch.device) -> Dataset:
    if task.user_task is not None:
        loaded = load_task(task.user_task, device=device)
        if task.task_fingerprint and loaded.fingerprint != task.task_fingerprint:
            raise TaskError(
                f"--task {task.user_task}: its data changed since the studies were "
                f"created (fingerprint {loaded.fingerprint}, stored "
                f"{task.task_fingerprint}); use another --study-name"
            )
        return loaded.data
    return load_dataset(
        task.dataset,
        data_dir=data_dir,
        download=download,
        val_fraction=task.val_fraction,
        seed=task.seed,
        device=device,
    )


def assemble(
    task: TaskConfig,
    *,
    device: str | torch.device = "cpu",
    data_dir: str = "data",
    download: bool = False,
    data: Dataset | None = None,
) -> AssembledTask:
    """The task of a stored configuration, ready to train.

    ``data`` replaces loading (the benchmark's generated data, or data a caller already holds);
    otherwise the built-in dataset is loaded with the configuration's split and seed, or the user
    task's data is taken (refused, :class:`~lrtune.training.user_task.TaskError`, when its
    fingerprint changed since the studies were created).
    """
    if data is None:
        data = _task_data(task, data_dir=data_dir, download=download, device=device)
    return AssembledTask(task, data, task_metric(task, data.device))


def assemble_for_run(task: TaskConfig, run: RunConfig, device: str) -> tuple[AssembledTask, RunConfig]:
    """A search's start-up: :func:`assemble`, after completing a user task's configuration.

    A user task's configuration gets its model's class name, the data's fingerprint and its
    metric (what the study stores). With ``--fuse K`` (or the default) and a model that cannot be
    stacked, one warning line and ``fuse = 1``: the trials run one by one instead of failing.
    """
    if task.user_task is None:
        return assemble(task, device=device, data_dir=run.data_dir, download=run.download), run
    loaded = load_task(task.user_task, device=device)
    task = dataclasses.replace(
        task,
        model=loaded.model_name,
        task_fingerprint=loaded.fingerprint,
        metric=loaded.metric.name,
        direction=loaded.metric.direction,
    )
    if run.fuse is None or run.fuse > 1:
        reason = why_not_fusable(loaded.build_model(0), loaded.data.input_shape)
        if reason is not None:
            asked = f"--fuse {run.fuse} ignored" if run.fuse is not None else "not fused"
            print(
                f"lrtune.study: warning: {asked}: the task's model {loaded.model_name} cannot be "
                f"stacked ({reason}); trials run one by one",
                file=sys.stderr,
            )
            run = dataclasses.replace(run, fuse=1)
    if loaded.streamed:
        print(
            f"lrtune.study: {task.user_task}: data streamed batch by batch from its Dataset "
            "(it does not fit in a quarter of the device memory, or in_memory=False)",
            file=sys.stderr,
        )
    return AssembledTask(task, loaded.data, loaded.metric), run
