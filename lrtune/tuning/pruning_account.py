"""What pruning cost each family (the logic behind ``python -m lrtune.prune_accounting``): replay a pruned search unpruned, and try other pruning policies.

Pruning judges a trial mid-run by its validation score (the task's metric: accuracy by default) at
equal epochs. A schedule that keeps
its LR high until late (wsd with a short final decay, step with a late first drop) has not
annealed yet when it is judged and looks worse than it will end. This module measures whether
that removed a family's best configuration:

1. the search (one lrtune study per family, pruned) is run or resumed with ``lrtune.study``;
2. every PRUNED trial is **replayed unpruned** — same parameters, same seed, so same
   initialisation and batch order, all epochs — and stored as a trial of the study
   ``"<search study>:unpruned"`` (study attr ``lrtune_replay_of``; these studies carry no
   ``lrtune_config`` so the analysis and the confirmations never mistake them for searches).
   Replays already stored are reused; a COMPLETE trial is its own replay (it ran all epochs);
3. per family: was the best unpruned configuration pruned, and how much lower is the best
   score the pruned search kept (``drop``, accuracy points);
4. with every trial's full learning curve known, pruning **policies** are re-played offline on
   the same trials in the same order through Optuna's own ``MedianPruner``: ``median`` (the
   rule the search ran: judged at epochs ⌈E/2⌉..E−1) and ``median-decay`` (the same, but a
   trial is not judged before its own LR has begun to decay: the first epoch ≥ ⌈E/2⌉ whose
   end-of-epoch multiplier is below 99 % of its peak, see :func:`decay_start_epoch`; a
   schedule that never decays is judged from ⌈E/2⌉), and ``median-legacy`` (lrtune's rule
   before: from ⌊E/2⌋, final epoch included). The replayed ``median`` must reproduce the
   search's own decisions, which checks the replay.

``python -m lrtune.prune_accounting --family step,wsd,cosine,onecycle --trials 12`` (also
``python -m lrtune.bench --prune-accounting ...``) prints the table; ``--no-search`` only replays
what a storage already holds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna

from lrtune.core.schedules import Schedule
from lrtune.errors import LrtuneError
from lrtune.training.data import Dataset
from lrtune.training.train import TrainResult, train
from lrtune.tuning import keys
from lrtune.tuning.assembly import AssembledTask, assemble
from lrtune.tuning.config import TaskConfig
from lrtune.tuning.pruning import legacy_pruning_start, may_prune, pruning_start

__all__ = [
    "POLICIES",
    "REPLAY_SUFFIX",
    "AccountError",
    "FamilyAccount",
    "ReplayedTrial",
    "account_family",
    "account_pruning",
    "decay_start_epoch",
    "first_judged_epoch",
    "format_table",
    "replay_pruned_trials",
    "search_studies",
    "simulate_policy",
    "stored_steps_per_epoch",
]

POLICIES: tuple[str, ...] = ("median", "median-decay", "median-legacy")
REPLAY_SUFFIX = ":unpruned"


def decay_start_epoch(schedule: Schedule, epochs: int, steps_per_epoch: int) -> int | None:
    """The first epoch (1-based) whose end-of-epoch LR multiplier is below 99 % of the peak
    reached so far, or None when the schedule never decays within ``epochs`` (constant;
    plateau, whose decay depends on the run, counts as never)."""
    total = epochs * steps_per_epoch
    ends = np.arange(1, epochs + 1) * steps_per_epoch - 1
    m = schedule.curve_multipliers(total, steps=np.arange(total))
    peak = np.maximum.accumulate(m)
    below = np.nonzero(m[ends] < 0.99 * peak[ends])[0]
    return int(below[0]) + 1 if below.size else None


def first_judged_epoch(policy: str, schedule: Schedule, epochs: int, steps_per_epoch: int) -> int:
    """The first epoch at which ``policy`` may prune this trial (E = never)."""
    start = pruning_start(epochs)
    if policy == "median":
        return start
    if policy == "median-decay":
        decay = decay_start_epoch(schedule, epochs, steps_per_epoch)
        return start if decay is None else max(start, decay)
    if policy == "median-legacy":
        return legacy_pruning_start(epochs)
    raise ValueError(f"unknown policy {policy!r}; valid: {', '.join(POLICIES)}")


@dataclass
class ReplayedTrial:
    number: int
    pruned: bool
    epochs_run: int
    pruned_value: float | None
    curve: list[float]  # validation score (the task's metric) after every epoch, all E epochs
    test_score: float
    schedule: Schedule
    reported: list[float]  # what the search's run reported (a prefix of curve, if the replay is exact)


def _load_task(study: optuna.Study) -> TaskConfig:
    return TaskConfig.from_dict(study.user_attrs[keys.CONFIG])


def _replay_study(storage: optuna.storages.BaseStorage, search: optuna.Study) -> optuna.Study:
    replay = optuna.create_study(
        study_name=search.study_name + REPLAY_SUFFIX,
        storage=storage,
        direction=search.direction.name.lower(),
        load_if_exists=True,
    )
    if replay.user_attrs.get(keys.REPLAY_OF) != search.study_name:
        replay.set_user_attr(keys.REPLAY_OF, search.study_name)
        replay.set_user_attr(keys.REPLAY_CONFIG, search.user_attrs[keys.CONFIG])
    return replay


def _replay_attrs(source: int, seed: int, result: TrainResult, seconds: float, spe: int) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "source_trial": source,
        "seed": seed,
        "test_accuracy": float(result.test_accuracy),
        "val_accuracy": float(result.val_accuracy),
        "epochs_run": int(result.epochs_run),
        "diverged": bool(result.diverged),
        "seconds": round(seconds, 3),
        "steps_per_epoch": spe,
    }
    if result.metric != "accuracy":  # a task's own metric: its scores next to the accuracies
        attrs.update(metric=result.metric, val_score=float(result.val_score), test_score=float(result.test_score))
    return attrs


def _completed(replay: optuna.Study) -> dict[int, optuna.trial.FrozenTrial]:
    return {
        t.user_attrs.get("source_trial"): t
        for t in replay.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    }


def replay_pruned_trials(
    search: optuna.Study,
    *,
    storage: optuna.storages.BaseStorage,
    data: Dataset | None = None,
    device: str = "cpu",
    data_dir: str = "data",
    progress: Callable[[str], None] | None = None,
) -> list[ReplayedTrial]:
    """Every finished trial of ``search`` with its full, unpruned validation curve (the task's metric).

    PRUNED trials are re-trained for all epochs with their own parameters and seed (stored in
    ``<study>:unpruned``; stored replays are reused), on the task as
    :func:`lrtune.tuning.assembly.assemble` builds it from the stored configuration (built-in or
    ``--task``, any metric). A replay must reproduce the pruned run's reported epochs (same seed,
    same arithmetic): ``curve[:epochs_run]`` equals the pruned trial's intermediate values, which
    :func:`account_family` reports as ``max_prefix_diff``.
    """

    task = _load_task(search)
    family = search.user_attrs[keys.FAMILY]
    replay = _replay_study(storage, search)
    stored = _completed(replay)
    assembled: AssembledTask | None = None
    out: list[ReplayedTrial] = []
    finished = search.get_trials(deepcopy=False, states=keys.FINISHED_STATES)
    for trial in sorted(finished, key=lambda t: t.number):
        schedule = Schedule.from_params(trial.params, family=family)
        intermediate = [trial.intermediate_values[e] for e in sorted(trial.intermediate_values)]
        pruned = trial.state == optuna.trial.TrialState.PRUNED
        if not pruned:
            test = trial.user_attrs.get("test_score", trial.user_attrs.get("test_accuracy", math.nan))
            out.append(
                ReplayedTrial(
                    trial.number, False, len(intermediate), None, intermediate, float(test), schedule, intermediate
                )
            )
            continue
        if trial.number not in stored:
            if assembled is None:
                assembled = assemble(task, device=device, data_dir=data_dir, data=data)
            if progress:
                progress(f"replay {search.study_name} trial {trial.number} unpruned")
            seed = int(trial.user_attrs["seed"])
            started = time.perf_counter()
            result = train(
                assembled.build_model(seed), assembled.data, schedule, config=assembled.train_config(seed)
            )
            replay.add_trial(
                optuna.trial.create_trial(
                    params=trial.params,
                    distributions=trial.distributions,
                    value=float(result.val_score),
                    intermediate_values={i + 1: float(v) for i, v in enumerate(result.val_scores)},
                    user_attrs=_replay_attrs(
                        trial.number, seed, result, time.perf_counter() - started, assembled.steps_per_epoch
                    ),
                )
            )
            stored = _completed(replay)
        again = stored[trial.number]
        curve = [again.intermediate_values[e] for e in sorted(again.intermediate_values)]
        test = again.user_attrs.get("test_score", again.user_attrs.get("test_accuracy", math.nan))
        out.append(
            ReplayedTrial(
                trial.number,
                True,
                len(intermediate),
                intermediate[-1] if intermediate else None,
                curve,
                float(test),
                schedule,
                intermediate,
            )
        )
    return out


def simulate_policy(
    trials: Sequence[ReplayedTrial],
    policy: str,
    *,
    epochs: int,
    steps_per_epoch: int,
    n_startup_trials: int = 5,
    direction: str = "maximize",
) -> dict[int, tuple[int, bool]]:
    """Replay ``policy`` on the trials' full curves, in trial order, through Optuna's
    ``MedianPruner(n_startup_trials, n_warmup_steps=⌈E/2⌉)``; returns {trial number: epochs it
    would have run, whether it was pruned)}. ``median-legacy`` is the rule lrtune had before
    :mod:`lrtune.tuning.pruning`: from epoch ⌊E/2⌋ on, the final epoch included (a trial pruned at
    epoch E had run its whole budget and lost its score)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    legacy = policy == "median-legacy"
    warmup = legacy_pruning_start(epochs) if legacy else pruning_start(epochs)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=n_startup_trials, n_warmup_steps=warmup)
    study = optuna.create_study(direction=direction, pruner=pruner)
    ran: dict[int, tuple[int, bool]] = {}
    for item in trials:
        trial = study.ask()
        first = first_judged_epoch(policy, item.schedule, epochs, steps_per_epoch)
        ran[item.number] = (epochs, False)
        for epoch, value in enumerate(item.curve[:epochs], start=1):
            trial.report(value, epoch)
            allowed = epoch >= first and (legacy or may_prune(epoch, epochs))
            if allowed and trial.should_prune():
                ran[item.number] = (epoch, True)
                break
        if ran[item.number][1]:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, item.curve[epochs - 1])
    return ran


