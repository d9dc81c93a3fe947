"""An lrtune search in PyTorch Lightning: a joint space over cosine, onecycle and schedulefree.

A small LightningModule (MLP with BatchNorm) on scikit-learn's 8×8 digits (ships with
scikit-learn: nothing downloaded). ``lrtune.integrations.lightning`` supplies what
``configure_optimizers`` returns (the schedule stepped after every optimizer step), Schedule-Free's
train/eval switches with BatchNorm recompute, and a pruning callback that reports the validation
accuracy and prunes only at epochs ⌈E/2⌉ … E − 1 (with ``lrtune.pruner``, lrtune's own rule)::

    pip install "lrtune[lightning]"
    python examples/lightning_study.py --trials 6 --confirm 3 --storage sqlite:///l.db
    python -m lrtune.analyze --storage sqlite:///l.db      # the confirmed verdict
    python -m lrtune.dashboard --storage sqlite:///l.db    # the confirmation study's seed view

``--trials`` is the study's total (re-running resumes); ``--confirm K`` re-runs each family's
best trial with K fresh seeds through the same objective (``lrtune.confirm``), into the study
``lightning-digits:confirm``.
"""

from __future__ import annotations

import argparse
import logging
import warnings

import lightning.pytorch as pl
import optuna
import torch
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader, TensorDataset

import lrtune
from lrtune.integrations.lightning import PruningCallback, ScheduleFreeCallback, configure_optimizers

EPOCHS, BATCH = 6, 64
FAMILIES = ["cosine", "onecycle", "schedulefree"]


def load_data() -> tuple[TensorDataset, TensorDataset]:
    """Digits scaled to [0, 1], split 80/20 with a fixed seed."""
    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x / 16.0, dtype=torch.float32)
    y = torch.tensor(y)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    cut = int(0.8 * len(x))
    return TensorDataset(x[order[:cut]], y[order[:cut]]), TensorDataset(x[order[cut:]], y[order[cut:]])


class DigitsNet(pl.LightningModule):
    def __init__(self, schedule: lrtune.Schedule, hidden: int = 128) -> None:
        super().__init__()
        self.schedule = schedule
        self.net = torch.nn.Sequential(
            torch.nn.Linear(64, hidden), torch.nn.BatchNorm1d(hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.cross_entropy(self(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_accuracy", (self(x).argmax(1) == y).float().mean())

    def configure_optimizers(self):
        # SGD (momentum 0.9) at the schedule's peak LR, the schedule over every optimizer step;
        # Schedule-Free SGD for the schedulefree family
        return configure_optimizers(self, self.schedule, optimizer="sgd", momentum=0.9, weight_decay=5e-4)


def objective(trial: optuna.Trial, data) -> float:
    train, val = data
    schedule = lrtune.suggest_schedule(trial, FAMILIES, lr=(1e-3, 1.0), prefix="sched_")
    seed = lrtune.trial_seed(trial)  # the trial number; a fresh seed in confirmation runs
    torch.manual_seed(seed)
    loaders = (
        DataLoader(train, batch_size=BATCH, shuffle=True, generator=torch.Generator().manual_seed(seed)),
        DataLoader(val, batch_size=512),
    )
    trainer = pl.Trainer(
        max_epochs=EPOCHS,
        accelerator="cpu",
        devices=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        callbacks=[ScheduleFreeCallback(), PruningCallback(trial, "val_accuracy")],
    )
    trainer.fit(DigitsNet(schedule), *loaders)
    return float(trainer.callback_metrics["val_accuracy"])  # the final epoch's (at x for schedulefree)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--storage", default=None, help="Optuna storage URL (default: in memory)")
    parser.add_argument("--study-name", default="lightning-digits")
    parser.add_argument("--confirm", type=int, default=0, metavar="K", help="then confirm with K fresh seeds")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)  # a tiny model: one thread is fastest
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")  # lightning 2.6 on torch 2.14
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = load_data()
    study = optuna.create_study(
        study_name=args.study_name,
        storage=args.storage,
        direction="maximize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=1),  # its first 5 trials draw all three families
        pruner=lrtune.pruner(EPOCHS),  # median rule, only at epochs ⌈E/2⌉..E−1
    )
    with warnings.catch_warnings():  # set_metric_names is still "experimental" in Optuna 5
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(["validation accuracy"])  # optuna-dashboard labels the value with it
    missing = args.trials - len(study.trials)
    if missing > 0:
        study.optimize(lambda t: objective(t, data), n_trials=missing)
    if args.confirm:
        confirmations = lrtune.confirm(study, lambda t: objective(t, data), seeds=args.confirm)
        print(f"{len(confirmations.trials)} confirmation runs stored in {confirmations.study_name!r}")
    best = study.best_trial
    print(
        f"best validation accuracy {best.value:.4f}: {lrtune.Schedule.from_params(best.params, prefix='sched_').describe()}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
