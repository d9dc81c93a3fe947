"""lrtune.training.train: the loop learns, stops, diverges gracefully and is reproducible."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from torch import nn

from lrtune.core.schedules import Schedule
from lrtune.training.data import Dataset, load_dataset
from lrtune.training.models import build_model, default_model
from lrtune.training.train import (
    EpochResult,
    TrainConfig,
    TrainResult,
    build_optimizer,
    evaluate,
    train,
)


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits", seed=0)


def _train_digits(
    data: Dataset,
    schedule: Schedule | None = None,
    *,
    model: str = "mlp",
    seed: int = 0,
    on_epoch_end=None,
    **config,
) -> TrainResult:
    net = build_model(model, input_shape=data.input_shape, n_classes=data.n_classes, seed=seed)
    schedule = schedule or Schedule("cosine", peak_lr=0.05)
    config = TrainConfig(**{"epochs": 3, "batch_size": 64, "seed": seed, **config})
    return train(net, data, schedule, config=config, on_epoch_end=on_epoch_end)


class SpySchedule:
    """Wraps a real schedule and records the epoch-end metrics the loop passes on."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self.peak_lr = schedule.peak_lr
        self.metrics: list[float] = []
        self.total_steps: int | None = None

    def build(self, optimizer: torch.optim.Optimizer, total_steps: int):
        self.total_steps = total_steps
        scheduler = self.schedule.build(optimizer, total_steps)
        inner_epoch_end = scheduler.epoch_end

        def epoch_end(metric: float) -> None:
            self.metrics.append(metric)
            inner_epoch_end(metric)

        scheduler.epoch_end = epoch_end
        return scheduler


# ---------------------------------------------------------------------------------------------
# learning


def test_mlp_learns_digits_in_three_epochs(digits: Dataset) -> None:
    result = _train_digits(digits)
    assert result.val_accuracy > 0.85
    assert result.test_accuracy > 0.85
    assert len(result.val_accuracies) == result.epochs_run == 3
    assert result.val_accuracy == result.val_accuracies[-1]
    assert not result.diverged and not result.stopped_early
    assert result.train_losses[-1] < result.train_losses[0]
    assert len(result.val_losses) == 3 and all(math.isfinite(v) for v in result.val_losses)
    assert result.seconds > 0


def test_adamw_learns_digits(digits: Dataset) -> None:
    result = _train_digits(digits, Schedule("cosine", peak_lr=3e-3), optimizer="adamw", weight_decay=0.01)
    assert result.val_accuracy > 0.85


def test_the_lr_follows_the_schedule_at_every_step(digits: Dataset) -> None:
    schedule = Schedule("cosine", peak_lr=0.1, warmup_frac=0.1, params={"final_ratio": 0.01})
    spy = SpySchedule(schedule)
    net = build_model("mlp", input_shape=digits.input_shape, n_classes=10, seed=0)
    result = train(net, digits, spy, config=TrainConfig(epochs=4, batch_size=100))
    total = 4 * math.ceil(digits.sizes["train"] / 100)
    assert result.steps_per_epoch == total // 4
    assert spy.total_steps == total == len(result.lr_trace)
    np.testing.assert_allclose(result.lr_trace, schedule.curve(total), rtol=1e-12)
    assert spy.metrics == result.val_accuracies  # epoch_end gets the validation accuracy


def test_plateau_reacts_to_the_validation_accuracy(digits: Dataset) -> None:
    schedule = Schedule("plateau", peak_lr=0.05, params={"patience": 0, "factor": 0.5, "threshold": 0.5})
    epochs: list[EpochResult] = []
    result = _train_digits(digits, schedule, epochs=3, on_epoch_end=epochs.append)
    # with a 50 % improvement threshold every epoch after the first is "bad", so the LR halves
    # at the end of epochs 2 and 3; EpochResult.lr is the LR the epoch trained with
    assert [e.lr for e in epochs] == pytest.approx([0.05, 0.05, 0.025])
    assert result.lr_trace[-1] == pytest.approx(0.025)


def test_epoch_results_reach_the_callback(digits: Dataset) -> None:
    seen: list[EpochResult] = []
    result = _train_digits(digits, on_epoch_end=seen.append)
    assert [e.epoch for e in seen] == [1, 2, 3]
    assert [e.val_accuracy for e in seen] == result.val_accuracies
    assert [e.train_loss for e in seen] == result.train_losses
    assert [e.lr for e in seen] == [result.lr_trace[(i + 1) * result.steps_per_epoch - 1] for i in range(3)]
    assert all(e.seconds > 0 and math.isfinite(e.val_loss) for e in seen)


# ---------------------------------------------------------------------------------------------
# stopping


def test_callback_returning_true_stops_early(digits: Dataset) -> None:
    result = _train_digits(digits, epochs=5, on_epoch_end=lambda e: e.epoch == 2)
    assert result.stopped_early and not result.diverged
    assert result.epochs_run == 2 and len(result.val_accuracies) == 2
    assert len(result.lr_trace) == 2 * result.steps_per_epoch
    assert math.isfinite(result.test_accuracy)


def test_callback_exceptions_propagate(digits: Dataset) -> None:
    class Pruned(Exception):
        pass

    def prune(epoch: EpochResult) -> None:
        if epoch.epoch == 2:
            raise Pruned

    with pytest.raises(Pruned):
        _train_digits(digits, on_epoch_end=prune)


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_an_absurd_lr_diverges_without_an_exception(digits: Dataset, model: str) -> None:
    calls: list[EpochResult] = []
    result = _train_digits(digits, Schedule("constant", peak_lr=1e3), model=model, on_epoch_end=calls.append)
    assert result.diverged and not result.stopped_early
    assert math.isfinite(result.val_accuracy) and 0 <= result.val_accuracy <= 1
    assert math.isfinite(result.test_accuracy)
    assert result.val_accuracies == [] and calls == []  # no healthy epoch to report
    assert result.epochs_run == 1
    assert 0 < len(result.lr_trace) < result.steps_per_epoch


