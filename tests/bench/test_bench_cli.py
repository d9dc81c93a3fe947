"""python -m lrtune.bench --quick: the measurements are all there and sane (no timing asserted)."""

from __future__ import annotations

import json

import pytest
import torch

from lrtune.bench import TASKS, baseline_kind, main

PATH_KEYS = {
    "trials",
    "seconds",
    "trials_per_min",
    "model_epochs",
    "model_epochs_per_s",
    "best_val_accuracy",
    "pruned",
    "diverged",
    "epoch_s",
    "x_floor",
    "trials_per_min_x_baseline",
    "model_epochs_per_s_x_baseline",
    "seconds_all",
}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "bench.json"
    threads = torch.get_num_threads()
    code = main(["--quick", "--json", str(path)])
    assert torch.get_num_threads() == threads  # the benchmark leaves the thread count as it found it
    return code, json.loads(path.read_text())


def test_quick_run_measures_every_task_and_path(quick_run, capsys):
    code, report = quick_run
    assert code == 0
    assert report["quick"] is True and report["machine"]["torch"] == torch.__version__
    assert [t["task"] for t in report["tasks"]] == list(TASKS)
    for task in report["tasks"]:
        assert set(task["paths"]) == {"baseline", "lrtune", "fused"}
        assert task["matmul_gflops"] > 0 and task["train_gflop_per_epoch"] > 0 and task["floor_s_per_epoch"] > 0
        for path, s in task["paths"].items():
            assert PATH_KEYS <= set(s), path
            assert s["trials"] == task["trials"]  # same number of trials on every path
            assert 1 <= s["model_epochs"] <= task["trials"] * task["epochs"]
            assert s["seconds"] > 0 and s["trials_per_min"] > 0 and s["model_epochs_per_s"] > 0
            assert 0.0 < s["best_val_accuracy"] <= 1.0
            assert s["x_floor"] > 0.1  # nothing trains faster than a tenth of the compute floor
            assert s["trials_per_min"] == pytest.approx(60 * s["trials"] / s["seconds"])
        assert task["paths"]["baseline"]["trials_per_min_x_baseline"] == pytest.approx(1.0)
        pruning = task["pruning"]
        assert pruning["epochs_unpruned"] == task["trials"] * task["epochs"]
        assert 0 <= pruning["epochs_saved_fraction"] < 1 and isinstance(pruning["best_unpruned_was_pruned"], bool)
    mnist_like = report["tasks"][2]
    assert mnist_like["sizes"]["train"] + mnist_like["sizes"]["val"] == TASKS["mnist-like"].quick_examples


def test_quick_run_prints_one_table_per_task(quick_run, capsys):
    main(["--quick", "--tasks", "digits", "--paths", "lrtune,fused", "--no-prune-accounting"])
    out = capsys.readouterr().out
    assert "compute floor" in out and "trials/min" in out and "x floor" in out and "fused K=2" in out
    assert "baseline" not in out.split("trials/min")[1]


def test_bad_arguments_exit_2(capsys):
    assert main(["--tasks", "imagenet"]) == 2
    assert "valid: digits, mnist1d, mnist-like" in capsys.readouterr().err
    assert main(["--paths", "fast"]) == 2
    assert main(["--quick", "--fuse", "0"]) == 2


def test_default_baseline_is_what_a_user_writes_for_that_data(quick_run):
    _, report = quick_run
    assert report["baseline_dataset"] == "auto"
    assert {t["task"]: t["baseline_dataset"] for t in report["tasks"]} == {
        "digits": "tensor",
        "mnist1d": "tensor",
        "mnist-like": "tensor",
    }
    assert [baseline_kind(d) for d in ("mnist", "fashion-mnist", "kmnist", "cifar10")] == ["torchvision"] * 4
    assert baseline_kind("digits", "torchvision") == "torchvision" and baseline_kind("mnist", "tensor") == "tensor"
