"""The three measured paths, each running the same trials in a fresh Optuna study.

1. ``baseline`` — :class:`~lrtune.bench.baseline.BaselineObjective` through ``study.optimize``;
2. ``lrtune`` — lrtune unfused (``--fuse 1``): :class:`lrtune.tuning.objective.Objective` on in-memory tensors;
3. ``fused`` — lrtune's default: :func:`lrtune.tuning.objective.run_fused_trials`, K trials per stack.

Every path uses the same sampler (the task's, with its seed) and pruner, so only the way the
trials are trained differs.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import optuna
import torch

from lrtune.bench.baseline import BaselineObjective
from lrtune.training.data import Dataset
from lrtune.tuning.config import TaskConfig
from lrtune.tuning.objective import Objective, make_sampler, run_fused_trials
from lrtune.tuning.pruning import make_pruner

__all__ = ["PATHS", "new_study", "run_path", "warm_up"]

PATHS = ("baseline", "lrtune", "fused")
"""The paths ``--paths`` chooses from, in the order they run and are printed."""


def new_study(task_cfg: TaskConfig, storage: Any, pruner: str) -> optuna.Study:
    """A fresh maximising study with the task's sampler (seeded) and the named pruner."""
    return optuna.create_study(
        storage=storage,
        direction="maximize",
        sampler=make_sampler(task_cfg.sampler, seed=task_cfg.seed),
        pruner=make_pruner(pruner, epochs=task_cfg.epochs),
    )


def run_path(
    path: str,
    task_cfg: TaskConfig,
    family: str,
    data: Dataset,
    *,
    trials: int,
    fuse: int,
    threads: int,
    storage: Any,
    pruner: str,
    baseline: str,
    enqueue: list[dict[str, Any]] | None = None,
) -> tuple[optuna.Study, float]:
    """Run ``trials`` trials of ``path`` in a fresh study; returns the study and the wall time.

    ``baseline`` is the baseline's input (``"tensor"`` or ``"torchvision"``, see
    :func:`~lrtune.bench.baseline.baseline_kind`); ``enqueue`` fixes the trials' parameters
    (the unpruned replay). ``fuse == 1`` runs the fused path unfused, as ``lrtune.study`` does.
    """
    torch.set_num_threads(threads)
    study = new_study(task_cfg, storage, pruner)
    for params in enqueue or []:
        study.enqueue_trial(params)
    started = time.perf_counter()
    if path == "baseline":
        study.optimize(BaselineObjective(task_cfg, family, data, dataset=baseline), n_trials=trials)
    elif path == "lrtune" or fuse == 1:  # K = 1 is the unfused path, as in lrtune.study
        study.optimize(Objective(task_cfg, family, data), n_trials=trials)
    else:
        objective = Objective(task_cfg, family, data)
        done = 0
        while done < trials:
            k = min(fuse, trials - done)
            run_fused_trials(study, objective, k)
            done += k
    return study, time.perf_counter() - started


def warm_up(task_cfg: TaskConfig, family: str, data: Dataset, threads: int, *, baseline: str) -> None:
    """One short trial per path so first-call costs (BLAS/oneDNN set-up) are not timed."""
    short = replace(task_cfg, epochs=1)
    for path in PATHS:
        run_path(
            path,
            short,
            family,
            data,
            trials=2 if path == "fused" else 1,
            fuse=2,
            threads=threads,
            storage=None,
            pruner="none",
            baseline=baseline,
        )
