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
from lrtune.tuning import keys
from lrtune.tuning.optuna_compat import name_metric, storage_of

__all__ = ["CONFIRM_SEED_BASE", "confirm", "trial_seed", "own_confirm_study_name"]

CONFIRM_SEED_BASE = 900_000_000
"""Confirmation seeds start here (the same base as ``lrtune.confirm``'s runs of lrtune studies)."""


def own_confirm_study_name(study_name: str) -> str:
    return f"{study_name}:confirm"


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
    seeds: int = 5,
    *,
    prefix: str | None = None,
    families: Iterable[str] | None = None,
    catch: tuple[type[Exception], ...] = (),
) -> optuna.Study:
    """Re-run each family's best trial of ``study`` with ``seeds`` fresh seeds through ``objective``.

    ``study``: a single-objective study whose objective used :func:`lrtune.suggest_schedule`
    (joint or one-family space, any prefix: ``prefix`` picks one when several are found).
    ``objective``: the same objective (it should seed itself with :func:`trial_seed`).
    ``families``: confirm only these (default: every family with a COMPLETE trial).
    Returns the ``"<study>:confirm"`` study. Raises ``ValueError`` for ``seeds`` < 1, a
    multi-objective study, or a study without lrtune parameters or COMPLETE trials.
    """
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be an integer ≥ 1, but got {seeds!r}")
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
        study_name=own_confirm_study_name(study.study_name),
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

    done = {
        (t.user_attrs.get("source_trial"), t.user_attrs.get("seed"))
        for t in target.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    }
    for family in sorted(best_of):
        best = best_of[family]
        for j in range(seeds):
            seed = CONFIRM_SEED_BASE + j
            if (best.number, seed) in done:
                continue
            target.enqueue_trial(
                dict(best.params), user_attrs={"family": family, "seed": seed, "source_trial": best.number}
            )
            target.optimize(objective, n_trials=1, catch=catch)
    return target
