"""One benchmark task end to end: every path timed, summarised, compared to the baseline.

Per path the summary holds trials per minute, model-epochs per second (a pruned trial's epochs
count as run), the best final validation accuracy, and the time of one model-epoch as a multiple
of the compute floor (:mod:`lrtune.bench.floor`); each rate is also given as a ratio to the
baseline's. Wall times are medians over ``repeats`` runs. With pruning accounting the fused
trials are replayed unpruned with the same parameters:

    epochs_saved_fraction = 1 − epochs run with pruning / epochs of the same trials unpruned
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import optuna
import torch

from lrtune.bench.baseline import baseline_kind
from lrtune.bench.floor import compute_floor, matmul_gflops
from lrtune.bench.paths import run_path, warm_up
from lrtune.bench.tasks import BenchTask, assemble_task, task_config
from lrtune.training.group_size import GroupSize, measure_group_size
from lrtune.tuning.assembly import AssembledTask
from lrtune.tuning.keys import FINISHED_STATES

__all__ = ["bench_storage", "epochs_run", "pruning_accounting", "run_task", "summarise"]


def epochs_run(trial: optuna.trial.FrozenTrial) -> int:
    """Epochs the trial trained (its ``epochs_run`` attr, else one per reported value)."""
    return int(trial.user_attrs.get("epochs_run", len(trial.intermediate_values)))


def summarise(study: optuna.Study, seconds: float, floor_s: float) -> dict[str, Any]:
    """One path's measurements: rates over ``seconds`` of wall time, best value, ``x_floor`` vs ``floor_s``."""
    trials = study.get_trials(deepcopy=False)
    finished = [t for t in trials if t.state in FINISHED_STATES]
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None]
    epochs = sum(epochs_run(t) for t in finished)
    epoch_s = seconds / epochs if epochs else math.nan
    return {
        "trials": len(finished),
        "seconds": seconds,
        "trials_per_min": 60.0 * len(finished) / seconds,
        "model_epochs": epochs,
        "model_epochs_per_s": epochs / seconds,
        "best_val_accuracy": max((t.value for t in complete), default=math.nan),
        "pruned": sum(1 for t in trials if t.state == optuna.trial.TrialState.PRUNED),
        "diverged": sum(1 for t in trials if t.user_attrs.get("diverged")),
        "epoch_s": epoch_s,
        "x_floor": epoch_s / floor_s if floor_s > 0 else math.nan,
    }


