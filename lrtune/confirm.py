"""Confirmation runs: re-train each family's best configuration with K fresh seeds, unpruned.

Search values are optimistically biased (the best of many noisy trials) and pruning judged
trials mid-run; a verdict rests on fresh seeds instead. For each lrtune search study:

* take its best COMPLETE trial (highest final validation accuracy),
* train that exact schedule (``Schedule.from_params``) with seeds ``CONFIRM_SEED_BASE + j``,
  j = 0…K−1 — the same seeds for every family (paired), none used by the search — for the full
  epochs, no pruning, and evaluate once on the test set,
* store each run as a COMPLETE trial of the study ``"<search study>:confirm"``
  (``lrtune_kind = "confirm"``) with user attrs ``family``, ``seed``, ``source_trial``,
  ``val_accuracy``, ``test_accuracy``, ... and the per-epoch validation accuracies as
  intermediate values, so they are inspectable in optuna-dashboard.

With ``horizon=M`` (an integer ≥ 2) the same configurations are re-trained for M× the tuning
epochs, with the same confirmation seeds (paired across families and across horizons), into
``"<search study>:confirm@xM"`` (``lrtune_kind = "horizon"``, ``lrtune_horizon = M``): the
horizon check of ``python -m lrtune.analyze --confirm K --horizon M``.

Runs already stored for the same source trial and seed are not recomputed. If the search found a
new best since, the new best is confirmed and the confirm study's ``lrtune_confirmed_trial``
points at it (older runs stay stored, marked by their ``source_trial``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import optuna

from lrtune.config import TaskConfig
from lrtune.data import load_dataset
from lrtune.models import build_model
from lrtune.objective import record_trial
from lrtune.schedules import Schedule
from lrtune.train import TrainConfig, train

__all__ = ["CONFIRM_SEED_BASE", "ConfirmedRun", "check_horizon", "confirm_study_name", "run_confirmations"]

CONFIRM_SEED_BASE = 900_000_000
"""Confirmation seeds start here, far from every search seed (base_seed·1000003 + trial number)."""


def confirm_study_name(search_study_name: str, horizon: int = 1) -> str:
    """``"<search>:confirm"``; at ``horizon`` M ≥ 2 (M× the tuning epochs) ``"<search>:confirm@xM"``."""
    return f"{search_study_name}:confirm" if horizon == 1 else f"{search_study_name}:confirm@x{horizon}"


def check_horizon(horizon: object) -> int:
    """``horizon`` as an int ≥ 1 (1 = the tuning horizon), else ``ValueError``."""
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"horizon must be an integer multiple ≥ 1 of the tuning epochs, but got {horizon!r}")
    return horizon


@dataclass(frozen=True)
class ConfirmedRun:
    study: str
    family: str
    seed: int
    test_accuracy: float
    val_accuracy: float
    reused: bool


class _Recorder:
    """Collects ``record_trial``'s attrs without a live trial."""

    def __init__(self) -> None:
        self.user_attrs: dict = {}

    def set_user_attr(self, key, value) -> None:
        self.user_attrs[key] = value


def _search_studies(storage: optuna.storages.BaseStorage, names: Sequence[str] | None) -> list[optuna.study.StudySummary]:
    summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
    chosen = [s for s in summaries if s.user_attrs.get("lrtune_kind", "search") == "search" and "lrtune_config" in s.user_attrs]
    if names:
        chosen = [s for s in chosen if s.study_name in set(names)]
    return sorted(chosen, key=lambda s: s.study_name)


def _confirm_study(storage, search: optuna.Study, best: optuna.trial.FrozenTrial, horizon: int = 1) -> optuna.Study:
    study = optuna.create_study(study_name=confirm_study_name(search.study_name, horizon), storage=storage, direction="maximize", load_if_exists=True)
    attrs = search.user_attrs
    for key in ("lrtune_version", "lrtune_config", "lrtune_family", "lrtune_task"):
        if key in attrs and study.user_attrs.get(key) != attrs[key]:
            study.set_user_attr(key, attrs[key])
    study.set_user_attr("lrtune_kind", "confirm" if horizon == 1 else "horizon")
    if horizon != 1:
        study.set_user_attr("lrtune_horizon", horizon)
    study.set_user_attr("lrtune_source_study", search.study_name)
    study.set_user_attr("lrtune_confirmed_trial", best.number)
    return study


def run_confirmations(
    storage: str | optuna.storages.BaseStorage,
    studies: Sequence[str] | None = None,
    k: int = 5,
    *,
    device: str = "cpu",
    data_dir: str = "data",
    progress: Callable[[str], None] | None = None,
    horizon: int = 1,
) -> list[ConfirmedRun]:
    """Confirm the best trial of every lrtune search study (or the named ones) with ``k`` seeds.

    ``horizon`` M trains for M× the tuning epochs (stored apart, see the module docstring).
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k (confirmation seeds) must be an integer ≥ 1, but got {k!r}")
    horizon = check_horizon(horizon)
    if isinstance(storage, str):
        from lrtune.storage import open_storage

        storage = open_storage(storage, heartbeat=False)
    runs: list[ConfirmedRun] = []
    datasets: dict[tuple, object] = {}
    for summary in _search_studies(storage, studies):
        search = optuna.load_study(study_name=summary.study_name, storage=storage)
        complete = search.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if not complete:
            continue
        best = max(complete, key=lambda t: (t.value, -t.number))
        task = TaskConfig.from_dict(summary.user_attrs["lrtune_config"])
        family = summary.user_attrs["lrtune_family"]
        schedule = Schedule.from_params(best.params, family=family)
        target = _confirm_study(storage, search, best, horizon)
        done = {
            t.user_attrs.get("seed"): t
            for t in target.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if t.user_attrs.get("source_trial") == best.number
        }
        key = (task.dataset, task.seed, task.val_fraction)
        for j in range(k):
            seed = CONFIRM_SEED_BASE + j
            if seed in done:
                t = done[seed]
                runs.append(ConfirmedRun(target.study_name, family, seed, t.user_attrs["test_accuracy"], t.value, True))
                continue
            if key not in datasets:
                datasets[key] = load_dataset(task.dataset, data_dir=data_dir, val_fraction=task.val_fraction, seed=task.seed, device=device)
            data = datasets[key]
            if progress:
                at = "" if horizon == 1 else f" at {horizon}x epochs"
                progress(f"confirm {summary.study_name} (trial {best.number}){at} seed {j + 1}/{k}")
            started = time.perf_counter()
            model = build_model(task.model, input_shape=data.input_shape, n_classes=data.n_classes, seed=seed)
            config = TrainConfig(epochs=task.epochs * horizon, batch_size=task.batch_size, optimizer=task.optimizer, weight_decay=task.weight_decay, seed=seed)
            result = train(model, data, schedule, config=config)
            recorder = _Recorder()
            record_trial(recorder, family, seed, result, seconds=time.perf_counter() - started)  # type: ignore[arg-type]
            recorder.user_attrs["source_trial"] = best.number
            target.add_trial(
                optuna.trial.create_trial(
                    params=best.params,
                    distributions=best.distributions,
                    value=float(result.val_accuracy),
                    intermediate_values={i + 1: v for i, v in enumerate(result.val_accuracies)},
                    user_attrs=recorder.user_attrs,
                )
            )
            runs.append(ConfirmedRun(target.study_name, family, seed, float(result.test_accuracy), float(result.val_accuracy), False))
    return runs
