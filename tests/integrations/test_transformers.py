"""lrtune.integrations.transformers with the real ``Trainer`` loop: the LR at every optimizer step
is ``schedule.lr_at(step, T)`` (T = the Trainer's own step count); pruning only at epochs ⌈E/2⌉..E−1;
Schedule-Free ends at its average."""

from __future__ import annotations

import optuna
import pytest
import torch
from pruning_bounds import assert_pruned_at_the_first_allowed_epoch
from transformers import TrainerCallback
from transformers_net import accuracy, digit_datasets, fast_args, tiny_bert

import lrtune
from lrtune.integrations.glue import IntegrationError
from lrtune.integrations.transformers import PruningCallback, ScheduleTrainer

pytestmark = pytest.mark.slow  # real training loops: seconds each
optuna.logging.set_verbosity(optuna.logging.WARNING)


class RecordLR(TrainerCallback):
    """(global step, LR of param group 0) as the optimizer is about to take each step."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, float]] = []

    def on_step_begin(self, args, state, control, optimizer=None, **kwargs) -> None:
        self.seen.append((state.global_step, optimizer.param_groups[0]["lr"]))


SCHEDULES = [
    lrtune.Schedule("cosine", peak_lr=3e-3, warmup_frac=0.2),
    lrtune.Schedule("rex", peak_lr=3e-3),
    lrtune.Schedule("onecycle", peak_lr=5e-3),
    lrtune.Schedule("schedulefree", peak_lr=5e-3, warmup_frac=0.25),
]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: s.family)
def test_trainer_applies_the_schedule_at_every_optimizer_step(tmp_path, schedule):
    train, val = digit_datasets(128, 64)  # batch 32: 4 steps per epoch
    record = RecordLR()
    trainer = ScheduleTrainer(
        model=tiny_bert(),
        args=fast_args(tmp_path, 3),
        schedule=schedule,
        train_dataset=train,
        eval_dataset=val,
        compute_metrics=accuracy,
        callbacks=[record],
    )
    trainer.train()
    total = 3 * 4
    assert [step for step, _ in record.seen] == list(range(total))
    for step, lr in record.seen:
        assert abs(lr - schedule.lr_at(step, total)) <= 1e-9, (step, lr, schedule.lr_at(step, total))
    curve_values = {round(float(v), 12) for v in schedule.curve(total)}
    assert {round(lr, 12) for _, lr in record.seen} == curve_values  # every value, within epochs too
    if schedule.schedule_free:
        assert trainer.optimizer.param_groups[0]["train_mode"] is False  # the trained model is x


def test_trainer_refuses_a_second_warmup(tmp_path):
    args = fast_args(tmp_path, 1)
    args.warmup_steps = 3
    train, val = digit_datasets(32, 32)
    with pytest.raises(IntegrationError, match="own warmup"):
        ScheduleTrainer(model=tiny_bert(), args=args, schedule=SCHEDULES[0], train_dataset=train, eval_dataset=val)


@pytest.mark.parametrize("epochs", [1, 2, 3])
def test_trainer_pruning_only_from_half_the_epochs_and_never_at_the_last(tmp_path, epochs):
    """A pruner that prunes whenever asked: pruned exactly at ⌈E/2⌉ when that is before E, else complete."""
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=2.0))

    def objective(trial):
        train, val = digit_datasets(64, 32)
        trainer = ScheduleTrainer(
            model=tiny_bert(),
            args=fast_args(tmp_path, epochs),
            schedule=lrtune.Schedule("constant", peak_lr=1e-3),
            train_dataset=train,
            eval_dataset=val,
            compute_metrics=accuracy,
            callbacks=[PruningCallback(trial, "eval_accuracy")],
        )
        trainer.train()
        return trainer.evaluate()["eval_accuracy"]

    study.optimize(objective, n_trials=1)
    assert_pruned_at_the_first_allowed_epoch(study.trials[0], epochs)


class BatchNormNet(torch.nn.Module):
    """Any ``nn.Module`` the Trainer accepts (a dict with the loss), with a BatchNorm layer."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(17, 4)
        self.linear = torch.nn.Linear(64 * 4, 16)
        self.norm = torch.nn.BatchNorm1d(16)
        self.head = torch.nn.Linear(16, 10)

    def hidden(self, input_ids):
        return self.linear(self.embed(input_ids).flatten(1))

    def forward(self, input_ids, labels=None):
        logits = self.head(torch.relu(self.norm(self.hidden(input_ids))))
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = torch.nn.functional.cross_entropy(logits, labels)
        return out


def test_schedule_free_trainer_evaluates_at_the_average_with_batchnorm_recomputed(tmp_path):
    torch.manual_seed(0)
    train, val = digit_datasets(64, 32)  # batch 16: 4 equal batches, so their mean is the data's
    model = BatchNormNet()
    args = fast_args(tmp_path, 2, batch_size=16, optim="sgd")
    trainer = ScheduleTrainer(
        model=model,
        args=args,
        schedule=lrtune.Schedule("schedulefree", peak_lr=0.05, warmup_frac=0.1),
        train_dataset=train,
        eval_dataset=val,
        compute_metrics=accuracy,
    )
    trainer.train()
    assert type(trainer.optimizer.optimizer).__name__ == "SGDScheduleFree"  # args.optim "sgd"
    assert trainer.optimizer.param_groups[0]["train_mode"] is False  # the trained model is x
    with torch.no_grad():
        expected = model.hidden(train.x).mean(0)
    assert model.norm.num_batches_tracked.item() == 4
    torch.testing.assert_close(model.norm.running_mean, expected, rtol=1e-4, atol=1e-5)
