"""lrtune.integrations.lightning with the real Lightning loop: the LR Lightning applies at every
optimizer step is ``schedule.lr_at(step, T)``; pruning only at epochs ⌈E/2⌉..E−1; Schedule-Free
ends at its average with BatchNorm recomputed."""

from __future__ import annotations

import math
import warnings

import lightning.pytorch as pl
import optuna
import pytest
import torch
from lightning_net import DigitsNet, digits_loaders, fast_trainer
from pruning_bounds import assert_pruned_at_the_first_allowed_epoch

import lrtune
from lrtune.integrations.lightning import PruningCallback, ScheduleFreeCallback, scheduler_config

pytestmark = pytest.mark.slow  # real training loops: seconds each
optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", message=".*does not have many workers.*")
warnings.filterwarnings("ignore", message=".*number of training batches.*")


class RecordLR(pl.Callback):
    """(global step, LR of param group 0) as the optimizer is about to take each step."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, float]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.seen.append((trainer.global_step, trainer.optimizers[0].param_groups[0]["lr"]))


SCHEDULES = [
    lrtune.Schedule("cosine", peak_lr=0.3, warmup_frac=0.2),
    lrtune.Schedule("onecycle", peak_lr=0.5),
    lrtune.Schedule("step", peak_lr=0.2, params={"n_drops": 3, "drop_start": 0.3, "gamma": 0.5}),
    lrtune.Schedule("schedulefree", peak_lr=0.5, warmup_frac=0.25),
]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: s.family)
def test_lightning_applies_the_schedule_at_every_optimizer_step(schedule):
    torch.manual_seed(0)
    train, val = digits_loaders()  # 256 examples, batch 32: 8 steps per epoch
    record = RecordLR()
    trainer = fast_trainer(3, [record, ScheduleFreeCallback()])
    trainer.fit(DigitsNet(schedule), train, val)
    total = 3 * 8
    assert [step for step, _ in record.seen] == list(range(total))
    for step, lr in record.seen:
        assert abs(lr - schedule.lr_at(step, total)) <= 1e-9, (step, lr, schedule.lr_at(step, total))
    curve_values = {round(float(v), 12) for v in schedule.curve(total)}
    assert {round(lr, 12) for _, lr in record.seen} == curve_values  # every value, within epochs too


def test_scheduler_config_steps_per_optimizer_step():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    config = scheduler_config(lrtune.Schedule("cosine", peak_lr=0.1), optimizer, 10)
    assert config["lr_scheduler"]["interval"] == "step" and config["lr_scheduler"]["frequency"] == 1


@pytest.mark.parametrize("epochs", [1, 2, 3, 4])
def test_lightning_pruning_only_from_half_the_epochs_and_never_at_the_last(epochs):
    """A pruner that prunes whenever asked (ThresholdPruner, lower=2 > any accuracy): the trial is
    pruned exactly at epoch ⌈E/2⌉ when that is before the last epoch, else it completes."""
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=2.0))
    callbacks: list[PruningCallback] = []

    def objective(trial):
        train, val = digits_loaders(n_train=64, n_val=64)
        callback = PruningCallback(trial, "val_accuracy")
        callbacks.append(callback)
        trainer = fast_trainer(epochs, [callback])
        trainer.fit(DigitsNet(lrtune.Schedule("constant", peak_lr=0.1)), train, val)
        return float(trainer.callback_metrics["val_accuracy"])

    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert_pruned_at_the_first_allowed_epoch(trial, epochs)
    assert [e for e, _ in callbacks[0].reported] == sorted(trial.intermediate_values)


def test_lrtune_pruner_never_prunes_the_final_epoch_in_lightning():
    """lrtune.pruner's median rule in a real study: no PRUNED trial stopped before ⌈E/2⌉ or at E."""
    epochs = 4
    study = optuna.create_study(direction="maximize", pruner=lrtune.pruner(epochs))

    def objective(trial):
        train, val = digits_loaders(n_train=64, n_val=64)
        lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
        trainer = fast_trainer(epochs, [PruningCallback(trial, "val_accuracy")])
        trainer.fit(DigitsNet(lrtune.Schedule("cosine", peak_lr=lr)), train, val)
        return float(trainer.callback_metrics["val_accuracy"])

    study.optimize(objective, n_trials=10)
    for trial in study.trials:
        ran = max(trial.intermediate_values)
        if trial.state == optuna.trial.TrialState.PRUNED:
            assert math.ceil(epochs / 2) <= ran <= epochs - 1
        else:
            assert ran == epochs


def test_schedule_free_fit_ends_at_the_average_with_batchnorm_recomputed():
    torch.manual_seed(0)
    train, val = digits_loaders()
    module = DigitsNet(lrtune.Schedule("schedulefree", peak_lr=0.5, warmup_frac=0.1))
    trainer = fast_trainer(2, [ScheduleFreeCallback()])
    trainer.fit(module, train, val)
    optimizer = trainer.optimizers[0]
    assert optimizer.param_groups[0]["train_mode"] is False  # parameters hold x
    norm = module.net[1]
    expected = torch.cat([module.net[0](x) for x, _ in train]).detach()
    assert norm.num_batches_tracked.item() == len(train)  # recomputed over every (≤ 50) training batch
    torch.testing.assert_close(norm.running_mean, expected.mean(0), rtol=1e-5, atol=1e-6)
