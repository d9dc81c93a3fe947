"""A task's metric and direction: lrtune.training.metrics, a user task minimising its loss end to end
(pruning, confirmation, analysis), resume refusal and bad input."""

from __future__ import annotations

import math
import sys
import textwrap

import optuna
import pytest
import torch

from lrtune import report, study
from lrtune.study import open_family_study
from lrtune.training import user_task
from lrtune.training.metrics import ACCURACY, LOSS, MetricError, resolve_metric
from lrtune.tuning.assembly import assemble_for_run
from lrtune.tuning.config import RunConfig, TaskConfig
from lrtune.tuning.confirmations import run_confirmations
from lrtune.tuning.objective import Objective, run_fused_trials

optuna.logging.set_verbosity(optuna.logging.WARNING)

TASKS = """
import os
import torch
from torch import nn
import lrtune

def _xy(n, seed, features=12, classes=3):
    centers = torch.randn(classes, features, generator=torch.Generator().manual_seed(0)) * 2
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    return centers[y] + torch.randn(n, features, generator=g), y

def mlp(seed):
    return nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 3))

def _task(**kw):
    return lrtune.Task(train=_xy(240, 1), val=_xy(80, 2), test=_xy(80, 3), make_model=mlp, n_classes=3, **kw)

def by_loss():
    return _task(metric="loss")

def env_metric():
    return _task(metric=os.environ.get("TASK_METRIC", "accuracy"))

def brier(logits, y):
    p = logits.softmax(-1)
    return ((p - nn.functional.one_hot(y, p.shape[-1])) ** 2).sum(-1)

def by_brier():
    return _task(metric=brier, direction="minimize")

def unknown_metric():
    return _task(metric="auc")

def bad_direction():
    return _task(metric="loss", direction="down")

def no_direction():
    return _task(metric=brier)

def mean_not_per_example():
    return _task(metric=lambda logits, y: brier(logits, y).mean(), direction="minimize")

def failing_metric():
    return _task(metric=lambda logits, y: logits[:, 7], direction="maximize")
"""


@pytest.fixture()
def tasks_dir(tmp_path, monkeypatch):
    (tmp_path / "metrictasks.py").write_text(textwrap.dedent(TASKS))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    sys.modules.pop("metrictasks", None)
    user_task._CACHE.clear()
    yield tmp_path
    sys.modules.pop("metrictasks", None)
    user_task._CACHE.clear()


def _run(tmp_path, *args: str) -> int:
    url = f"sqlite:///{tmp_path / 'db' / 'lrtune.db'}"
    return study.main(["--storage", url, "--no-progress", "--threads", "1", "--no-artifacts", *args])


# ------------------------------------------------------------------------------------ metrics


def test_builtin_metrics_are_per_example_means_in_float64():
    logits = torch.tensor([[[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]], [[0.0, 2.0], [0.0, 1.0], [1.0, 0.0]]])
    y = torch.tensor([0, 1, 1])
    assert ACCURACY.sums(logits, y).tolist() == [2.0, 1.0]
    ce = torch.nn.functional.cross_entropy(logits[1], y, reduction="none").double().sum()
    assert LOSS.sums(logits, y)[1].item() == pytest.approx(ce.item(), rel=1e-12)
    assert LOSS.sums(logits, y).dtype == torch.float64
    assert (ACCURACY.sign, LOSS.sign) == (1.0, -1.0)
    assert resolve_metric("loss") is LOSS and resolve_metric("accuracy", "maximize") is ACCURACY
    assert resolve_metric("loss", "maximize").direction == "maximize"


