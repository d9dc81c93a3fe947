"""The benchmark's tasks: what each trains, how many trials, and the data it loads.

``digits`` (MLP) and ``mnist1d`` (cnn1d, lrtune's default task) are lrtune's own datasets;
``mnist-like`` is an MNIST-sized MLP task on data generated here (:func:`make_mnist_like`), so the
benchmark needs no download. Each task has a full size and a ``--quick`` size (for the tests).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from lrtune.training.data import Dataset
from lrtune.tuning.assembly import AssembledTask, assemble
from lrtune.tuning.config import TaskConfig

__all__ = ["MNIST_LIKE", "TASKS", "BenchTask", "assemble_task", "load_task_data", "make_mnist_like", "task_config"]

MNIST_LIKE = "mnist-like"
"""The dataset name of the generated task (not one of lrtune's datasets)."""


@dataclass(frozen=True)
class BenchTask:
    """One benchmark task: what to train and how many trials (full and ``--quick`` sizes)."""

    name: str
    dataset: str  # lrtune dataset name, or "mnist-like" (generated here)
    model: str
    epochs: int
    trials: int
    fuse: int
    quick_epochs: int = 2
    quick_trials: int = 4
    quick_fuse: int = 2
    examples: int | None = None  # generated datasets: train+val examples
    quick_examples: int | None = None
    description: str = ""


TASKS: dict[str, BenchTask] = {
    "digits": BenchTask(
        "digits",
        "digits",
        "mlp",
        epochs=15,
        trials=48,
        fuse=8,
        description="scikit-learn digits, MLP 64-256-256-10",
    ),
    "mnist1d": BenchTask(
        "mnist1d",
        "mnist1d",
        "cnn1d",
        epochs=15,
        trials=16,
        fuse=8,
        description="mnist1d (the default task), cnn1d",
    ),
    MNIST_LIKE: BenchTask(
        MNIST_LIKE,
        MNIST_LIKE,
        "mlp",
        epochs=5,
        trials=8,
        fuse=8,
        examples=60_000,
        quick_examples=2_000,
        description="generated 28x28, 10 classes, MLP 784-256-256-10",
    ),
}
"""The tasks ``--tasks`` chooses from, in the default order."""


def make_mnist_like(
    *,
    n: int = 60_000,
    n_test: int = 10_000,
    seed: int = 0,
    val_fraction: float = 0.1,
    device: str | torch.device = "cpu",
) -> Dataset:
    """An MNIST-sized, random but learnable dataset: 28×28 grey images of 10 classes.

    Each class has a template (smoothed random noise, thresholded into blobs); an example is its
    class template shifted by up to ±4 pixels, scaled in contrast by U(0.5, 1.5), plus Gaussian
    noise (σ = 1.0, the stroke intensity), clipped to [0, 1]; normalised like lrtune's datasets.
    Harder than MNIST for a linear model (≈ 74 % vs MNIST's 92 %), so an MLP has room to learn.
    """
    rng = np.random.default_rng(seed)
    templates = np.stack([gaussian_filter(rng.standard_normal((28, 28)), sigma=2.5) for _ in range(10)])
    templates = (templates > np.quantile(templates, 0.75, axis=(1, 2), keepdims=True)).astype(np.float32)

    def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 10, size=count)
        x = templates[y]
        shifts = rng.integers(-4, 5, size=(count, 2))
        for dy in range(-4, 5):
            for dx in range(-4, 5):
                sel = (shifts[:, 0] == dy) & (shifts[:, 1] == dx)
                x[sel] = np.roll(x[sel], (dy, dx), axis=(1, 2))
        x = x * rng.uniform(0.5, 1.5, size=(count, 1, 1)) + rng.standard_normal(x.shape)
        return np.clip(x, 0.0, 1.0).astype(np.float32)[:, None], y.astype(np.int64)

    x_all, y_all = draw(n)
    x_test, y_test = draw(n_test)
    n_val = max(1, round(n * val_fraction))
    order = rng.permutation(n)
    train_idx, val_idx = np.sort(order[n_val:]), np.sort(order[:n_val])
    x_train = torch.from_numpy(x_all[train_idx])
    mean, std = x_train.mean(), x_train.std()
    tensors = {"train": x_train, "val": torch.from_numpy(x_all[val_idx]), "test": torch.from_numpy(x_test)}
    labels = {"train": y_all[train_idx], "val": y_all[val_idx], "test": y_test}
    return Dataset(
        name=MNIST_LIKE,
        **{f"x_{k}": ((v - mean) / std).to(device) for k, v in tensors.items()},
        **{f"y_{k}": torch.from_numpy(v).to(device) for k, v in labels.items()},
        n_classes=10,
        input_shape=(1, 28, 28),
    )


def task_config(task: BenchTask, *, epochs: int, pruner: str = "median") -> TaskConfig:
    """The lrtune task configuration the benchmark runs (``mnist-like`` is configured as ``mnist``:
    same shape, its data generated here)."""
    dataset = task.dataset if task.dataset != MNIST_LIKE else "mnist"
    return TaskConfig(dataset=dataset, model=task.model, epochs=epochs, pruner=pruner)


def assemble_task(task: BenchTask, config: TaskConfig, *, quick: bool, device: str) -> AssembledTask:
    """The task ready to train (:func:`lrtune.tuning.assembly.assemble`), on the generated data for
    ``mnist-like`` (test set ≈ n/6, 500..10 000)."""
    data = None
    if task.dataset == MNIST_LIKE:
        n = task.quick_examples if quick else task.examples
        data = make_mnist_like(n=n or 60_000, n_test=min(10_000, max(500, (n or 60_000) // 6)), device=device)
    return assemble(config, device=device, data=data)


def load_task_data(task: BenchTask, *, quick: bool, device: str) -> Dataset:
    """The task's dataset on ``device`` (that of :func:`assemble_task`)."""
    return assemble_task(task, task_config(task, epochs=task.epochs), quick=quick, device=device).data