def pruning_accounting(pruned_study: optuna.Study, unpruned_study: optuna.Study, epochs: int) -> dict[str, Any]:
    """Epochs pruning saved against the same trials unpruned; was the best unpruned trial pruned?"""
    run = {t.number: t for t in pruned_study.get_trials(deepcopy=False)}
    full = [t for t in unpruned_study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    best = max(full, key=lambda t: t.value)
    epochs_with_pruning = sum(epochs_run(t) for t in run.values())
    epochs_unpruned = sum(epochs_run(t) for t in full)
    best_pruned_run = max(
        (t.value for t in run.values() if t.state == optuna.trial.TrialState.COMPLETE), default=math.nan
    )
    return {
        "epochs_run": epochs_with_pruning,
        "epochs_unpruned": epochs_unpruned,
        "epochs_saved_fraction": 1.0 - epochs_with_pruning / epochs_unpruned if epochs_unpruned else 0.0,
        "best_unpruned_trial": best.number,
        "best_unpruned_value": best.value,
        "best_unpruned_was_pruned": run[best.number].state == optuna.trial.TrialState.PRUNED,
        "best_with_pruning": best_pruned_run,
    }


def bench_storage(kind: str, task: BenchTask, path: str, repeat: int) -> optuna.storages.BaseStorage | None:
    """``None`` (in memory) for ``"memory"``, else a fresh SQLite file in a temporary folder."""
    if kind == "memory":
        return None
    folder = tempfile.mkdtemp(prefix="lrtune-bench-")
    return optuna.storages.RDBStorage(
        f"sqlite:///{os.path.join(folder, f'{task.name}-{path}-{repeat}.db')}",
        engine_kwargs={"connect_args": {"timeout": 30}},
    )


def _probe_group_size(assembled: AssembledTask, n_trials: int) -> GroupSize:
    """lrtune's default K: the start-up probe, at most half the trials (as ``lrtune.study`` does)."""
    return measure_group_size(
        assembled.build_model, assembled.data, assembled.train_config(0), max_size=max(1, -(-n_trials // 2))
    )


def run_task(
    task: BenchTask,
    *,
    quick: bool,
    device: str,
    threads: int,
    baseline_threads: int,
    family: str,
    pruner: str,
    repeats: int,
    fuse: int | None,
    trials: int | None,
    epochs: int | None,
    storage: str,
    paths: Sequence[str],
    prune_accounting: bool,
    log: Callable[[str], None],
    baseline: str = "auto",
) -> dict[str, Any]:
    """Measure every path on one task; returns the JSON-able record of the task.

    ``baseline`` is ``--baseline`` (``auto``, ``tensor`` or ``torchvision``), resolved per dataset
    by :func:`~lrtune.bench.baseline.baseline_kind`.
    """
    n_epochs = epochs or (task.quick_epochs if quick else task.epochs)
    n_trials = trials or (task.quick_trials if quick else task.trials)
    task_cfg = task_config(task, epochs=n_epochs, pruner=pruner)
    assembled = assemble_task(task, task_cfg, quick=quick, device=device)
    data = assembled.data
    kind = baseline_kind(data.name, baseline)
    torch.set_num_threads(threads)
    probe = None
    if fuse:
        k = fuse
    elif quick:
        k = task.quick_fuse
    else:
        probe = _probe_group_size(assembled, n_trials)
        k = probe.size
        log(f"  {task.name}: {probe.describe()}")
    gflops = matmul_gflops(device=device)
    model = assembled.build_model(0).to(device)
    floor = compute_floor(model, data, gflops)
    warm_up(task_cfg, family, data, threads, baseline=kind)
    record: dict[str, Any] = {
        "task": task.name,
        "description": task.description,
        "dataset": task.dataset,
        "model": task.model,
        "epochs": n_epochs,
        "trials": n_trials,
        "fuse": k,
        "batch_size": task_cfg.batch_size,
        "optimizer": task_cfg.optimizer,
        "family": family,
        "pruner": pruner,
        "sampler": task_cfg.sampler,
        "sizes": data.sizes,
        "matmul_gflops": gflops,
        **floor,
        "threads": {"baseline": baseline_threads, "lrtune": threads, "fused": threads},
        "repeats": repeats,
        "baseline_dataset": kind,
        "paths": {},
        "fuse_probe_ms_per_member_step": {str(kk): v * 1e3 for kk, v in probe.member_step_s.items()}
        if probe
        else None,
    }
    studies: dict[str, optuna.Study] = {}
    for path in paths:
        times, study = [], None
        for r in range(repeats):
            log(f"  {task.name}: {path} run {r + 1}/{repeats} ({n_trials} trials x {n_epochs} epochs)")
            study, seconds = run_path(
                path,
                task_cfg,
                family,
                data,
                trials=n_trials,
                fuse=k,
                threads=baseline_threads if path == "baseline" else threads,
                storage=bench_storage(storage, task, path, r),
                pruner=pruner,
                baseline=kind,
            )
            times.append(seconds)
        record["paths"][path] = {
            **summarise(study, statistics.median(times), floor["floor_s_per_epoch"]),
            "seconds_all": times,
        }
        studies[path] = study
    base = record["paths"].get("baseline")
    for summary in record["paths"].values():
        summary["trials_per_min_x_baseline"] = (
            summary["trials_per_min"] / base["trials_per_min"] if base else math.nan
        )
        summary["model_epochs_per_s_x_baseline"] = (
            summary["model_epochs_per_s"] / base["model_epochs_per_s"] if base else math.nan
        )
    if prune_accounting and "fused" in studies and pruner != "none":
        log(f"  {task.name}: fused trials replayed unpruned (pruning accounting)")
        params = [t.params for t in sorted(studies["fused"].get_trials(deepcopy=False), key=lambda t: t.number)]
        unpruned, _ = run_path(
            "fused",
            task_cfg,
            family,
            data,
            trials=n_trials,
            fuse=k,
            threads=threads,
            storage=None,
            pruner="none",
            baseline=kind,
            enqueue=params,
        )
        record["pruning"] = pruning_accounting(studies["fused"], unpruned, n_epochs)
    return record