@pytest.mark.parametrize(
    ("spec", "direction", "message"),
    [
        ("auc", None, "unknown metric 'auc'; valid: accuracy, loss"),
        ("loss", "down", "unknown direction 'down'; valid: maximize, minimize"),
        (lambda logits, y: y, None, "a metric callable needs its direction"),
        (3, None, "metric must be a name (accuracy, loss) or a callable"),
    ],
)
def test_resolve_metric_errors_are_one_line(spec, direction, message):
    with pytest.raises(MetricError) as info:
        resolve_metric(spec, direction)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_default_metric_keeps_stored_configurations_and_labels():
    default = TaskConfig(dataset="digits")
    assert "metric" not in default.to_dict() and "direction" not in default.to_dict()
    assert default.task == "digits/mlp/15ep/sgd"
    loss = TaskConfig(dataset="digits", metric="loss")
    assert loss.to_dict()["metric"] == "loss" and loss.to_dict()["direction"] == "minimize"
    assert loss.task == "digits/mlp/15ep/sgd/loss"
    assert TaskConfig(dataset="digits", direction="minimize").task.endswith("/accuracy-min")
    assert TaskConfig.from_dict(loss.to_dict()) == loss


# ------------------------------------------------------------------------- a minimised loss


def _loss_task(tasks_dir, path="metrictasks:by_loss", pruner="median"):
    task = TaskConfig(user_task=path, epochs=2, batch_size=32, pruner=pruner, sampler="random")
    assembled, _ = assemble_for_run(task, RunConfig(fuse=1), "cpu")
    return assembled.data, assembled.config


def _seed_trials(s: optuna.Study, value: float) -> None:
    """Five COMPLETE trials that reported ``value`` at epoch 1: the median pruner's reference."""
    for _ in range(5):
        s.add_trial(optuna.trial.create_trial(value=value, intermediate_values={1: value, 2: value}))


def test_pruning_minimises_the_loss(tasks_dir):
    data, task = _loss_task(tasks_dir)
    assert (task.metric, task.direction) == ("loss", "minimize") and task.task.endswith("/loss")
    storage = optuna.storages.InMemoryStorage()
    worse, better = (open_family_study(storage, name, task, "cosine")[0] for name in ("low", "high"))
    assert worse.direction == optuna.study.StudyDirection.MINIMIZE
    _seed_trials(worse, 1e-6)  # every trial so far had (almost) no loss: ours is worse → pruned
    _seed_trials(better, 1e3)  # every trial so far had a huge loss: ours is better → kept
    objective = Objective(task, "cosine", data)
    worse.optimize(objective, n_trials=1)
    better.optimize(objective, n_trials=1)
    pruned, kept = worse.trials[-1], better.trials[-1]
    assert pruned.state == optuna.trial.TrialState.PRUNED and pruned.last_step == 1
    assert kept.state == optuna.trial.TrialState.COMPLETE
    attrs = kept.user_attrs
    assert attrs["metric"] == "loss" and kept.value == attrs["val_score"] and 0 < kept.value < 5
    assert kept.intermediate_values[2] == kept.value and attrs["val_accuracy"] <= 1.0
    run_fused_trials(worse, objective, 2)  # fused members report the loss too
    assert [t.state for t in worse.trials[-2:]] == [optuna.trial.TrialState.PRUNED] * 2


def test_confirmation_takes_the_lowest_loss_and_analysis_says_minimise(tasks_dir, tmp_path):
    data, task = _loss_task(tasks_dir, pruner="none")
    storage = optuna.storages.InMemoryStorage()
    for family in ("cosine", "step"):
        s, _ = open_family_study(storage, f"loss-{family}", task, family)
        s.optimize(Objective(task, family, data), n_trials=1)
        real = s.trials[0]
        for value in (9.0, 1e-4, 5.0):  # the same parameters under invented losses: 1e-4 is best
            s.add_trial(
                optuna.trial.create_trial(
                    params=real.params,
                    distributions=real.distributions,
                    value=value,
                    intermediate_values={1: value, 2: value},
                    user_attrs={**real.user_attrs, "val_score": value},
                )
            )
    runs = run_confirmations(storage, k=2, fuse=1)
    assert len(runs) == 4 and all(math.isfinite(r.test_score) and r.test_score > 0 for r in runs)
    for family in ("cosine", "step"):
        confirm = optuna.load_study(study_name=f"loss-{family}:confirm", storage=storage)
        assert confirm.direction == optuna.study.StudyDirection.MINIMIZE
        assert confirm.user_attrs["lrtune_confirmed_trial"] == 2  # the 1e-4 trial, not the 9.0 one
        assert all(t.value == t.user_attrs["val_score"] for t in confirm.trials)

    df = report.load_trials(storage)
    assert set(df["metric"]) == {"loss"} and set(df["metric_direction"]) == {"minimize"}
    search = df[(df["kind"] == "search") & (df["number"] == 2)]
    assert (search["value"] == -1e-4).all()  # oriented: higher is better
    written = report.write_report(storage, tmp_path / "report", storage_label="memory")
    text = written.path.read_text()
    assert "Metric: loss, minimized; scores below are −loss" in text
    assert "Confirmation runs (test loss (minimised, compared as −loss))" in text
    verdict = written.verdicts[task.task]
    assert verdict is not None and "test loss (minimised, compared as −loss)" in verdict.text
    assert "points" not in verdict.text and "effect (points)" not in text


