"""The objective: reports every epoch, prunes on the pruner's word, divergence is an outcome."""

from __future__ import annotations

import math

import optuna
import pytest

from lrtune.core.schedules import Schedule
from lrtune.training.data import load_dataset
from lrtune.tuning.config import TaskConfig
from lrtune.tuning.objective import Objective, downsample, make_pruner, make_sampler, search_trial_seed

optuna.logging.set_verbosity(optuna.logging.WARNING)


class AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study, trial) -> bool:
        return True


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0)


def test_complete_trial_reports_every_epoch_and_records_attrs(digits, tmp_path):
    task = TaskConfig(dataset="digits", epochs=3, batch_size=64, lr_range=(0.03, 0.1))
    study = optuna.create_study(
        storage=f"sqlite:///{tmp_path / 'o.db'}", direction="maximize", sampler=make_sampler("random", seed=0)
    )
    study.optimize(Objective(task, "cosine", digits), n_trials=2)
    for trial in study.trials:
        assert trial.state == optuna.trial.TrialState.COMPLETE
        assert sorted(trial.intermediate_values) == [1, 2, 3]
        assert trial.value == trial.intermediate_values[3] == trial.user_attrs["val_accuracy"]
        attrs = trial.user_attrs
        assert attrs["family"] == "cosine" and attrs["epochs_run"] == 3 and attrs["diverged"] is False
        assert 0 <= attrs["test_accuracy"] <= 1 and attrs["seconds"] > 0
        assert attrs["seed"] == search_trial_seed(0, trial.number)
        # the stored LR curve is the schedule the trial trained with
        schedule = Schedule.from_params(trial.params, family="cosine")
        total = 3 * attrs["steps_per_epoch"]
        assert attrs["lr_curve_steps"][0] == 0 and attrs["lr_curve_steps"][-1] == total - 1
        for step, lr in zip(attrs["lr_curve_steps"], attrs["lr_curve"]):
            assert lr == pytest.approx(schedule.lr_at(step, total), rel=1e-12)
    assert max(t.value for t in study.trials) > 0.85


def test_objective_prunes_when_the_pruner_says_so_but_not_before_half_the_epochs(digits):
    task = TaskConfig(dataset="digits", epochs=5, batch_size=64)
    study = optuna.create_study(direction="maximize", pruner=AlwaysPrune())
    study.optimize(Objective(task, "step", digits), n_trials=2)
    for trial in study.trials:
        assert trial.state == optuna.trial.TrialState.PRUNED
        assert list(trial.intermediate_values) == [1, 2, 3]  # ⌈5/2⌉ = 3 is the first prunable epoch
        assert trial.user_attrs["epochs_run"] == 3  # pruning saved the other two epochs


class PruneOnlyAtTheEnd(optuna.pruners.BasePruner):
    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def prune(self, study, trial) -> bool:
        return trial.last_step == self.epochs


def test_a_trial_that_ran_all_its_epochs_is_complete_whatever_the_pruner_says(digits):
    task = TaskConfig(dataset="digits", epochs=3, batch_size=64)
    study = optuna.create_study(direction="maximize", pruner=PruneOnlyAtTheEnd(3))
    study.optimize(Objective(task, "cosine", digits), n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.COMPLETE and trial.user_attrs["epochs_run"] == 3
    assert trial.value == trial.user_attrs["val_accuracy"]


def test_absurd_lr_is_a_finite_diverged_trial(digits):
    task = TaskConfig(dataset="digits", epochs=3, batch_size=64, lr_range=(1e3, 1e3))
    study = optuna.create_study(direction="maximize")
    study.optimize(Objective(task, "constant", digits), n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert trial.user_attrs["diverged"] is True
    assert math.isfinite(trial.value) and trial.value < 0.5
    assert all(math.isfinite(v) for v in trial.user_attrs["lr_curve"])


def test_same_seed_same_trial(digits):
    task = TaskConfig(dataset="digits", epochs=2, batch_size=64)
    values = []
    for _ in range(2):
        study = optuna.create_study(direction="maximize", sampler=make_sampler("random", seed=3))
        study.optimize(Objective(task, "cosine", digits), n_trials=2)
        values.append([t.value for t in study.trials])
    assert values[0] == values[1]


def test_pruners_wait_for_half_the_epochs():
    assert make_pruner("median", epochs=20)._n_warmup_steps == 10
    assert make_pruner("median", epochs=15)._n_warmup_steps == 8
    assert isinstance(make_pruner("none", epochs=5), optuna.pruners.NopPruner)
    with pytest.raises(ValueError, match="valid: median, hyperband, none"):
        make_pruner("sometimes", epochs=5)


def test_downsample_keeps_ends():
    steps, values = downsample(list(range(1000)), points=10)
    assert steps[0] == 0 and steps[-1] == 999 and len(steps) == 10 and values == [float(s) for s in steps]
    assert downsample([1.0, 2.0]) == ([0, 1], [1.0, 2.0])
