"""The benchmark's baseline: the loop a user writes with plain Optuna + PyTorch, one trial at a time.

Which input the baseline's ``DataLoader`` reads is chosen by the data (``--baseline auto``, the
default): a ``TensorDataset`` of ready tensors for data that is already an array (mnist1d, digits,
the generated mnist-like data), the official Optuna PyTorch example's torchvision per-item path
(:class:`PILItemDataset`) for image datasets read from files. The choice is passed explicitly:
:func:`baseline_kind` resolves it, :class:`BaselineObjective` takes the result.
"""

from __future__ import annotations

import math

import numpy as np
import optuna
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, TensorDataset
from torchvision import transforms

from lrtune.core.spaces import suggest_schedule
from lrtune.training.data import Dataset
from lrtune.training.train import TrainConfig, build_optimizer
from lrtune.tuning.assembly import assemble
from lrtune.tuning.config import TaskConfig
from lrtune.tuning.objective import search_trial_seed
from lrtune.tuning.pruning import may_prune

__all__ = [
    "BASELINE_DATASETS",
    "FILE_DATASETS",
    "BaselineObjective",
    "PILItemDataset",
    "baseline_kind",
    "train_config",
]

BASELINE_DATASETS = ("auto", "tensor", "torchvision")
"""How the baseline's ``DataLoader`` gets its examples (``--baseline``).

``auto`` (default) is what a user writes **for that data**: a ``TensorDataset`` of ready tensors
for data that is already an array (mnist1d, digits, the generated mnist-like data), the
torchvision per-item path only for image datasets read from files (MNIST-format, CIFAR).
``tensor`` forces the ``TensorDataset``; ``torchvision`` forces the official Optuna PyTorch
example's way, a torchvision-style dataset whose ``__getitem__`` turns one stored array into a PIL
image and applies ``transforms.ToTensor()`` + ``Normalize`` (what ``torchvision.datasets.MNIST``
does per item) — on tensor-native data nobody loads that way, so it is not the headline.
"""

FILE_DATASETS = ("mnist", "fashion-mnist", "kmnist", "cifar10")
"""Datasets read from image files: their users go through torchvision's per-item datasets."""


def baseline_kind(dataset: str, requested: str = "auto") -> str:
    """The baseline input for ``dataset``: ``requested`` unless ``auto`` (then by the data's nature)."""
    if requested != "auto":
        return requested
    return "torchvision" if dataset in FILE_DATASETS else "tensor"


class PILItemDataset(torch.utils.data.Dataset):
    """A torchvision-style dataset: per item, stored array → ``PIL.Image`` → ``ToTensor`` → ``Normalize``.

    Images (C=1, H, W) are stored as uint8 (rescaled 0–255 like the files torchvision reads);
    1-D signals (mnist1d) as a float32 'F'-mode image of one row. ``Normalize`` undoes the
    rescaling so the model sees the same values as lrtune's in-memory path (up to uint8 rounding).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, shape: tuple[int, ...]) -> None:
        flat = x.reshape(len(x), -1).float()
        lo, hi = float(flat.min()), float(flat.max())
        self.shape = shape
        self.targets = y.tolist()
        if len(shape) == 3 and shape[0] == 1:
            scaled = ((x.reshape(len(x), shape[1], shape[2]) - lo) / (hi - lo) * 255).round().clamp(0, 255)
            self.data = scaled.to(torch.uint8).numpy()
            scale = hi - lo
            self.transform = transforms.Compose(
                [transforms.ToTensor(), transforms.Normalize((-lo / scale,), (1.0 / scale,))]
            )
        else:
            self.data = x.reshape(len(x), 1, -1).float().numpy()
            self.transform = transforms.ToTensor()

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        arr = self.data[index]
        img = Image.fromarray(arr, mode="L") if arr.dtype == np.uint8 else Image.fromarray(arr, mode="F")
        return self.transform(img).reshape(self.shape), self.targets[index]


def train_config(task: TaskConfig, seed: int) -> TrainConfig:
    """The training settings of one baseline trial: the task's, with the trial's seed."""
    return TrainConfig.from_task(task, seed=seed)  # accuracy: the example this baseline copies


class BaselineObjective:
    """The official Optuna PyTorch example's objective, with lrtune's model, optimizer and schedule.

    A torchvision-style dataset (:class:`PILItemDataset`, or a ``TensorDataset`` with
    ``dataset="tensor"``) through ``DataLoader(batch_size, shuffle=True)`` for training and a
    second ``DataLoader`` for validation; each batch is moved to the device; the validation
    accuracy is reported after every epoch and the trial pruned on the pruner's word.
    """

    def __init__(self, task_cfg: TaskConfig, family: str, data: Dataset, *, dataset: str = "torchvision") -> None:
        self.task, self.family, self.device = task_cfg, family, data.device
        self.assembled = assemble(task_cfg, data=data)  # the model factory lrtune's paths use
        cpu = data.to("cpu")
        if dataset == "torchvision":
            self.train_set = PILItemDataset(cpu.x_train, cpu.y_train, data.input_shape)
            valid_set = PILItemDataset(cpu.x_val, cpu.y_val, data.input_shape)
        else:
            self.train_set = TensorDataset(cpu.x_train, cpu.y_train)
            valid_set = TensorDataset(cpu.x_val, cpu.y_val)
        self.valid_loader = DataLoader(valid_set, batch_size=task_cfg.batch_size)
        self.input_shape, self.n_classes = data.input_shape, data.n_classes

    def __call__(self, trial: optuna.Trial) -> float:
        task = self.task
        schedule = suggest_schedule(
            trial, self.family, lr=task.lr_range_for(self.family), warmup=task.warmup_range
        )
        seed = search_trial_seed(task.seed, trial.number)
        model = self.assembled.build_model(seed).to(self.device)
        optimizer = build_optimizer(model, lr=schedule.peak_lr, config=train_config(task, seed))
        train_loader = DataLoader(
            self.train_set, batch_size=task.batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed)
        )
        scheduler = schedule.build(optimizer, task.epochs * len(train_loader))
        accuracy = 0.0
        for epoch in range(1, task.epochs + 1):
            model.train()
            for data, target in train_loader:
                data, target = data.to(self.device), target.to(self.device)
                optimizer.zero_grad()
                loss = F.cross_entropy(model(data), target)
                loss.backward()
                optimizer.step()
                scheduler.step()
            model.eval()
            correct = 0
            with torch.no_grad():
                for data, target in self.valid_loader:
                    data, target = data.to(self.device), target.to(self.device)
                    pred = model(data).argmax(dim=1, keepdim=True)
                    correct += pred.eq(target.view_as(pred)).sum().item()
            accuracy = correct / len(self.valid_loader.dataset)
            scheduler.epoch_end(accuracy)
            trial.report(accuracy, epoch)
            if may_prune(epoch, task.epochs) and trial.should_prune():
                raise optuna.TrialPruned()
        return accuracy if math.isfinite(accuracy) else 0.0
