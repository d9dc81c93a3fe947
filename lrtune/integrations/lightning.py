"""lrtune in PyTorch Lightning: a schedule stepped per optimizer step, Schedule-Free, bounded pruning.

``pip install "lrtune[lightning]"``. In a ``LightningModule``::

    from lrtune.integrations.lightning import PruningCallback, ScheduleFreeCallback, configure_optimizers

    class Net(L.LightningModule):
        def __init__(self, schedule):
            super().__init__()
            self.schedule = schedule
            ...
        def configure_optimizers(self):
            return configure_optimizers(self, self.schedule, optimizer="sgd", momentum=0.9)

    schedule = lrtune.suggest_schedule(trial, ["cosine", "onecycle", "schedulefree"], lr=(1e-3, 1.0))
    trainer = L.Trainer(max_epochs=E, callbacks=[ScheduleFreeCallback(), PruningCallback(trial, "val_accuracy")])

The pitfall this avoids: Lightning steps a scheduler once per *epoch* unless its config says
``"interval": "step"`` — an lrtune schedule (defined over optimizer steps 0…T−1) would then
advance E times instead of T and the run would train on the wrong curve without any error.
:func:`scheduler_config` always says ``"interval": "step", "frequency": 1``, so the LR Lightning
applies at optimizer step t is ``schedule.lr_at(t, T)`` with ``T = trainer.estimated_stepping_batches``
(the tests check it at every step).

:class:`ScheduleFreeCallback` switches Schedule-Free's parameters to the train point y before
training batches and to the average x before validation and at the end of fitting (with
BatchNorm statistics recomputed at x over up to 50 training batches); a no-op for other
optimizers. :class:`PruningCallback` reports the monitored validation metric after every
validation epoch (step = epoch, 1-based) and prunes only at epochs ⌈E/2⌉ … E − 1.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import optuna
import torch

from lrtune.core.schedules import Schedule
from lrtune.integrations.glue import IntegrationError, build_optimizer, recompute_batchnorm_over, report_epoch
from lrtune.training.schedule_free import BN_BATCHES, is_schedule_free, to_train_point

__all__ = ["PruningCallback", "ScheduleFreeCallback", "configure_optimizers", "scheduler_config"]


def scheduler_config(schedule: Schedule, optimizer: torch.optim.Optimizer, total_steps: int) -> dict[str, Any]:
    """What ``configure_optimizers`` returns for ``optimizer`` (its groups' LRs = the peak LR)
    driven by ``schedule`` over ``total_steps`` optimizer steps, stepped after every one."""
    return {
        "optimizer": optimizer,
        "lr_scheduler": {
            "scheduler": schedule.build(optimizer, total_steps=int(total_steps)),
            "interval": "step",  # Lightning's default, "epoch", would advance the curve E times, not T
            "frequency": 1,
            "name": f"lrtune-{schedule.family}",
        },
    }


def configure_optimizers(
    module: pl.LightningModule,
    schedule: Schedule,
    *,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    total_steps: int | None = None,
) -> dict[str, Any]:
    """The optimizer (:func:`lrtune.integrations.glue.build_optimizer` over ``module.parameters()``)
    and the schedule over ``total_steps`` (default: ``module.trainer.estimated_stepping_batches``,
    the optimizer steps of the whole fit), for ``LightningModule.configure_optimizers`` to return."""
    if total_steps is None:
        estimated = module.trainer.estimated_stepping_batches
        if not isinstance(estimated, int) and not float(estimated).is_integer():
            raise IntegrationError("the trainer cannot count its steps (max_epochs=-1?); pass total_steps=")
        total_steps = int(estimated)
    opt = build_optimizer(
        schedule, module.parameters(), optimizer=optimizer, momentum=momentum, weight_decay=weight_decay
    )
    return scheduler_config(schedule, opt, total_steps)


def _inputs(batch: Any) -> Any:
    return batch[0] if isinstance(batch, (list, tuple)) else batch


class ScheduleFreeCallback(pl.Callback):
    """Schedule-Free's switches: y (train point) before every training batch, x (the average)
    before validation, testing and when fitting ends, with BatchNorm recomputed at x over the first
    ``n_batches`` training batches. ``forward(module, batch)`` feeds one batch (default:
    ``module(batch[0])`` for a tuple/list batch, else ``module(batch)``). A no-op for optimizers
    that are not Schedule-Free."""

    def __init__(self, *, n_batches: int = BN_BATCHES, forward=None) -> None:
        self.n_batches = n_batches
        self.forward = forward or (lambda module, batch: module(_inputs(batch).to(module.device)))

    def _optimizer(self, trainer: pl.Trainer) -> torch.optim.Optimizer | None:
        optimizers = [o for o in trainer.optimizers if is_schedule_free(o)]
        return optimizers[0] if optimizers else None

    def to_eval_point(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        """Parameters ← x and BatchNorm recomputed there (idempotent)."""
        opt = self._optimizer(trainer)
        if opt is None or not opt.param_groups[0]["train_mode"]:
            return
        opt.eval()
        loader = trainer.train_dataloader
        if loader is not None:
            recompute_batchnorm_over(module, iter(loader), self.forward, n_batches=self.n_batches)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx) -> None:
        opt = self._optimizer(trainer)
        if opt is not None:
            to_train_point(opt)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.to_eval_point(trainer, pl_module)

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.to_eval_point(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.to_eval_point(trainer, pl_module)  # the fitted model is x: evaluate, save or export it


class PruningCallback(pl.Callback):
    """Report ``trainer.callback_metrics[monitor]`` to ``trial`` after every validation epoch
    (step = epoch, 1-based; not during the sanity check) and raise ``optuna.TrialPruned`` when the
    study's pruner says so — asked only at epochs ⌈E/2⌉ … E − 1, ``E = trainer.max_epochs``
    (or ``epochs``). Log the metric with ``self.log(monitor, value)`` in ``validation_step``.
    ``reported`` lists the ``(epoch, score)`` pairs reported."""

    def __init__(self, trial: optuna.trial.BaseTrial, monitor: str = "val_accuracy", *, epochs: int | None = None):
        self.trial, self.monitor, self.epochs = trial, monitor, epochs
        self.reported: list[tuple[int, float]] = []

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        if self.monitor not in trainer.callback_metrics:
            found = ", ".join(sorted(trainer.callback_metrics)) or "none"
            raise IntegrationError(f"no metric {self.monitor!r} was logged in validation; logged: {found}")
        epochs = self.epochs if self.epochs is not None else trainer.max_epochs
        if epochs is None or epochs < 1:
            raise IntegrationError("PruningCallback needs max_epochs on the Trainer (or epochs=)")
        score = float(trainer.callback_metrics[self.monitor])
        epoch = trainer.current_epoch + 1
        self.reported.append((epoch, score))
        report_epoch(self.trial, score, epoch, epochs)
