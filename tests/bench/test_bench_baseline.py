"""lrtune.bench.baseline: the torchvision-style per-item dataset sees lrtune's values."""

from __future__ import annotations

import torch

from lrtune.bench import PILItemDataset, make_mnist_like
from lrtune.training.data import load_dataset


def test_torchvision_style_baseline_dataset_gives_the_same_examples():
    """Per-item PIL + ToTensor (the official example's input path) sees lrtune's values."""
    images = make_mnist_like(n=200, n_test=50)
    ds = PILItemDataset(images.x_train, images.y_train, images.input_shape)
    x, y = ds[3]
    assert x.shape == images.x_train[3].shape and y == int(images.y_train[3])
    step = float(images.x_train.max() - images.x_train.min()) / 255
    assert torch.allclose(x, images.x_train[3], atol=step)  # uint8 rounding, like image files

    signals = load_dataset("digits").to("cpu")
    flat = PILItemDataset(signals.x_train.reshape(len(signals.x_train), -1), signals.y_train, (64,))
    assert torch.allclose(flat[0][0], signals.x_train[0].reshape(-1), atol=1e-6)
