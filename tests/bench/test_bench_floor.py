"""lrtune.bench.floor: forward FLOPs from the layer shapes, the matmul rate, the compute floor."""

from __future__ import annotations

import pytest
from torch import nn

from lrtune.bench import compute_floor, forward_flops, make_mnist_like, matmul_gflops
from lrtune.training.models import build_model


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
