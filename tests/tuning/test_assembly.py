"""lrtune.tuning.assembly: one stored task configuration → data, model, metric, training settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from lrtune.training.data import load_dataset
from lrtune.training.metrics import LOSS
from lrtune.training.models import build_model
from lrtune.training.user_task import TaskError
from lrtune.tuning.assembly import assemble, assemble_for_run
from lrtune.tuning.config import RunConfig, TaskConfig

ROOT = Path(__file__).resolve().parents[2]


def test_a_built_in_task_is_its_dataset_model_and_settings() -> None:
    task = TaskConfig(dataset="digits", epochs=3, batch_size=100, optimizer="adamw", weight_decay=0.01, seed=2)
    assembled = assemble(task)
    reference = load_dataset("digits", val_fraction=0.1, seed=2)
    assert torch.equal(assembled.data.x_train, reference.x_train)
    model = assembled.build_model(7)
    expected = build_model("mlp", input_shape=reference.input_shape, n_classes=10, seed=7)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), expected.state_dict().values()))
    config = assembled.train_config(5)
    assert (config.epochs, config.batch_size, config.optimizer, config.weight_decay, config.seed) == (
        3,
        100,
        "adamw",
        0.01,
        5,
    )
    assert assembled.train_config(5, epochs=9).epochs == 9  # a horizon run
    n = len(reference.y_train)
    assert assembled.steps_per_epoch == -(-n // 100) and assembled.total_steps() == 3 * -(-n // 100)


def test_the_metric_comes_from_the_configuration() -> None:
    assert assemble(TaskConfig(dataset="digits", metric="loss")).metric == LOSS


def test_given_data_is_used_as_it_is() -> None:
    data = load_dataset("digits", seed=5)
    assert assemble(TaskConfig(dataset="digits"), data=data).data is data


def test_a_user_task_is_completed_at_start_up_and_refused_when_its_data_changed(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    task = TaskConfig(user_task="examples.my_task:make_task_by_loss", epochs=2)
    assembled, run = assemble_for_run(task, RunConfig(fuse=1), "cpu")
    config = assembled.config
    assert (config.model, config.metric, config.direction) == ("Sequential", "loss", "minimize")
    assert config.task_fingerprint and run.fuse == 1
    again = assemble(config)  # confirmations and the pruning account: the stored configuration
    assert again.metric.name == "loss" and again.data is assembled.data
    assert isinstance(again.build_model(0), torch.nn.Module)
    with pytest.raises(TaskError, match="its data changed"):
        assemble(dataclasses.replace(config, task_fingerprint="0" * 16))
