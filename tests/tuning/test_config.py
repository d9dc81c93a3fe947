"""lrtune.tuning.config: validated settings, the stored configuration, presets."""

from __future__ import annotations

from pathlib import Path

import pytest

from lrtune.tuning.config import ConfigError, RunConfig, TaskConfig, load_preset, split_values
from lrtune.tuning.storage import DEFAULT_STORAGE

PRESETS = sorted((Path(__file__).resolve().parents[2] / "studies").glob("*.toml"))


def test_defaults_are_the_default_task() -> None:
    task, run = TaskConfig(), RunConfig()
    assert (task.dataset, task.model, task.epochs, task.optimizer) == ("mnist1d", "cnn1d", 15, "sgd")
    assert task.task == "mnist1d/cnn1d/15ep/sgd"
    assert task.lr_range == (1e-3, 1.0) and TaskConfig(optimizer="adamw").lr_range == (1e-5, 1e-2)
    assert run.storage == DEFAULT_STORAGE and run.families == ("cosine",)


def test_stored_configuration_round_trips_and_omits_the_defaults_it_always_had() -> None:
    task = TaskConfig(dataset="digits", epochs=6, lr_range=(0.01, 0.5))
    stored = task.to_dict()
    assert "metric" not in stored and "direction" not in stored and "user_task" not in stored
    assert stored["lr_range"] == [0.01, 0.5]  # JSON-friendly, as storage gives it back
    assert TaskConfig.from_dict(stored) == task
    assert TaskConfig.from_dict({**stored, "unknown_future_key": 1}) == task


def test_a_metric_other_than_accuracy_is_stored_and_labels_the_task() -> None:
    loss = TaskConfig(dataset="digits", metric="loss")
    assert loss.direction == "minimize"  # the metric's own
    assert loss.to_dict()["metric"] == "loss" and loss.to_dict()["direction"] == "minimize"
    assert loss.task.endswith("/loss")
    against = TaskConfig(dataset="digits", metric="accuracy", direction="minimize")
    assert against.task.endswith("/accuracy-min")
    assert TaskConfig.from_dict(loss.to_dict()) == loss


def test_schedulefree_searches_a_scaled_lr_range() -> None:
    task = TaskConfig(lr_range=(0.001, 0.1))
    assert task.lr_range_for("cosine") == (0.001, 0.1)
    low, high = task.lr_range_for("schedulefree")
    assert (low, high) == pytest.approx((0.01, 1.0))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dataset": "mnist2d"}, "unknown dataset 'mnist2d'; valid:"),
        ({"epochs": 0}, "epochs must be an integer ≥ 1"),
        ({"optimizer": "lamb"}, "optimizer"),
        ({"metric": "f1"}, "unknown metric 'f1'; valid:"),
        ({"metric": "loss", "direction": "sideways"}, "direction"),
    ],
)
def test_task_config_refuses_bad_values_in_one_line(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        TaskConfig(**kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"families": "cosine,nope"}, "nope"),
        ({"trials": 0}, "trials must be an integer ≥ 1"),
        ({"timeout": -1}, "timeout must be a number of seconds > 0"),
        ({"device": "tpu"}, "device"),
        ({"fuse": 0}, "fuse must be an integer ≥ 1"),
        ({"storage": ""}, "storage must be an Optuna storage URL"),
    ],
)
def test_run_config_refuses_bad_values(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RunConfig(**kwargs)


def test_one_study_per_family() -> None:
    task = TaskConfig(dataset="digits")
    assert RunConfig().study_name_for(task, "step") == "digits-mlp-step"
    assert RunConfig(study_name="mine").study_name_for(task, "step") == "mine-step"


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_shipped_presets_load_into_valid_configs(preset: Path) -> None:
    task_kwargs, run_kwargs = split_values(load_preset(preset))
    task, run = TaskConfig(**task_kwargs), RunConfig(**run_kwargs)
    assert task.task.startswith(f"{task.dataset}/") and run.families


def test_preset_errors_name_the_file_and_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = 3\nlearning_rate = 0.1\n")
    with pytest.raises(ConfigError, match="unknown key 'learning_rate'; valid keys:"):
        load_preset(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_preset(tmp_path / "missing.toml")


def test_a_user_task_brings_its_own_data_and_model() -> None:
    task, run = split_values({"task": "examples.my_task:make_task", "family": ["cosine", "step"]})
    assert task == {"user_task": "examples.my_task:make_task"} and run["families"] == ["cosine", "step"]
    with pytest.raises(ConfigError, match="brings its own data and model; drop dataset"):
        split_values({"task": "examples.my_task:make_task", "dataset": "digits"})


# ------------------------------------------------------------------------------ options, once


def test_every_option_is_declared_once_and_the_cli_and_presets_derive_from_it() -> None:
    from lrtune.study import build_parser
    from lrtune.tuning.config import OPTIONS, PRESET_TYPES

    keys = [o.key for o in OPTIONS]
    assert len(keys) == len(set(keys))
    flags = {a.dest: a for a in build_parser()._actions}
    for o in OPTIONS:
        if o.flag is None:
            assert o.key not in flags
            continue
        action = flags[o.key]
        assert action.option_strings == [o.flag] and action.help == o.help and action.default is None
    assert set(PRESET_TYPES) == {o.key for o in OPTIONS if o.preset} | {"description"}
    stored = {o.field for o in OPTIONS if o.stored}
    assert stored == set(TaskConfig.__dataclass_fields__)
    assert {o.field for o in OPTIONS if not o.stored} == set(RunConfig.__dataclass_fields__)


def test_the_training_settings_are_defaulted_once() -> None:
    """TaskConfig's training settings are TrainConfig's defaults (batch 128: what the CLI always used)."""
    from lrtune.training.train import TrainConfig

    task, train = TaskConfig(), TrainConfig()
    for name in ("epochs", "batch_size", "optimizer", "weight_decay"):
        assert getattr(task, name) == getattr(train, name), name
    assert train.batch_size == 128
    assert TrainConfig.from_task(task, seed=0) == TrainConfig(seed=0)


def test_help_names_the_declared_defaults() -> None:
    from lrtune.tuning.config import OPTIONS

    helps = {o.key: o.help for o in OPTIONS}
    assert helps["batch_size"] == "training batch size (default 128)"
    assert helps["epochs"] == "epochs per trial (default 15)"
    assert "1e-05,0.01 for adamw" in helps["lr_range"]
