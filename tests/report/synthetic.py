"""Synthetic lrtune storages written with plain optuna, following docs/architecture.md (tests of lrtune.report)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

optuna.logging.set_verbosity(optuna.logging.WARNING)

TASK = "mnist1d/cnn/10ep/sgd"
EPOCHS = 10
LR_RANGE = (1e-3, 1.0)


# --------------------------------------------------------------------------------------------
# synthetic storages
# --------------------------------------------------------------------------------------------


def lrtune_study(storage, name, family, *, kind, task=TASK, epochs=EPOCHS, sampler="random"):
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize")
    config = {
        "dataset": task.split("/")[0],
        "model": "cnn",
        "epochs": epochs,
        "optimizer": "sgd",
        "family": family,
        "sampler": sampler,
        "lr_range": list(LR_RANGE),
    }
    for key, value in {
        "lrtune_version": "0.1.0",
        "lrtune_config": config,
        "lrtune_family": family,
        "lrtune_task": task,
        "lrtune_kind": kind,
    }.items():
        study.set_user_attr(key, value)
    return study


def val_curve(final, epochs):
    return {e: float(final * e / epochs) for e in range(1, epochs + 1)}


def add_search(
    storage,
    family,
    values,
    *,
    pruned=(),
    lrs=None,
    tests=None,
    task=TASK,
    epochs=EPOCHS,
    sampler="random",
    name=None,
    diverged=(),
    epochs_run=None,
):
    """A search study: COMPLETE trials with final val accuracy ``values``; then PRUNED trials
    that reported ``pruned`` (value = last intermediate, as Optuna stores it) after 5 epochs."""
    study = lrtune_study(
        storage, name or f"{task}:{family}", family, kind="search", task=task, epochs=epochs, sampler=sampler
    )
    dists = {
        "lr": FloatDistribution(*LR_RANGE, log=True),
        "warmup_frac": FloatDistribution(0.0, 0.1),
        f"{family}_final_ratio": FloatDistribution(1e-3, 0.5, log=True),
    }
    lrs = lrs if lrs is not None else np.geomspace(0.02, 0.2, len(values) + len(pruned))
    tests = tests if tests is not None else [v - 0.01 for v in values]
    steps = list(range(0, 1000, 10))
    for i, value in enumerate(list(values) + list(pruned)):
        is_pruned = i >= len(values)
        ran = 5 if is_pruned else (epochs_run[i] if epochs_run else epochs)
        lr = float(lrs[i])
        curve = [lr * (0.5 + 0.5 * np.cos(np.pi * s / 1000)) for s in steps]
        attrs = {
            "family": family,
            "val_accuracy": float(value),
            "test_accuracy": float(tests[i]) if not is_pruned else float(value) - 0.01,
            "epochs_run": ran,
            "seconds": 2.0 * ran,
            "diverged": i in diverged,
            "seed": i,
            "lr_curve": curve,
            "lr_curve_steps": steps,
            "steps_per_epoch": 100,
        }
        study.add_trial(
            create_trial(
                state=TrialState.PRUNED if is_pruned else TrialState.COMPLETE,
                value=float(value),
                params={"lr": lr, "warmup_frac": 0.05, f"{family}_final_ratio": 0.01},
                distributions=dists,
                user_attrs=attrs,
                intermediate_values=val_curve(value, ran),
            )
        )
    return study


def add_confirm(
    storage, family, tests, *, vals=None, task=TASK, source_trial=0, states=None, seeds=None, epochs=EPOCHS
):
    """A confirmation study '<search>:confirm': one trial per seed with its test accuracy."""
    study = lrtune_study(storage, f"{task}:{family}:confirm", family, kind="confirm", task=task, epochs=epochs)
    vals = vals if vals is not None else [t + 0.005 for t in tests]
    for i, test in enumerate(tests):
        state = states[i] if states else TrialState.COMPLETE
        attrs = {
            "family": family,
            "seed": (seeds[i] if seeds else 1000 + i),
            "test_accuracy": float(test),
            "val_accuracy": float(vals[i]),
            "epochs_run": epochs,
            "seconds": 20.0,
            "diverged": False,
            "source_trial": source_trial,
        }
        study.add_trial(
            create_trial(
                state=state, value=float(vals[i]), user_attrs=attrs, intermediate_values=val_curve(vals[i], epochs)
            )
        )
    return study


def spread(center, n=8, seed=0, width=0.002):
    return list(center + np.random.default_rng(seed).uniform(-width, width, n))


def fast_sqlite(path: Path) -> optuna.storages.RDBStorage:
    """An RDBStorage writing the SQLite file ``path`` without fsync (tests only: ~50× faster)."""

    def connect():
        con = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        con.execute("PRAGMA synchronous=OFF")
        return con

    return optuna.storages.RDBStorage("sqlite://", engine_kwargs={"creator": connect})


def is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
