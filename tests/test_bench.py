"""python -m lrtune.bench --quick: the measurements are all there and sane (no timing asserted)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from lrtune.bench import TASKS, compute_floor, forward_flops, main, make_mnist_like, matmul_gflops
from lrtune.models import build_model

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


def test_forward_flops_counts_layer_shapes():
    mlp = build_model("mlp", input_shape=(1, 28, 28), n_classes=10)
    assert forward_flops(mlp, (1, 28, 28)) == 2 * (784 * 256 + 256 * 256 + 256 * 10)
    cnn1d = build_model("cnn1d", input_shape=(40,), n_classes=10)
    convs = 40 * 32 * 1 * 3 + 20 * 64 * 32 * 3 + 10 * 64 * 64 * 3
    assert forward_flops(cnn1d, (40,)) == 2 * (convs + 640 * 10)
    grouped = nn.Sequential(nn.Conv1d(4, 8, 3, groups=2), nn.Flatten(), nn.Linear(8 * 8, 2))
    assert forward_flops(grouped, (4, 10)) == 2 * (8 * 8 * 2 * 3 + 64 * 2)


def test_compute_floor_and_matmul_rate():
    rate = matmul_gflops(n=256, repeats=2)
    assert rate > 0.1
    data = make_mnist_like(n=300, n_test=100)
    floor = compute_floor(build_model("mlp", input_shape=data.input_shape, n_classes=10), data, 100.0)
    assert floor["train_gflop_per_epoch"] == pytest.approx(3 * 2 * 268_800 * 270 / 1e9)
    assert floor["floor_s_per_epoch"] == pytest.approx(floor["train_gflop_per_epoch"] / 100.0)


def test_mnist_like_is_normalised_and_learnable():
    data = make_mnist_like(n=2000, n_test=500, seed=1)
    assert data.input_shape == (1, 28, 28) and data.n_classes == 10
    assert data.sizes == {"train": 1800, "val": 200, "test": 500}
    assert abs(float(data.x_train.mean())) < 1e-3 and float(data.x_train.std()) == pytest.approx(1.0, abs=1e-3)
    assert set(data.y_train.tolist()) == set(range(10))
    # class means separate the classes well above chance: the templates carry the label
    means = torch.stack([data.x_train[data.y_train == c].mean(0) for c in range(10)]).flatten(1)
    pred = (data.x_test.flatten(1) @ means.T - 0.5 * (means * means).sum(1)).argmax(1)
    assert (pred == data.y_test).float().mean() > 0.5
    again = make_mnist_like(n=2000, n_test=500, seed=1)
    assert torch.equal(again.x_train, data.x_train) and not math.isnan(float(data.x_val.sum()))


def test_torchvision_style_baseline_dataset_gives_the_same_examples():
    """Per-item PIL + ToTensor (the official example's input path) sees lrtune's values."""
    from lrtune.bench import PILItemDataset, make_mnist_like
    from lrtune.data import load_dataset

    images = make_mnist_like(n=200, n_test=50)
    ds = PILItemDataset(images.x_train, images.y_train, images.input_shape)
    x, y = ds[3]
    assert x.shape == images.x_train[3].shape and y == int(images.y_train[3])
    step = float(images.x_train.max() - images.x_train.min()) / 255
    assert torch.allclose(x, images.x_train[3], atol=step)  # uint8 rounding, like image files

    signals = load_dataset("digits").to("cpu")
    flat = PILItemDataset(signals.x_train.reshape(len(signals.x_train), -1), signals.y_train, (64,))
    assert torch.allclose(flat[0][0], signals.x_train[0].reshape(-1), atol=1e-6)


def test_default_baseline_is_what_a_user_writes_for_that_data(quick_run):
    from lrtune.bench import baseline_kind

    _, report = quick_run
    assert report["baseline_dataset"] == "auto"
    assert {t["task"]: t["baseline_dataset"] for t in report["tasks"]} == {
        "digits": "tensor",
        "mnist1d": "tensor",
        "mnist-like": "tensor",
    }
    assert [baseline_kind(d) for d in ("mnist", "fashion-mnist", "kmnist", "cifar10")] == ["torchvision"] * 4
    assert baseline_kind("digits", "torchvision") == "torchvision" and baseline_kind("mnist", "tensor") == "tensor"


@pytest.mark.slow
def test_verdict_task_times_both_legs_and_prints_both_verdicts(tmp_path, capsys):
    path = tmp_path / "verdict.json"
    assert main(["--quick", "--tasks", "verdict", "--threads", "1", "--json", str(path)]) == 0
    record = json.loads(path.read_text())["tasks"][0]
    assert record["task"] == "verdict" and set(record["legs"]) == {"unfused", "default"}
    for leg in record["legs"].values():
        assert (
            leg["search_s"] > 0 and leg["confirm_s"] > 0 and leg["total_s"] >= leg["search_s"] + leg["confirm_s"]
        )
        assert leg["search_trials"] == 2 * 4 and leg["confirm_runs"] == 2 * 2
        assert leg["verdicts"] and all(isinstance(v, str) and v for v in leg["verdicts"].values())
    assert record["legs"]["unfused"]["fuse"] == 1 and record["legs"]["default"]["probe"].startswith("fuse ")
    assert record["time_ratio"] == pytest.approx(
        record["legs"]["default"]["total_s"] / record["legs"]["unfused"]["total_s"]
    )
    out = capsys.readouterr().out
    assert "unfused verdict" in out and "default verdict" in out and "x unfused" in out