@dataclass
class FamilyAccount:
    """One family's pruning account under one policy (values are validation scores of the task's
    metric; ``best`` means highest when it is maximised, lowest when minimised)."""

    family: str
    policy: str
    trials: int
    pruned: int
    epochs_run: int
    epochs_unpruned: int
    best_unpruned: float
    best_unpruned_trial: int
    best_was_pruned: bool
    best_kept: float
    best_kept_trial: int
    rank_of_kept: int  # rank (1 = best) of the kept best among all unpruned finals
    max_prefix_diff: float  # replay vs the pruned run over the epochs both ran (0 = exact)
    matches_search: bool | None = None  # the replayed policy reproduces the search's own pruning
    pruned_at_final: int = 0  # pruned after running all E epochs (only the legacy rule does that)
    metric: str = "accuracy"
    direction: str = "maximize"

    @property
    def drop(self) -> float:
        """How much worse the best kept score is than the best unpruned one (≥ 0), in metric units."""
        sign = 1.0 if self.direction == "maximize" else -1.0
        return sign * (self.best_unpruned - self.best_kept)

    @property
    def drop_points(self) -> float:
        """:attr:`drop` × 100 (percentage points of accuracy)."""
        return 100.0 * self.drop

    @property
    def saved(self) -> float:
        return 1.0 - self.epochs_run / self.epochs_unpruned


