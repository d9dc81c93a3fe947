"""Confirm *your own* study's winners with your own objective: ``lrtune.confirm(study, objective)``.

A search's best values are optimistic (the best of many noisy trials, some judged mid-run by a
pruner); a verdict needs fresh seeds. For a study that used :func:`lrtune.suggest_schedule`,
:func:`confirm` takes each family's best COMPLETE trial and re-runs its exact parameters (the
schedule's and the caller's own) with ``seeds`` fresh seeds through the caller's objective:

* every run is a trial of the study ``"<study>:confirm"`` in the same storage, created through
  ``enqueue_trial`` (so the objective's ``suggest_*`` calls return the stored values) with the
  user attrs ``family``, ``seed`` (read it with :func:`trial_seed`) and ``source_trial``;
* the confirm study uses ``NopPruner``: ``trial.should_prune()`` is always False there, so the
  objective's usual report/prune code runs unchanged and never cuts a confirmation short;
* seeds are ``CONFIRM_SEED_BASE + j``, j = 0…K−1, the same for every family (paired);
* ``seeds="auto"`` races instead: round by round one fresh seed for every family that still
  races, until the verdict names a winner or ``max_seeds`` is reached;
* runs already COMPLETE for the same source trial and seed are not redone (resumable); when the
  search has found a new best since, the new best is confirmed and the confirm study's user attr
  ``lrtune_confirmed_trials`` ({family: trial number}) points at it.

Then ``python -m lrtune.analyze --storage URL`` reports the confirmed verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import optuna

from lrtune.core.recognize import recognize_space
from lrtune.stats import still_racing
from lrtune.tuning import keys
from lrtune.tuning.optuna_compat import name_metric, storage_of

__all__ = ["CONFIRM_SEED_BASE", "DEFAULT_MAX_SEEDS", "confirm", "trial_seed"]

DEFAULT_MAX_SEEDS = 16
"""``seeds="auto"``: the most seeds a family receives unless ``max_seeds`` says otherwise."""

CONFIRM_SEED_BASE = 900_000_000
"""Confirmation seeds start here (the same base as ``lrtune.confirm``'s runs of lrtune studies)."""


def trial_seed(trial: optuna.trial.BaseTrial, default: int | None = None) -> int:
    """The seed a trial should use for initialisation and batch order.

    In a confirmation run made by :func:`confirm` it is the run's fresh seed (user attr
    ``seed``); in any other trial it is ``default`` when given, else the trial number (so
    every search trial gets a seed of its own). Works with ``FixedTrial`` (seed ``default`` or 0).
    """
    attrs = getattr(trial, "user_attrs", {}) or {}
    if "seed" in attrs:
        return int(attrs["seed"])
    if default is not None:
        return int(default)
    return int(getattr(trial, "number", 0))


def _study_distributions(trials: Iterable[optuna.trial.FrozenTrial]) -> dict[str, Any]:
    union: dict[str, Any] = {}
    for t in trials:
        union.update(t.distributions)
    return union


def confirm(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    seeds: int | str = 5,
    *,
    prefix: str | None = None,
    families: Iterable[str] | None = None,
    catch: tuple[type[Exception], ...] = (),
    max_seeds: int | None = None,
    alpha: float = 0.05,
) -> optuna.Study:
    """Re-run each family's best trial of ``study`` with ``seeds`` fresh seeds through ``objective``.

    ``study``: a single-objective study whose objective used :func:`lrtune.suggest_schedule`
    (joint or one-family space, any prefix: ``prefix`` picks one when several are found).
    ``objective``: the same objective (it should seed itself with :func:`trial_seed`).
    ``seeds``: K fresh seeds for every family, or ``"auto"``: race (each round, one fresh seed
    for every family that still races, until a winner is named or ``max_seeds`` seeds, default
    16; a family stops once it is beaten, its betting wealth against "it is the best" having
    reached 2/α — the rule of
    :func:`lrtune.stats.still_racing`, at level ``alpha``). Both resume from the stored runs.
    ``families``: confirm only these (default: every family with a COMPLETE trial).
    Returns the ``"<study>:confirm"`` study. Raises ``ValueError`` for ``seeds`` < 1 or not
    "auto", ``max_seeds`` < 1 or given with an integer ``seeds``, a multi-objective study, or a
    study without lrtune parameters or COMPLETE trials.
    """
    auto = seeds == "auto"
    if auto:
        max_seeds = DEFAULT_MAX_SEEDS if max_seeds is None else max_seeds
        if isinstance(max_seeds, bool) or not isinstance(max_seeds, int) or max_seeds < 1:
            raise ValueError(f"max_seeds must be an integer ≥ 1, but got {max_seeds!r}")
    elif isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be an integer ≥ 1 or 'auto', but got {seeds!r}")
    elif max_seeds is not None:
        raise ValueError(f"max_seeds goes with seeds='auto', not with a fixed seeds={seeds}")
    if len(study.directions) != 1:
        raise ValueError(
            f"confirm needs a single-objective study, but {study.study_name!r} has "
            f"{len(study.directions)} objectives"
        )
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise ValueError(f"study {study.study_name!r} has no COMPLETE trial to confirm")
    try:
        space = recognize_space(_study_distributions(study.get_trials(deepcopy=False)), prefix=prefix)
    except ValueError as exc:
        raise ValueError(f"study {study.study_name!r}: {exc}") from None
    best_of: dict[str, optuna.trial.FrozenTrial] = {}
    key = keys.trial_rank(study.direction)
    for t in complete:
        family = space.family_of(t.params)
        if family is not None and (family not in best_of or key(t) > key(best_of[family])):
            best_of[family] = t
    if families is not None:
        wanted = [str(f) for f in families]
        missing = [f for f in wanted if f not in best_of]
        if missing:
            raise ValueError(
                f"no COMPLETE trial of {', '.join(missing)} in {study.study_name!r}; "
                f"it has {', '.join(sorted(best_of)) or 'none'}"
            )
        best_of = {f: best_of[f] for f in wanted}

    storage = storage_of(study)
    target = optuna.create_study(
        study_name=keys.confirm_study_name(study.study_name),
        storage=storage,
        direction=study.direction,
        pruner=optuna.pruners.NopPruner(),
        load_if_exists=True,
    )
    target.set_user_attr(keys.KIND, keys.KIND_CONFIRM)
    target.set_user_attr(keys.SOURCE_STUDY, study.study_name)
    target.set_user_attr(keys.PREFIX, space.prefix)
    name_metric(target, (study.metric_names or ["objective"])[0])  # the value is the user's objective
    confirmed = dict(target.user_attrs.get(keys.CONFIRMED_TRIALS) or {})
    confirmed.update({f: t.number for f, t in best_of.items()})
    target.set_user_attr(keys.CONFIRMED_TRIALS, dict(sorted(confirmed.items())))

    def stored() -> dict[str, dict[int, float]]:
        """{family: {seed: score, higher = better}} of the COMPLETE runs of each current best."""
        sign = -1.0 if study.direction == optuna.study.StudyDirection.MINIMIZE else 1.0
        out: dict[str, dict[int, float]] = {f: {} for f in best_of}
        for t in target.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            family = t.user_attrs.get("family")
            if family in best_of and t.user_attrs.get("source_trial") == best_of[family].number:
                out[family][int(t.user_attrs["seed"])] = sign * float(t.value)
        return out

    def run(family: str, seed: int) -> None:
        best = best_of[family]
        target.enqueue_trial(
            dict(best.params), user_attrs={"family": family, "seed": seed, "source_trial": best.number}
        )
        target.optimize(objective, n_trials=1, catch=catch)

    if not auto:
        done = stored()
        for family in sorted(best_of):
            for j in range(seeds):
                if CONFIRM_SEED_BASE + j not in done[family]:
                    run(family, CONFIRM_SEED_BASE + j)
        return target
    while True:  # racing rounds
        done = stored()
        runs = {f: [] for f in best_of}
        for f, by_seed in done.items():
            while CONFIRM_SEED_BASE + len(runs[f]) in by_seed:
                runs[f].append(CONFIRM_SEED_BASE + len(runs[f]))
        racing = still_racing({f: [done[f][s] for s in runs[f]] for f in runs}, runs, alpha=alpha)
        n = max(len(v) for v in runs.values())
        lagging = [f for f in racing if len(runs[f]) < n]
        if not racing or (n >= max_seeds and not lagging):
            return target
        goal = n if lagging else n + 1
        for family in sorted(racing):
            for j in range(len(runs[family]), goal):
                run(family, CONFIRM_SEED_BASE + j)