# ------------------------------------------------------------------------- resume and bad input


def test_a_changed_metric_on_resume_is_refused(tasks_dir, capsys, monkeypatch):
    (tasks_dir / "db").mkdir()
    args = ("--task", "metrictasks:env_metric", "--family", "cosine", "--epochs", "1")
    assert _run(tasks_dir, *args, "--trials", "1") == 0
    url = f"sqlite:///{tasks_dir / 'db' / 'lrtune.db'}"
    s = optuna.load_study(study_name="metrictasks.env_metric-Sequential-cosine", storage=url)
    assert "metric" not in s.user_attrs["lrtune_config"]  # the default is stored as before
    assert s.user_attrs["lrtune_task"] == "metrictasks:env_metric/Sequential/1ep/sgd"
    capsys.readouterr()
    before = (tasks_dir / "db" / "lrtune.db").read_bytes()
    monkeypatch.setenv("TASK_METRIC", "loss")
    sys.modules.pop("metrictasks", None)
    user_task._CACHE.clear()
    assert _run(tasks_dir, *args, "--trials", "2") == 2
    err = capsys.readouterr().err
    assert "different configuration (direction: None → 'minimize'; metric: None → 'loss')" in err
    assert (tasks_dir / "db" / "lrtune.db").read_bytes() == before


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ("unknown_metric", "Task.metric: unknown metric 'auc'; valid: accuracy, loss"),
        ("bad_direction", "Task.metric: unknown direction 'down'; valid: maximize, minimize"),
        ("no_direction", "Task.metric: a metric callable needs its direction"),
        (
            "mean_not_per_example",
            "the metric 'custom' must return per-example scores, a real tensor of shape (2,) "
            "for a batch of 2, but returned ()",
        ),
        ("failing_metric", "the metric 'custom' fails on logits (2, 3) and targets (2,): IndexError"),
    ],
)
def test_a_bad_metric_is_one_line_exit_2_and_creates_nothing(tasks_dir, capsys, task, message):
    assert _run(tasks_dir, "--task", f"metrictasks:{task}", "--trials", "1", "--epochs", "1") == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert message in err, err
    assert not (tasks_dir / "db").exists()


def test_a_callable_metric_runs_and_is_stored_by_name(tasks_dir):
    data, task = _loss_task(tasks_dir, path="metrictasks:by_brier", pruner="none")
    assert (task.metric, task.direction) == ("brier", "minimize") and task.task.endswith("/brier-min")
    s, _ = open_family_study(optuna.storages.InMemoryStorage(), "brier", task, "cosine")
    s.optimize(Objective(task, "cosine", data), n_trials=1)
    trial = s.trials[0]
    assert trial.user_attrs["metric"] == "brier" and 0 < trial.value < 2
    assert s.user_attrs["lrtune_config"]["metric"] == "brier"


def test_the_example_tasks_carry_their_metric(monkeypatch):
    from pathlib import Path

    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    user_task._CACHE.clear()
    by_loss = user_task.load_task("examples.my_task:make_task_by_loss").metric
    by_brier = user_task.load_task("examples.my_task:make_task_by_brier").metric
    assert (by_loss.name, by_loss.direction) == ("loss", "minimize")
    assert (by_brier.name, by_brier.direction) == ("brier", "minimize")
    user_task._CACHE.clear()