def account_family(
    family: str,
    trials: Sequence[ReplayedTrial],
    *,
    epochs: int,
    steps_per_epoch: int,
    policy: str | None = None,
    metric: str = "accuracy",
    direction: str = "maximize",
    search_policy: str | None = "median",
) -> FamilyAccount:
    """The account of the search as it ran (``policy=None``) or as ``policy`` would have run it.

    ``search_policy`` is the rule the search pruned with, when it is one of :data:`POLICIES`
    (a ``median`` search): replaying it must reproduce the search (``matches_search``); a
    Hyperband search (``None``) has nothing to reproduce.
    """
    sign = 1.0 if direction == "maximize" else -1.0
    finals = {t.number: t.curve[epochs - 1] for t in trials}
    if policy is None:
        ran = {t.number: (t.epochs_run if t.pruned else epochs, t.pruned) for t in trials}
        label = "as run"
    else:
        ran = simulate_policy(trials, policy, epochs=epochs, steps_per_epoch=steps_per_epoch, direction=direction)
        label = policy
    kept = {n: v for n, v in finals.items() if not ran[n][1]}
    best_n = max(finals, key=lambda n: (sign * finals[n], -n))
    kept_n = max(kept, key=lambda n: (sign * kept[n], -n)) if kept else best_n
    ordered = [sign * v for v in finals.values()]
    prefix = [max((abs(a - b) for a, b in zip(t.curve, t.reported)), default=0.0) for t in trials if t.pruned]
    account = FamilyAccount(
        family=family,
        policy=label,
        trials=len(trials),
        pruned=sum(p for _, p in ran.values()),
        epochs_run=sum(e for e, _ in ran.values()),
        epochs_unpruned=epochs * len(trials),
        best_unpruned=finals[best_n],
        best_unpruned_trial=best_n,
        best_was_pruned=ran[best_n][1],
        best_kept=kept.get(kept_n, math.nan),
        best_kept_trial=kept_n,
        rank_of_kept=1 + sum(v > sign * kept.get(kept_n, -sign * math.inf) for v in ordered),
        max_prefix_diff=max(prefix, default=0.0),
        pruned_at_final=sum(p and e == epochs for e, p in ran.values()),
        metric=metric,
        direction=direction,
    )
    if policy is not None and policy == search_policy:
        actual = {t.number: (t.epochs_run if t.pruned else epochs, t.pruned) for t in trials}
        account.matches_search = actual == ran
    return account


