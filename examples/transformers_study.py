"""An lrtune search in the Hugging Face ``Trainer``: a joint space over cosine, rex and schedulefree.

A tiny ViT built from a config in code (nothing downloaded; ``HF_HUB_OFFLINE=1``: 2×2 patches,
one layer of width 32) classifies scikit-learn's 8×8 digits (they ship with scikit-learn).
``lrtune.integrations.transformers.ScheduleTrainer`` applies the schedule over the Trainer's own
step count (``create_scheduler``), Schedule-Free included, and ``PruningCallback`` reports each
epoch's evaluation accuracy, pruning only at epochs ⌈E/2⌉ … E − 1 (with ``lrtune.pruner``)::

    pip install "lrtune[transformers]"
    python examples/transformers_study.py --trials 6 --confirm 3 --storage sqlite:///t.db
    python -m lrtune.analyze --storage sqlite:///t.db      # the confirmed verdict

``--trials`` is the study's total (re-running resumes); ``--confirm K`` re-runs each family's
best trial with K fresh seeds (``lrtune.confirm``) into ``transformers-digits:confirm``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded: the model is built from a config
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

import numpy as np  # noqa: E402
import optuna  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from transformers import TrainingArguments, ViTConfig, ViTForImageClassification  # noqa: E402
from transformers import logging as hf_logging  # noqa: E402
from transformers.trainer_callback import PrinterCallback  # noqa: E402

import lrtune  # noqa: E402
from lrtune.integrations.transformers import PruningCallback, ScheduleTrainer  # noqa: E402

EPOCHS, BATCH, N_TRAIN, N_VAL = 4, 16, 640, 320
FAMILIES = ["cosine", "rex", "schedulefree"]


class DigitImages(torch.utils.data.Dataset):
    """Each digit a 1×8×8 image scaled to [0, 1], with its label."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x = torch.tensor(x / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
        self.y = torch.tensor(y, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"pixel_values": self.x[i], "labels": self.y[i]}


def load_data() -> tuple[DigitImages, DigitImages]:
    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    return DigitImages(x[:N_TRAIN], y[:N_TRAIN]), DigitImages(
        x[N_TRAIN : N_TRAIN + N_VAL], y[N_TRAIN : N_TRAIN + N_VAL]
    )


def tiny_vit(seed: int) -> ViTForImageClassification:
    torch.manual_seed(seed)
    config = ViTConfig(
        image_size=8,
        patch_size=2,
        num_channels=1,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=10,
    )
    return ViTForImageClassification(config)


def accuracy(prediction) -> dict[str, float]:
    return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}


def objective(trial: optuna.Trial, data, out_dir: str) -> float:
    train, val = data
    schedule = lrtune.suggest_schedule(trial, FAMILIES, lr=(3e-4, 1e-2), prefix="sched_")
    seed = lrtune.trial_seed(trial)  # the trial number; a fresh seed in confirmation runs
    args = TrainingArguments(
        output_dir=out_dir,
        num_train_epochs=EPOCHS,
        per_device_train_batch_size=BATCH,
        per_device_eval_batch_size=512,
        eval_strategy="epoch",  # PruningCallback reports once per epoch
        save_strategy="no",
        logging_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        optim="adamw_torch",  # AdamWScheduleFree for the schedulefree family
        weight_decay=0.01,
        seed=seed,
    )
    pruning = PruningCallback(trial, "eval_accuracy")
    trainer = ScheduleTrainer(
        model=tiny_vit(seed),
        args=args,
        schedule=schedule,  # its peak LR replaces args.learning_rate
        train_dataset=train,
        eval_dataset=val,
        compute_metrics=accuracy,
        callbacks=[pruning],
    )
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    return pruning.reported[-1][1]  # the final epoch's evaluation accuracy (at x for schedulefree)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--storage", default=None, help="Optuna storage URL (default: in memory)")
    parser.add_argument("--study-name", default="transformers-digits")
    parser.add_argument("--confirm", type=int, default=0, metavar="K", help="then confirm with K fresh seeds")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)  # a tiny model: one thread is fastest
    hf_logging.set_verbosity_error()
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
    with tempfile.TemporaryDirectory() as out_dir:  # the Trainer wants one; nothing is saved
        missing = args.trials - len(study.trials)
        if missing > 0:
            study.optimize(lambda t: objective(t, data, out_dir), n_trials=missing)
        if args.confirm:
            confirmations = lrtune.confirm(study, lambda t: objective(t, data, out_dir), seeds=args.confirm)
            print(f"{len(confirmations.trials)} confirmation runs stored in {confirmations.study_name!r}")
    best = study.best_trial
    print(
        f"best validation accuracy {best.value:.4f}: {lrtune.Schedule.from_params(best.params, prefix='sched_').describe()}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
