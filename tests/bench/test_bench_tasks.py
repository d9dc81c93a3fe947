"""lrtune.bench.tasks: the generated MNIST-sized data is normalised, reproducible and learnable."""

from __future__ import annotations

import math

import pytest
import torch

from lrtune.bench import make_mnist_like


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
