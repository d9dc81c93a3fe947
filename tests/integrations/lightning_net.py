"""A tiny LightningModule on scikit-learn's digits, shared by the Lightning tests."""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader, TensorDataset

from lrtune.integrations.lightning import configure_optimizers


def digits_loaders(n_train: int = 256, n_val: int = 128, batch_size: int = 32) -> tuple[DataLoader, DataLoader]:
    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x / 16.0, dtype=torch.float32)
    y = torch.tensor(y)
    train = TensorDataset(x[:n_train], y[:n_train])
    val = TensorDataset(x[n_train : n_train + n_val], y[n_train : n_train + n_val])
    return (
        DataLoader(train, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(0)),
        DataLoader(val, batch_size=256),
    )


class DigitsNet(pl.LightningModule):
    def __init__(self, schedule, *, batchnorm: bool = True, optimizer: str = "sgd") -> None:
        super().__init__()
        self.schedule, self.optimizer_name = schedule, optimizer
        norm = [torch.nn.BatchNorm1d(32)] if batchnorm else []
        self.net = torch.nn.Sequential(torch.nn.Linear(64, 32), *norm, torch.nn.ReLU(), torch.nn.Linear(32, 10))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.cross_entropy(self(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_accuracy", (self(x).argmax(1) == y).float().mean())

    def configure_optimizers(self):
        return configure_optimizers(self, self.schedule, optimizer=self.optimizer_name)


def fast_trainer(max_epochs: int, callbacks: list) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=max_epochs,
        accelerator="cpu",
        devices=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        callbacks=callbacks,
    )
