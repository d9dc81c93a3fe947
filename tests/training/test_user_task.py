"""python -m lrtune.study --task module:callable: a user's own data and model.

Task modules are written into a temporary directory and imported from there, as a user's
package would be; examples/my_task.py runs end to end (study → analyze --confirm → dashboard).
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import optuna
import pytest

import lrtune
from lrtune import analyze, study
from lrtune.training import user_task
from lrtune.training.train import TrainConfig, train

REPO = Path(__file__).resolve().parents[2]

TASKS = """
import os
import numpy as np
import torch
from torch import nn
import lrtune

def _xy(n, seed, features=12, classes=3):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, features, generator=g) * 2
    y = torch.randint(0, classes, (n,), generator=g)
    x = centers[y] + torch.randn(n, features, generator=g) + float(os.environ.get("TASK_SHIFT", "0"))
    return x, y

def mlp(seed):
    return nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 3))

class Items(torch.utils.data.Dataset):
    def __init__(self, x, y):
        self.x, self.y = x.numpy(), y.numpy()
    def __len__(self):
        return len(self.y)
    def __getitem__(self, i):
        return self.x[i], int(self.y[i])

def tensors():
    return lrtune.Task(train=_xy(240, 1), val=_xy(80, 2), test=_xy(80, 3), make_model=mlp, n_classes=3)

def streamed():
    return lrtune.Task(train=Items(*_xy(240, 1)), val=Items(*_xy(80, 2)), test=Items(*_xy(80, 3)),
                       make_model=mlp, n_classes=3, in_memory=False)

def stacked_items():
    return dataclasses_replace(streamed(), in_memory=True)

def dataclasses_replace(task, **kw):
    import dataclasses
    return dataclasses.replace(task, **kw)

