"""Confirm until decided: ``python -m lrtune.analyze --confirm auto --max-seeds N``.

Racing rounds over the confirmation seeds of :mod:`lrtune.tuning.confirmations`: each round,

1. read the stored confirmation runs of every family of a task (its current best
   configuration, seeds ``CONFIRM_SEED_BASE + j`` in run order, scores in the task's metric
   oriented so that higher is better),
2. ask the verdict rule which families still race (:func:`lrtune.stats.still_racing`: a family is
   dropped once it is beaten — its betting wealth against "it is the best" reached 2/α; nobody
   races once a winner is named),
3. train the next seed for every family that still races — all of them as one stacked group
   where they stack (:func:`run_confirmations` with the racing studies and k + 1),

until a winner is named, every family is dropped, or the families have ``max_seeds`` seeds.
Every round's runs are stored before the next starts, so a killed race keeps its finished
rounds, and a later call (with the same or a larger ``max_seeds``) replays the stored runs and
continues from there. The verdict is valid whenever it is looked at (see
:mod:`lrtune.stats.elimination`), so continuing a race never spends α twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import optuna

from lrtune import stats
from lrtune.tuning import keys
from lrtune.tuning.confirmations import check_horizon, confirm_study_name, run_confirmations
from lrtune.tuning.own_confirm import CONFIRM_SEED_BASE, DEFAULT_MAX_SEEDS
from lrtune.tuning.storage import open_storage

__all__ = ["DEFAULT_MAX_SEEDS", "Race", "check_max_seeds", "race_confirmations", "stored_runs"]

# DEFAULT_MAX_SEEDS (16): 4 families decide within 16 seeds ≥ 80 % of the time when one beats
# the others with P(A > B) = 0.9 (docs/verdict.md); 64 runs at most.


def check_max_seeds(max_seeds: object) -> int:
    """``max_seeds`` as an int ≥ 1, else ``ValueError``."""
    if isinstance(max_seeds, bool) or not isinstance(max_seeds, int) or max_seeds < 1:
        raise ValueError(f"max_seeds must be an integer ≥ 1, but got {max_seeds!r}")
    return max_seeds


@dataclass
class Race:
    """One task's race: seeds per family, who still races, the winner, runs trained this call."""

    task: str
    studies: dict[str, str]  # search study → family
    seeds: dict[str, int] = field(default_factory=dict)  # family → seeds stored
    racing: list[str] = field(default_factory=list)
    winner: str | None = None
    trained: int = 0
    rounds: int = 0  # rounds run by this call

    @property
    def runs(self) -> int:
        return sum(self.seeds.values())

    @property
    def fixed_runs(self) -> int:
        """What a fixed design with as many seeds as the longest-running family would spend."""
        return len(self.studies) * max(self.seeds.values(), default=0)


def stored_runs(
    storage: optuna.storages.BaseStorage, search_study: str, horizon: int = 1
) -> tuple[list[int], list[float]]:
    """The consecutive confirmation runs (seeds from ``CONFIRM_SEED_BASE`` on) stored for the
    current best trial of ``search_study``: (seeds, scores), scores higher = better (the task's
    metric, negated when the study minimises)."""
    search = optuna.load_study(study_name=search_study, storage=storage)
    complete = search.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return [], []
    best = max(complete, key=keys.trial_rank(search.direction))
    try:
        target = optuna.load_study(study_name=confirm_study_name(search_study, horizon), storage=storage)
    except KeyError:
        return [], []
    sign = -1.0 if search.direction == optuna.study.StudyDirection.MINIMIZE else 1.0
    by_seed = {}
    for t in target.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        if t.user_attrs.get("source_trial") == best.number:
            score = t.user_attrs.get("test_score", t.user_attrs.get("test_accuracy"))
            by_seed[t.user_attrs.get("seed")] = sign * float(score)
    seeds, scores = [], []
    while CONFIRM_SEED_BASE + len(seeds) in by_seed:
        seeds.append(CONFIRM_SEED_BASE + len(seeds))
        scores.append(by_seed[seeds[-1]])
    return seeds, scores


def _tasks(storage: optuna.storages.BaseStorage, studies: Sequence[str] | None) -> dict[str, dict[str, str]]:
    """{task key: {search study: family}} for lrtune's search studies (or the named ones)."""
    out: dict[str, dict[str, str]] = {}
    for s in optuna.get_all_study_summaries(storage, include_best_trial=False):
        attrs = s.user_attrs
        if attrs.get(keys.KIND, keys.KIND_SEARCH) != keys.KIND_SEARCH or keys.CONFIG not in attrs:
            continue
        if studies and s.study_name not in set(studies):
            continue
        task = str(attrs.get(keys.TASK) or json.dumps(attrs[keys.CONFIG], sort_keys=True, default=str))
        out.setdefault(task, {})[s.study_name] = str(attrs[keys.FAMILY])
    return {task: dict(sorted(group.items())) for task, group in sorted(out.items())}


def race_confirmations(
    storage: str | optuna.storages.BaseStorage,
    studies: Sequence[str] | None = None,
    max_seeds: int = DEFAULT_MAX_SEEDS,
    *,
    alpha: float = 0.05,
    device: str = "cpu",
    data_dir: str = "data",
    progress: Callable[[str], None] | None = None,
    fuse: int | None = None,
    horizon: int = 1,
) -> list[Race]:
    """Race the confirmations of every task (see the module docstring); one :class:`Race` per task.

    ``horizon`` M races the runs at M× the tuning epochs (their own studies, the same seeds).
    """
    max_seeds = check_max_seeds(max_seeds)
    horizon = check_horizon(horizon)
    if isinstance(storage, str):
        storage = open_storage(storage, heartbeat=False)
    races = []
    for task, group in _tasks(storage, studies).items():
        race = Race(task=task, studies=group)
        while True:
            stored = {name: stored_runs(storage, name, horizon) for name in group}
            samples = {group[name]: scores for name, (_, scores) in stored.items()}
            seeds = {group[name]: ids for name, (ids, _) in stored.items()}
            race.seeds = {f: len(v) for f, v in samples.items()}
            race.racing = stats.still_racing(samples, seeds, alpha=alpha) if len(group) > 1 else []
            done = [f for f, v in samples.items() if len(v)]
            if len(done) >= 2:
                v = stats.verdict(samples={f: samples[f] for f in done}, seeds=seeds, alpha=alpha)
                race.winner = v.winner
            n = max(race.seeds.values(), default=0)
            if not race.racing or n >= max_seeds and all(race.seeds[f] >= max_seeds for f in race.racing):
                break
            target = min(n + 1, max_seeds) if all(race.seeds[f] == n for f in race.racing) else n
            names = [
                name for name, family in group.items() if family in race.racing and race.seeds[family] < target
            ]
            if progress:
                progress(f"race round {target}: {', '.join(race.racing)} ({len(names)} run(s))")
            run_confirmations(
                storage,
                names,
                target,
                device=device,
                data_dir=data_dir,
                progress=progress,
                fuse=fuse,
                horizon=horizon,
            )
            race.trained += len(names)
            race.rounds += 1
        races.append(race)
    return races