def format_table(accounts: Sequence[FamilyAccount]) -> str:
    """The accounts as a markdown table; the drop in accuracy points, or in the units of the
    task's own metric (named in the header)."""
    points = all(a.metric == "accuracy" for a in accounts)
    unit = "points" if points else f"{accounts[0].metric if accounts else 'score'}"
    head = (
        "| family | policy | trials | pruned | at final epoch | epochs run | saved | best unpruned (trial) "
        f"| was it pruned? | best kept (trial) | rank of kept | drop ({unit}) |"
    )
    rows = [head, "|" + "---|" * 12]
    for a in accounts:
        drop = f"{a.drop_points:.2f}" if points else f"{a.drop:.4f}"
        rows.append(
            f"| {a.family} | {a.policy} | {a.trials} | {a.pruned} | {a.pruned_at_final} | {a.epochs_run}/{a.epochs_unpruned} | {a.saved:.0%} "
            f"| {a.best_unpruned:.4f} (#{a.best_unpruned_trial}) | {'**yes**' if a.best_was_pruned else 'no'} "
            f"| {a.best_kept:.4f} (#{a.best_kept_trial}) | {a.rank_of_kept} | {drop} |"
        )
    return "\n".join(rows)


class AccountError(LrtuneError, ValueError):
    """Nothing to account for (no lrtune search study of the families in the storage)."""


def search_studies(storage: optuna.storages.BaseStorage, families: Sequence[str]) -> list[optuna.Study]:
    """lrtune's search studies of ``families`` in ``storage``, in the order of ``families``."""
    summaries = [
        s
        for s in optuna.get_all_study_summaries(storage, include_best_trial=False)
        if s.user_attrs.get(keys.KIND, keys.KIND_SEARCH) == keys.KIND_SEARCH
        and s.user_attrs.get(keys.FAMILY) in families
        and keys.CONFIG in s.user_attrs
    ]
    summaries.sort(key=lambda s: list(families).index(s.user_attrs[keys.FAMILY]))
    return [optuna.load_study(study_name=s.study_name, storage=storage) for s in summaries]


def account_pruning(
    storage: optuna.storages.BaseStorage,
    families: Sequence[str],
    *,
    policies: Sequence[str] = POLICIES,
    device: str = "cpu",
    data_dir: str = "data",
    progress: Callable[[str], None] | None = None,
) -> list[FamilyAccount]:
    """Per search study of ``families``: its account as run, then under every policy.

    Works for every search ``lrtune.study`` makes — built-in or ``--task`` tasks, any metric and
    direction, median or Hyperband pruning, fused groups — since replays train the task that
    :func:`lrtune.tuning.assembly.assemble` builds from the stored configuration. Raises
    :class:`AccountError` when the storage holds no search study of ``families``.
    """
    searches = search_studies(storage, families)
    if not searches:
        raise AccountError(f"no lrtune search study of {', '.join(families)} in this storage")
    accounts: list[FamilyAccount] = []
    for search in searches:
        task = _load_task(search)
        family = search.user_attrs[keys.FAMILY]
        trials = replay_pruned_trials(search, storage=storage, device=device, data_dir=data_dir, progress=progress)
        if not trials:
            continue
        common = {
            "epochs": task.epochs,
            "steps_per_epoch": stored_steps_per_epoch(search),
            "metric": task.metric,
            "direction": str(task.direction),
            "search_policy": task.pruner if task.pruner in POLICIES else None,
        }
        accounts.append(account_family(family, trials, **common))
        for policy in policies:
            accounts.append(account_family(family, trials, policy=policy, **common))
    return accounts


def stored_steps_per_epoch(search: optuna.Study) -> int:
    """The optimizer steps per epoch the search's trials stored (``steps_per_epoch`` user attr)."""
    for t in search.get_trials(deepcopy=False):
        if "steps_per_epoch" in t.user_attrs:
            return int(t.user_attrs["steps_per_epoch"])
    raise AccountError(f"study {search.study_name} has no trial with steps_per_epoch")