class Skip(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(12, 12), nn.Linear(12, 3)
    def forward(self, x):
        return self.b(x + torch.relu(self.a(x)))

def residual():
    return dataclasses_replace(tensors(), make_model=lambda seed: Skip())

NOT_CALLABLE = 3

def returns_dict():
    return {"train": None}

def raises():
    raise RuntimeError("no data here")

def wrong_shapes():
    x, y = _xy(80, 2, features=7)
    return dataclasses_replace(tensors(), val=(x, y))

def bad_labels():
    x, y = _xy(80, 2)
    return dataclasses_replace(tensors(), val=(x, y + 5))

def wrong_output():
    return dataclasses_replace(tensors(), make_model=lambda seed: nn.Linear(12, 5))

def lengths():
    x, y = _xy(80, 2)
    return dataclasses_replace(tensors(), test=(x, y[:50]))

def not_a_model():
    return dataclasses_replace(tensors(), make_model=lambda seed: "mlp")

def bad_split():
    return dataclasses_replace(tensors(), train=42)
"""


@pytest.fixture()
def tasks_dir(tmp_path, monkeypatch):
    """A directory with the module ``usertasks`` on sys.path (and as cwd, for worker processes)."""
    (tmp_path / "usertasks.py").write_text(textwrap.dedent(TASKS))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    sys.modules.pop("usertasks", None)
    user_task._CACHE.clear()
    yield tmp_path
    sys.modules.pop("usertasks", None)
    user_task._CACHE.clear()


def _run(tmp_path, *args: str) -> int:
    return study.main(
        ["--storage", f"sqlite:///{tmp_path / 'db' / 'lrtune.db'}", "--no-progress", "--threads", "1", *args]
    )  # one thread: the 2-core CI machine is shared


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ("no_such_module_x:make", "cannot import 'no_such_module_x': ModuleNotFoundError"),
        ("usertasks:missing", "module 'usertasks' has no attribute 'missing'"),
        ("usertasks:NOT_CALLABLE", "'NOT_CALLABLE' is not callable (it is a int)"),
        ("usertasks:returns_dict", "must return an lrtune.Task, but returned dict"),
        ("usertasks:raises", "calling it failed: RuntimeError: no data here"),
        ("usertasks:wrong_shapes", "the splits' inputs must have one shape, but got train (12,), val (7,)"),
        (
            "usertasks:bad_labels",
            "the val split's labels must lie in [0, 3) (n_classes = 3), but range over [5, 7]",
        ),
        (
            "usertasks:wrong_output",
            "the model's output must be logits of shape (2, 3) (batch, n_classes = 3), but got (2, 5)",
        ),
        ("usertasks:lengths", "the test split has 80 inputs but 50 labels"),
        ("usertasks:not_a_model", "make_model(seed) must return a torch.nn.Module, but returned str"),
        (
            "usertasks:bad_split",
            "the train split must be an (x, y) pair of tensors or a map-style torch Dataset, but got int",
        ),
        ("usertasks", "task must be 'module:callable'"),
    ],
)
def test_a_bad_task_is_one_line_exit_2_and_creates_nothing(tasks_dir, capsys, task, message):
    assert _run(tasks_dir, "--task", task, "--trials", "1", "--epochs", "1") == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert message in err, err
    assert not (tasks_dir / "db").exists()


def test_task_and_dataset_together_are_refused(tasks_dir, capsys):
    assert _run(tasks_dir, "--task", "usertasks:tensors", "--dataset", "digits") == 2
    assert "brings its own data and model; drop dataset = 'digits'" in capsys.readouterr().err


def test_run_resume_and_refuse_changed_data(tasks_dir, capsys, monkeypatch):
    (tasks_dir / "db").mkdir()
    preset = tasks_dir / "mine.toml"
    preset.write_text('task = "usertasks:tensors"\nfamily = "cosine"\nepochs = 2\ntrials = 2\n')
    assert _run(tasks_dir, "--config", str(preset)) == 0
    url = f"sqlite:///{tasks_dir / 'db' / 'lrtune.db'}"
    name = "usertasks.tensors-Sequential-cosine"
    s = optuna.load_study(study_name=name, storage=url)
    config = s.user_attrs["lrtune_config"]
    assert config["user_task"] == "usertasks:tensors" and len(config["task_fingerprint"]) == 16
    assert s.user_attrs["lrtune_task"] == "usertasks:tensors/Sequential/2ep/sgd"
    assert len(s.trials) == 2 and all("lr_curve" in t.user_attrs for t in s.trials)

    assert _run(tasks_dir, "--config", str(preset), "--trials", "3") == 0  # resumes: one more
    assert len(optuna.load_study(study_name=name, storage=url).trials) == 3

    capsys.readouterr()
    before = (tasks_dir / "db" / "lrtune.db").read_bytes()
    monkeypatch.setenv("TASK_SHIFT", "0.5")  # the same task path, other data
    sys.modules.pop("usertasks", None)
    user_task._CACHE.clear()
    assert _run(tasks_dir, "--config", str(preset), "--trials", "4") == 2
    err = capsys.readouterr().err
    assert "different configuration (task_fingerprint:" in err and "use another --study-name" in err
    assert (tasks_dir / "db" / "lrtune.db").read_bytes() == before


def test_streamed_dataset_trains_exactly_like_stacked_tensors(tasks_dir):
    streamed = user_task.load_task("usertasks:streamed")
    stacked = user_task.load_task("usertasks:stacked_items")
    assert streamed.streamed and not stacked.streamed
    assert isinstance(streamed.data.x_train, user_task.StreamedInputs)
    assert streamed.fingerprint == stacked.fingerprint
    schedule = lrtune.Schedule("cosine", 0.1, params={"final_ratio": 0.01})
    config = TrainConfig(epochs=2, batch_size=32, optimizer="sgd", weight_decay=0.0, seed=5)
    results = [
        train(loaded.build_model(5), loaded.data, schedule, config=config) for loaded in (streamed, stacked)
    ]
    assert results[0].val_accuracies == results[1].val_accuracies
    assert results[0].test_accuracy == results[1].test_accuracy
    from lrtune.training.fused import train_fused  # fused trials read streamed inputs too

    fused = [
        train_fused(
            [loaded.build_model(5), loaded.build_model(6)],
            loaded.data,
            [schedule, schedule],
            config=config,
            mode="stacked",
        )
        for loaded in (streamed, stacked)
    ]
    assert [m.result.val_accuracies for m in fused[0]] == [m.result.val_accuracies for m in fused[1]]


def test_fuse_stacks_a_sequential_model_and_warns_for_another(tasks_dir, capsys):
    assert (
        _run(
            tasks_dir,
            "--task",
            "usertasks:tensors",
            "--family",
            "step",
            "--trials",
            "2",
            "--epochs",
            "2",
            "--fuse",
            "2",
        )
        == 0
    )
    url = f"sqlite:///{tasks_dir / 'db' / 'lrtune.db'}"
    trials = optuna.load_study(study_name="usertasks.tensors-Sequential-step", storage=url).trials
    assert {t.user_attrs["fuse_group"] for t in trials} == {0}
    assert "warning" not in capsys.readouterr().err

    assert (
        _run(
            tasks_dir,
            "--task",
            "usertasks:residual",
            "--family",
            "step",
            "--trials",
            "2",
            "--epochs",
            "2",
            "--fuse",
            "2",
        )
        == 0
    )
    err = capsys.readouterr().err
    warning = [line for line in err.splitlines() if "warning" in line]
    assert len(warning) == 1 and "--fuse 2 ignored: the task's model Skip cannot be stacked" in warning[0]
    trials = optuna.load_study(study_name="usertasks.residual-Skip-step", storage=url).trials
    assert len(trials) == 2 and all("fuse_group" not in t.user_attrs for t in trials)


@pytest.mark.slow
def test_workers_import_the_task(tasks_dir):
    assert (
        _run(
            tasks_dir,
            "--task",
            "usertasks:tensors",
            "--family",
            "cosine",
            "--trials",
            "2",
            "--epochs",
            "1",
            "--workers",
            "2",
        )
        == 0
    )
    url = f"sqlite:///{tasks_dir / 'db' / 'lrtune.db'}"
    trials = optuna.load_study(study_name="usertasks.tensors-Sequential-cosine", storage=url).trials
    assert sorted(t.state.name for t in trials) == ["COMPLETE", "COMPLETE"]


@pytest.mark.slow
def test_my_task_example_study_confirm_analyze_dashboard(tmp_path, monkeypatch, capsys):
    """The README's commands on examples/my_task.py (2 epochs to keep CI short)."""
    from wsgi_client import DashboardClient, check_lrtune_study

    from lrtune.report import notes

    monkeypatch.chdir(REPO)
    user_task._CACHE.clear()
    url = f"sqlite:///{tmp_path / 'lrtune.db'}"
    assert (
        study.main(
            [
                "--task",
                "examples.my_task:make_task",
                "--family",
                "cosine,step",
                "--trials",
                "6",
                "--epochs",
                "2",
                "--storage",
                url,
                "--no-progress",
                "--threads",
                "1",
            ]
        )
        == 0
    )
    assert analyze.main(["--confirm", "3", "--storage", url, "--out", str(tmp_path / "report")]) == 0
    printed = capsys.readouterr().out
    task = "examples.my_task:make_task/Sequential/2ep/sgd"
    assert f"{task}: " in printed and "6 confirmation runs" in printed
    report = (tmp_path / "report" / "report.md").read_text()
    assert "confirmation seeds per family: cosine 3, step 3" in report
    assert (tmp_path / "report" / f"lr_curves_{task.replace(':', '-').replace('/', '-')}.png").exists()

    client = DashboardClient.for_storage(url, notes.artifact_store_for(url, create=False))
    for family in ("cosine", "step"):
        detail = check_lrtune_study(client, f"examples.my_task.make_task-Sequential-{family}", min_trials=6)
        assert "Verdict" in detail["note"]["body"] or "verdict" in detail["note"]["body"]
    confirm = client.study("examples.my_task.make_task-Sequential-cosine:confirm")
    assert len(confirm["trials"]) == 3
