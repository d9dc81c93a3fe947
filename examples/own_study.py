"""Use lrtune's search spaces inside *your own* Optuna study, with your own model and loop.

Nothing of lrtune's training code is used here: only ``lrtune.suggest_schedule`` (the search
space) and ``Schedule.build`` (a torch LR scheduler). The schedule parameters sit behind a
``sched_`` prefix next to this script's own hyperparameter (``hidden``).

The whole path, own study → analysis → confirmation → verdict → the winner rebuilt::

    python examples/own_study.py --trials 20 --storage sqlite:///studies/own.db
    python -m lrtune.analyze --storage sqlite:///studies/own.db     # search-only verdict
    python examples/own_study.py --trials 20 --confirm 5 --storage sqlite:///studies/own.db
    python -m lrtune.analyze --storage sqlite:///studies/own.db     # the confirmed verdict
    python examples/rebuild_best.py --storage sqlite:///studies/own.db --study-name own-digits \
        --prefix sched_

``--trials`` is the study's total: re-running resumes. ``--confirm K`` calls
``lrtune.confirm(study, objective, seeds=K)``: each family's best trial re-run with K fresh
seeds through this same objective (``lrtune.trial_seed(trial)`` gives the seed), never pruned,
stored in the study ``own-digits:confirm``; finished seeds are not redone.
"""

from __future__ import annotations

import argparse
import warnings

import optuna
import torch
from sklearn.datasets import load_digits

import lrtune

EPOCHS, BATCH = 8, 64


def load_data() -> tuple[torch.Tensor, ...]:
    """scikit-learn's 8×8 digits, scaled to [0, 1], split 80/20 with a fixed seed."""
    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x / 16.0, dtype=torch.float32)
    y = torch.tensor(y)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    cut = int(0.8 * len(x))
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


def objective(trial: optuna.Trial, data) -> float:
    x_train, y_train, x_val, y_val = data
    hidden = trial.suggest_int("hidden", 32, 256, log=True)  # the user's own parameter
    # a categorical "sched_family" picks one family; only its parameters are suggested
    schedule = lrtune.suggest_schedule(trial, ["cosine", "onecycle", "constant"], lr=(1e-3, 1.0), prefix="sched_")

    seed = lrtune.trial_seed(trial)  # the trial number; a fresh seed in confirmation runs
    torch.manual_seed(seed)
    order = torch.Generator().manual_seed(seed)  # batch order
    model = torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=schedule.peak_lr, momentum=0.9)
    steps_per_epoch = -(-len(x_train) // BATCH)
    scheduler = schedule.build(optimizer, total_steps=EPOCHS * steps_per_epoch)

    accuracy = 0.0
    for epoch in range(1, EPOCHS + 1):  # 1-based: the step lrtune.pruner's bounds count in
        model.train()
        for idx in torch.randperm(len(x_train), generator=order).split(BATCH):
            loss = torch.nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()  # after every optimizer step
        model.eval()
        with torch.no_grad():
            accuracy = (model(x_val).argmax(1) == y_val).float().mean().item()
        scheduler.epoch_end(accuracy)  # only reduce-on-plateau reacts; harmless for the rest
        trial.report(accuracy, epoch)
        if trial.should_prune():  # lrtune.pruner: False before epoch ⌈E/2⌉ and at the final epoch
            raise optuna.TrialPruned()
    return accuracy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--storage", default=None, help="Optuna storage URL (default: in memory)")
    parser.add_argument("--study-name", default="own-digits")
    parser.add_argument(
        "--confirm",
        type=int,
        default=0,
        metavar="K",
        help="then re-run each family's best trial with K fresh seeds (lrtune.confirm)",
    )
    args = parser.parse_args(argv)

    torch.set_num_threads(1)  # tiny model: one thread is fastest and leaves the other cores free
    data = load_data()
    study = optuna.create_study(
        study_name=args.study_name,
        storage=args.storage,
        direction="maximize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=0),
        pruner=lrtune.pruner(EPOCHS),  # lrtune's bounds: prune only at epochs ⌈E/2⌉..E−1
    )
    with warnings.catch_warnings():  # set_metric_names is still "experimental" in Optuna 5
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(["validation accuracy"])  # optuna-dashboard labels the value with it
    missing = args.trials - len(study.trials)  # --trials is the total: re-running resumes
    if missing > 0:
        study.optimize(lambda t: objective(t, data), n_trials=missing)
    if args.confirm:
        confirmations = lrtune.confirm(study, lambda t: objective(t, data), seeds=args.confirm)
        print(f"{len(confirmations.trials)} confirmation runs stored in {confirmations.study_name!r}")
    best = study.best_trial
    schedule = lrtune.Schedule.from_params(best.params, prefix="sched_")  # family read from params
    print(f"best validation accuracy {best.value:.4f} with hidden={best.params['hidden']}")
    print(f"best schedule: {schedule.describe()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
