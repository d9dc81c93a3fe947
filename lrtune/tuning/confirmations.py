"""Confirmation runs: re-train each family's best configuration with K fresh seeds, unpruned.

Search values are optimistically biased (the best of many noisy trials) and pruning judged
trials mid-run; a verdict rests on fresh seeds instead. For each lrtune search study:

* take its best COMPLETE trial (best final validation score by the study's direction: highest
  accuracy, or lowest loss for a task whose metric is minimised),
* train that exact schedule (``Schedule.from_params``) with seeds ``CONFIRM_SEED_BASE + j``,
  j = 0…K−1 — the same seeds for every family (paired), none used by the search — for the full
  epochs, no pruning, and evaluate once on the test set,
* train the missing runs stacked (all families × seeds of one task in groups of a measured size,
  each member with its own seed for initialisation and batch order — the same runs as one by one),
* store each run as a COMPLETE trial of the study ``"<search study>:confirm"``
  (``lrtune_kind = "confirm"``, the search study's direction) with user attrs ``family``,
  ``seed``, ``source_trial``, ``val_accuracy``, ``test_accuracy``, ... (``val_score``,
  ``test_score`` for a task's own metric), the final validation score as value and the per-epoch
  validation scores as intermediate values, so they are inspectable in optuna-dashboard.

With ``horizon=M`` (an integer ≥ 2) the same configurations are re-trained for M× the tuning
epochs, with the same confirmation seeds (paired across families and across horizons), into
``"<search study>:confirm@xM"`` (``lrtune_kind = "horizon"``, ``lrtune_horizon = M``): the
horizon check of ``python -m lrtune.analyze --confirm K --horizon M``.

Runs already stored for the same source trial and seed are not recomputed. If the search found a
new best since, the new best is confirmed and the confirm study's ``lrtune_confirmed_trial``
points at it (older runs stay stored, marked by their ``source_trial``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import optuna

from lrtune.core.schedules import Schedule
from lrtune.training.fused import train_fused
from lrtune.training.group_size import measure_group_size
from lrtune.tuning import keys
from lrtune.tuning.assembly import assemble
from lrtune.tuning.config import TaskConfig
from lrtune.tuning.keys import confirm_study_name
from lrtune.tuning.objective import trial_attrs
from lrtune.tuning.optuna_compat import name_metric
from lrtune.tuning.own_confirm import CONFIRM_SEED_BASE  # far from every search seed (base_seed·1000003 + n)
from lrtune.tuning.storage import open_storage

__all__ = ["CONFIRM_SEED_BASE", "ConfirmedRun", "check_horizon", "confirm_study_name", "run_confirmations"]


def check_horizon(horizon: object) -> int:
    """``horizon`` as an int ≥ 1 (1 = the tuning horizon), else ``ValueError``."""
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"horizon must be an integer multiple ≥ 1 of the tuning epochs, but got {horizon!r}")
    return horizon


@dataclass(frozen=True)
class ConfirmedRun:
    """One confirmation run; ``test_score``/``val_score`` in the task's metric (= the accuracies by default)."""

    study: str
    family: str
    seed: int
    test_accuracy: float
    val_accuracy: float
    reused: bool
    test_score: float = float("nan")
    val_score: float = float("nan")


def _search_studies(
    storage: optuna.storages.BaseStorage, names: Sequence[str] | None
) -> list[optuna.study.StudySummary]:
    summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
    chosen = [
        s
        for s in summaries
        if s.user_attrs.get(keys.KIND, keys.KIND_SEARCH) == keys.KIND_SEARCH and keys.CONFIG in s.user_attrs
    ]
    if names:
        chosen = [s for s in chosen if s.study_name in set(names)]
    return sorted(chosen, key=lambda s: s.study_name)


def _confirm_study(
    storage, search: optuna.Study, best: optuna.trial.FrozenTrial, horizon: int = 1
) -> optuna.Study:
    study = optuna.create_study(
        study_name=confirm_study_name(search.study_name, horizon),
        storage=storage,
        direction=search.direction,  # the task metric's
        load_if_exists=True,
    )
    attrs = search.user_attrs
    for key in (keys.VERSION, keys.CONFIG, keys.FAMILY, keys.TASK):
        if key in attrs and study.user_attrs.get(key) != attrs[key]:
            study.set_user_attr(key, attrs[key])
    study.set_user_attr(keys.KIND, keys.KIND_CONFIRM if horizon == 1 else keys.KIND_HORIZON)
    if horizon != 1:
        study.set_user_attr(keys.HORIZON, horizon)
    study.set_user_attr(keys.SOURCE_STUDY, search.study_name)
    study.set_user_attr(keys.CONFIRMED_TRIAL, best.number)
    metric = attrs.get(keys.CONFIG, {}).get("metric", "accuracy")
    name_metric(study, (search.metric_names or [f"validation {metric}"])[0])  # the value: the search's metric
    return study


