"""Your own task for lrtune's CLI: a torchvision-style dataset class and a model of your own.

    python -m lrtune.study --task examples.my_task:make_task --family cosine,step --trials 6
    python -m lrtune.analyze --confirm 3
    python -m lrtune.dashboard

``make_task`` returns an :class:`lrtune.Task`: three map-style datasets (``DigitsImages``, which
reads scikit-learn's 8×8 digits the way torchvision datasets read images: one item at a time,
through a ``transform``) and a model factory. lrtune checks it, stacks the items into tensors
once (they fit in memory), and runs everything it runs for its built-in datasets: pruning,
workers, resume, notes and LR-curve artifacts, confirmation, analysis. The model here is a small
2-D convnet written as an ``nn.Sequential`` of Conv2d/BatchNorm2d/ReLU/Flatten/Linear layers,
so ``--fuse K`` can train K trials of it at once; ``make_task_residual`` uses a model with a
skip connection instead, which cannot be stacked (``--fuse`` then warns and runs trials one by
one). ``make_task_by_loss`` is ``make_task`` selected on the validation cross-entropy, minimised
(``metric="loss"``), and ``make_task_by_brier`` on a per-example score of its own (the Brier
score, minimised)::

    python -m lrtune.study --task examples.my_task:make_task_by_loss --family cosine,step --trials 6

A task module must be importable from where you run the command (here: the repository root).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

import lrtune

EPOCHS_HINT = "8×8 digits: every model reaches ~95–98 %, fine for trying the CLI, not for verdicts"


class DigitsImages(torch.utils.data.Dataset):
    """scikit-learn's digits as a torchvision-style dataset: ``(image, label)`` per index.

    ``split`` is "train" (70 %), "val" (15 %) or "test" (15 %) of a fixed shuffle; an image is a
    float tensor of shape (1, 8, 8) after ``transform`` (default: scale to [0, 1], then
    standardise with the training images' mean and standard deviation).
    """

    _FRACTIONS = {"train": (0.0, 0.7), "val": (0.7, 0.85), "test": (0.85, 1.0)}

    def __init__(self, split: str, transform: Callable[[np.ndarray], torch.Tensor] | None = None) -> None:
        if split not in self._FRACTIONS:
            raise ValueError(f"split must be one of {', '.join(self._FRACTIONS)}, but got {split!r}")
        images, labels = load_digits(return_X_y=True)
        order = np.random.default_rng(0).permutation(len(labels))
        low, high = (int(f * len(labels)) for f in self._FRACTIONS[split])
        self.images = images[order[low:high]].reshape(-1, 8, 8) / 16.0
        self.labels = labels[order[low:high]].astype(np.int64)
        train = images[order[: int(0.7 * len(labels))]] / 16.0
        self.mean, self.std = float(train.mean()), float(train.std())
        self.transform = transform or self.standardise

    def standardise(self, image: np.ndarray) -> torch.Tensor:
        return torch.as_tensor((image - self.mean) / self.std, dtype=torch.float32).unsqueeze(0)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.images[index]), int(self.labels[index])


def small_convnet(seed: int) -> nn.Module:
    """Two 3×3 convolutions (8, 16 channels) and a linear classifier: ~4k parameters."""
    del seed  # lrtune seeds torch before calling this, so the weights follow the seed
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1, stride=2),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 10),
    )


class ResidualMLP(nn.Module):
    """An MLP with a skip connection: a model lrtune cannot stack for ``--fuse``."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(64, 128)
        self.block = nn.Sequential(nn.ReLU(), nn.Linear(128, 128), nn.ReLU())
        self.out = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x.flatten(1))
        return self.out(h + self.block(h))


def make_task() -> lrtune.Task:
    return lrtune.Task(
        train=DigitsImages("train"),
        val=DigitsImages("val"),
        test=DigitsImages("test"),
        make_model=small_convnet,
        n_classes=10,
        name="digits-images/small-convnet",
    )


def make_task_residual() -> lrtune.Task:
    return lrtune.Task(
        train=DigitsImages("train"),
        val=DigitsImages("val"),
        test=DigitsImages("test"),
        make_model=lambda seed: ResidualMLP(),
        n_classes=10,
        name="digits-images/residual-mlp",
    )


def make_task_by_loss() -> lrtune.Task:
    """``make_task`` selected on the validation loss (mean cross-entropy), minimised."""
    return dataclasses.replace(make_task(), metric="loss", name="digits-images/small-convnet/loss")


def brier(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-example Brier score: Σ_c (softmax(logits)_c − [c = y])², lower is better."""
    p = logits.softmax(dim=-1)
    return ((p - nn.functional.one_hot(targets, p.shape[-1])) ** 2).sum(dim=-1)


def make_task_by_brier() -> lrtune.Task:
    """``make_task`` selected on the mean Brier score of the validation split, minimised."""
    return dataclasses.replace(
        make_task(), metric=brier, direction="minimize", name="digits-images/small-convnet/brier"
    )