class NaNWhenEvaluated(nn.Module):
    """Trains normally but outputs NaN in eval mode: a non-finite validation loss."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(x.flatten(1))
        return out if self.training else out * math.nan


def test_a_non_finite_validation_loss_is_divergence(digits: Dataset) -> None:
    config = TrainConfig(epochs=3, batch_size=64)
    result = train(NaNWhenEvaluated(), digits, Schedule("constant", peak_lr=0.01), config=config)
    assert result.diverged
    assert result.epochs_run == 1 and result.val_accuracies == []
    assert math.isfinite(result.val_accuracy) and math.isfinite(result.test_accuracy)


# ---------------------------------------------------------------------------------------------
# reproducibility


def test_same_seed_same_run(digits: Dataset) -> None:
    a, b = _train_digits(digits, seed=3), _train_digits(digits, seed=3)
    assert a.val_accuracies == b.val_accuracies
    assert a.train_losses == b.train_losses
    assert a.test_accuracy == b.test_accuracy
    assert a.lr_trace == b.lr_trace


def test_other_seed_other_run(digits: Dataset) -> None:
    a, b = _train_digits(digits, seed=3), _train_digits(digits, seed=4)
    assert a.train_losses != b.train_losses


def test_the_batch_order_is_seeded_by_the_config(digits: Dataset) -> None:
    """Same initial weights, different config seeds: only the batch order differs."""
    results = []
    for seed in (0, 0, 1):
        net = build_model("mlp", input_shape=digits.input_shape, n_classes=10, seed=0)
        config = TrainConfig(epochs=1, batch_size=64, seed=seed)
        results.append(train(net, digits, Schedule("constant", peak_lr=0.05), config=config))
    assert results[0].train_losses == results[1].train_losses
    assert results[0].train_losses != results[2].train_losses


# ---------------------------------------------------------------------------------------------
# evaluate and config


def test_evaluate_restores_the_mode_and_counts_correctly(digits: Dataset) -> None:
    net = build_model("cnn", input_shape=digits.input_shape, n_classes=10, seed=0)
    net.train()
    accuracy, loss = evaluate(net, digits.x_val, digits.y_val, batch_size=50)
    assert net.training
    net.eval()
    with torch.no_grad():
        logits = net(digits.x_val)
    expected = (logits.argmax(1) == digits.y_val).float().mean().item()
    assert accuracy == pytest.approx(expected)
    assert loss == pytest.approx(nn.functional.cross_entropy(logits, digits.y_val).item(), rel=1e-5)
    with pytest.raises(ValueError, match="empty"):
        evaluate(net, digits.x_val[:0], digits.y_val[:0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs must be a positive int"),
        ({"batch_size": 1.5}, "batch_size must be a positive int"),
        ({"optimizer": "lion"}, "optimizer must be one of sgd, adamw, but got 'lion'"),
        ({"weight_decay": -1.0}, "weight_decay must be >= 0"),
        ({"weight_decay": math.nan}, "weight_decay must be >= 0"),
        ({"momentum": 1.0}, r"momentum must be in \[0, 1\)"),
    ],
)
def test_bad_config(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_build_optimizer() -> None:
    net = nn.Linear(3, 2)
    sgd = build_optimizer(net, lr=0.2, config=TrainConfig(weight_decay=1e-4))
    assert isinstance(sgd, torch.optim.SGD)
    group = sgd.param_groups[0]
    assert (group["lr"], group["momentum"], group["nesterov"], group["weight_decay"]) == (0.2, 0.9, True, 1e-4)
    plain = build_optimizer(net, lr=0.2, config=TrainConfig(momentum=0.0))
    assert plain.param_groups[0]["nesterov"] is False
    adamw = build_optimizer(net, lr=1e-3, config=TrainConfig(optimizer="adamw", weight_decay=0.05))
    assert isinstance(adamw, torch.optim.AdamW)
    assert adamw.param_groups[0]["weight_decay"] == 0.05


def test_sgd_without_momentum_learns(digits: Dataset) -> None:
    result = _train_digits(digits, Schedule("cosine", peak_lr=0.2), momentum=0.0)
    assert result.val_accuracy > 0.8


# ---------------------------------------------------------------------------------------------
# the default task


@pytest.fixture
def one_thread():
    """One torch thread, as each lrtune worker process runs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_mnist1d_default_model_reaches_90_percent(one_thread) -> None:
    """The default mnist1d task: cnn1d, SGD + Nesterov, cosine to 0, 15 epochs, batch 64."""
    data = load_dataset("mnist1d", seed=0)
    net = build_model(default_model("mnist1d"), input_shape=data.input_shape, n_classes=data.n_classes, seed=0)
    started = time.perf_counter()
    result = train(net, data, Schedule("cosine", peak_lr=0.05), config=TrainConfig(seed=0, batch_size=64))
    seconds = time.perf_counter() - started
    print(
        f"mnist1d cnn1d: val {result.val_accuracy:.3f}, test {result.test_accuracy:.3f}, "
        f"{result.epochs_run} epochs in {seconds:.1f} s"
    )
    assert result.epochs_run == 15 and not result.diverged
    assert result.val_accuracy >= 0.90
    assert result.test_accuracy >= 0.90
    assert seconds < 60