def run_confirmations(
    storage: str | optuna.storages.BaseStorage,
    studies: Sequence[str] | None = None,
    k: int = 5,
    *,
    device: str = "cpu",
    data_dir: str = "data",
    progress: Callable[[str], None] | None = None,
    fuse: int | None = None,
    horizon: int = 1,
) -> list[ConfirmedRun]:
    """Confirm the best trial of every lrtune search study (or the named ones) with ``k`` seeds.

    The missing runs are trained **stacked** (:func:`lrtune.training.fused.train_fused`): all families'
    best configurations × all seeds that share one task form groups of ``fuse`` members, each
    member with its own initialisation *and* batch order (its seed), so a stacked confirmation run
    is the solo run ``train(build_model(..., seed=s), data, schedule, config(seed=s))``.
    ``fuse=None`` measures the group size (:func:`lrtune.training.group_size.measure_group_size`);
    ``fuse=1`` trains them one by one; models that can't be stacked are trained one by one.
    ``horizon`` M trains for M× the tuning epochs (stored apart, see the module docstring).
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k (confirmation seeds) must be an integer ≥ 1, but got {k!r}")
    if fuse is not None and (isinstance(fuse, bool) or not isinstance(fuse, int) or fuse < 1):
        raise ValueError(f"fuse must be an integer ≥ 1, but got {fuse!r}")
    horizon = check_horizon(horizon)
    if isinstance(storage, str):
        storage = open_storage(storage, heartbeat=False)
    runs: dict[tuple[str, int], ConfirmedRun] = {}
    order: list[tuple[str, int]] = []
    pending: dict[str, list[_Pending]] = {}  # runs to train, by what they must share to be stacked
    for summary in _search_studies(storage, studies):
        search = optuna.load_study(study_name=summary.study_name, storage=storage)
        complete = search.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if not complete:
            continue
        best = max(complete, key=keys.trial_rank(search.direction))  # lowest loss first when minimising
        task = TaskConfig.from_dict(summary.user_attrs[keys.CONFIG])
        family = summary.user_attrs[keys.FAMILY]
        schedule = Schedule.from_params(best.params, family=family)
        target = _confirm_study(storage, search, best, horizon)
        done = {
            t.user_attrs.get("seed"): t
            for t in target.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if t.user_attrs.get("source_trial") == best.number
        }
        for j in range(k):
            seed = CONFIRM_SEED_BASE + j
            order.append((target.study_name, seed))
            if seed in done:
                t = done[seed]
                runs[(target.study_name, seed)] = ConfirmedRun(
                    target.study_name,
                    family,
                    seed,
                    t.user_attrs["test_accuracy"],
                    t.user_attrs.get("val_accuracy", t.value),
                    True,
                    t.user_attrs.get("test_score", t.user_attrs["test_accuracy"]),
                    t.value,
                )
                continue
            key = json.dumps(task.to_dict(), sort_keys=True, default=str)  # runs of one task can be stacked
            pending.setdefault(key, []).append(
                _Pending(summary.study_name, target, best, task, family, schedule, seed)
            )
    for group in pending.values():
        task = group[0].task
        assembled = assemble(task, data_dir=data_dir, device=device)
        data = assembled.data
        config = assembled.train_config(group[0].seed, epochs=task.epochs * horizon)
        build = assembled.build_model
        size = fuse if fuse is not None else measure_group_size(build, data, config, max_size=len(group)).size
        for start in range(0, len(group), size):
            chunk = group[start : start + size]
            if progress:
                names = ", ".join(f"{p.study_name} seed {p.seed - CONFIRM_SEED_BASE + 1}" for p in chunk)
                progress(f"confirm {len(chunk)} run(s) stacked: {names}" if len(chunk) > 1 else f"confirm {names}")
            started = time.perf_counter()
            members = train_fused(
                [build(p.seed) for p in chunk],
                data,
                [p.schedule for p in chunk],
                config=config,
                data_seeds=[p.seed for p in chunk],
                mode="auto" if len(chunk) > 1 else "sequential",
            )
            elapsed = time.perf_counter() - started
            for p, member in zip(chunk, members):
                result = member.result
                seconds = result.seconds if len(chunk) > 1 else elapsed
                attrs = {**trial_attrs(p.family, p.seed, result, seconds=seconds), "source_trial": p.best.number}
                if len(chunk) > 1:
                    attrs["fuse_group_size"] = len(chunk)
                p.target.add_trial(
                    optuna.trial.create_trial(
                        params=p.best.params,
                        distributions=p.best.distributions,
                        value=float(result.val_score),
                        intermediate_values={i + 1: v for i, v in enumerate(result.val_scores)},
                        user_attrs=attrs,
                    )
                )
                runs[(p.target.study_name, p.seed)] = ConfirmedRun(
                    p.target.study_name,
                    p.family,
                    p.seed,
                    float(result.test_accuracy),
                    float(result.val_accuracy),
                    False,
                    float(result.test_score),
                    float(result.val_score),
                )
    return [runs[key] for key in order]


@dataclass(frozen=True)
class _Pending:
    """One confirmation run still to train."""

    study_name: str
    target: optuna.Study
    best: optuna.trial.FrozenTrial
    task: TaskConfig
    family: str
    schedule: Schedule
    seed: int
