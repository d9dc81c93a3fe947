"""*Your own* Optuna studies: any study whose objective used ``lrtune.suggest_schedule``.

lrtune's own studies carry study user attrs (``lrtune_config``, ``lrtune_family``); a study
written with plain Optuna has none, only the parameter names of lrtune's spaces. This module
recognises them (:func:`lrtune.core.recognize.recognize_space`: joint or one-family space, any
prefix, next to the caller's own parameters) and loads their trials into the frame of
:func:`lrtune.report.load_trials` (:func:`load_own_trials`): the loader step of the one report
pipeline; :func:`lrtune.report.write_report` writes their report.

* **Metric and direction.** The metric is :data:`lrtune.report.frame.OWN_METRIC` ("objective",
  the value the objective returned); the direction is read from the storage. As for any task
  that minimises, every value is a *score*, higher is better: ``score = objective`` when the
  study maximises, ``score = −objective`` when it minimises (a loss); the report says so.
* **Comparison unit** (the report's "task"). A joint-space study is compared within itself. One-
  family studies whose names differ only by the family name (``mytask-cosine``,
  ``mytask-step``: lrtune's own naming) and share the prefix and direction form one task
  ``mytask-*``; a study user attr ``lrtune_task`` overrides this.
* **Verdict.** With confirmation runs (``lrtune.confirm(study, objective, seeds=5)`` writes them
  into ``"<study>:confirm"``) the verdict is :func:`lrtune.report.verdict_from_confirmations`
  on the confirmation runs' objective values (fresh seeds, never pruned). Without them, a
  provisional verdict on the COMPLETE search trials' values is given and labelled as resting
  on search results only (best values are optimistic; no fresh seeds).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import pandas as pd

from lrtune.core.recognize import LOOKED_FOR, ScheduleSpace, recognize_space
from lrtune.core.schedules import Schedule
from lrtune.report.frame import (
    CONFIRM,
    OWN_METRIC,
    SEARCH,
    AnalysisError,
    is_lrtune_study,
    params_of,
    trial_row,
    typed_frame,
)
from lrtune.tuning import keys

__all__ = [
    "OwnStudy",
    "best_schedules",
    "find_own_studies",
    "has_lrtune_studies",
    "load_own_trials",
    "own_tasks",
    "params_of",
    "wants_own_analysis",
]


@dataclass(frozen=True)
class OwnStudy:
    """A user's study with an lrtune space: its name, direction, space and comparison unit."""

    name: str
    direction: str  # "maximize" or "minimize"
    space: ScheduleSpace
    task: str
    own_params: tuple[str, ...]
    confirm_study: str | None

    @property
    def sign(self) -> float:
        return -1.0 if self.direction == "minimize" else 1.0


def has_lrtune_studies(storage: optuna.storages.BaseStorage) -> bool:
    """Whether the storage holds studies written by ``python -m lrtune.study``."""
    return any(
        is_lrtune_study(s.user_attrs) for s in optuna.get_all_study_summaries(storage, include_best_trial=False)
    )


def wants_own_analysis(
    storage: optuna.storages.BaseStorage, names: Sequence[str] | None, prefix: str | None
) -> bool:
    """Analyse users' own studies: asked for (``prefix``), a named study is not lrtune's, or
    the storage holds no lrtune studies at all."""
    if prefix is not None:
        return True
    summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
    lrtune_names = {s.study_name for s in summaries if is_lrtune_study(s.user_attrs)}
    if names:
        all_names = {s.study_name for s in summaries}
        return any(n in all_names and n not in lrtune_names for n in names)
    return bool(summaries) and not lrtune_names


def _union_distributions(storage, study_id: int) -> dict[str, Any]:
    union: dict[str, Any] = {}
    for t in storage.get_all_trials(study_id, deepcopy=False):
        union.update(t.distributions)
    return union


def _task_name(name: str, space: ScheduleSpace, attrs: dict[str, Any]) -> str:
    if attrs.get(keys.TASK):
        return str(attrs[keys.TASK])
    if space.joint:
        return name
    family = space.families[0]
    pattern = rf"(?<![A-Za-z0-9]){re.escape(family)}(?![A-Za-z0-9])"
    stripped = re.sub(pattern, "*", name)
    return stripped if stripped != name else name


def find_own_studies(
    storage: optuna.storages.BaseStorage,
    names: Sequence[str] | None = None,
    *,
    prefix: str | None = None,
) -> list[OwnStudy]:
    """The storage's studies that used an lrtune space (or the named ones), sorted by name.

    Studies written by lrtune itself and ``:confirm`` studies are not listed. Raises
    :class:`lrtune.AnalysisError` when a named study is missing or none was recognised
    (the message names what was looked for), or when a study holds several spaces and
    ``prefix`` is None.
    """
    summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
    if not summaries:
        raise AnalysisError("the storage holds no studies")
    by_name = {s.study_name: s for s in summaries}
    if names:
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise AnalysisError(
                f"no study named {', '.join(map(repr, unknown))}; the storage has {', '.join(sorted(by_name))}"
            )
        candidates = [by_name[n] for n in names]
    else:
        candidates = [
            s for s in summaries if not s.study_name.endswith(":confirm") and not is_lrtune_study(s.user_attrs)
        ]
    found, problems = [], []
    for summary in sorted(candidates, key=lambda s: s.study_name):
        if len(summary.directions) != 1:
            problems.append(f"{summary.study_name}: multi-objective")
            continue
        study_id = storage.get_study_id_from_name(summary.study_name)
        distributions = _union_distributions(storage, study_id)
        try:
            space = recognize_space(distributions, prefix=prefix)
        except ValueError as exc:
            problems.append(f"{summary.study_name}: {exc}")
            continue
        confirm = keys.confirm_study_name(summary.study_name)
        found.append(
            OwnStudy(
                name=summary.study_name,
                direction=summary.directions[0].name.lower(),
                space=space,
                task=_task_name(summary.study_name, space, summary.user_attrs),
                own_params=tuple(sorted(n for n in distributions if n not in space.names)),
                confirm_study=confirm if confirm in by_name else None,
            )
        )
    # studies compared together must agree on direction and prefix; otherwise each stands alone
    for task in {o.task for o in found}:
        group = [o for o in found if o.task == task]
        if len({(o.direction, o.space.prefix) for o in group}) > 1:
            found = [dataclasses.replace(o, task=o.name) if o.task == task else o for o in found]
    if not found:
        several = [p for p in problems if "several lrtune schedule spaces" in p]
        if several:
            raise AnalysisError(several[0])
        where = ", ".join(sorted(s.study_name for s in candidates)) or "none"
        looked = LOOKED_FOR if prefix is None else LOOKED_FOR.replace("<prefix>", prefix)
        raise AnalysisError(f"no study used lrtune's search spaces (looked for {looked}; studies: {where})")
    return found


def _rows(storage, own: OwnStudy, study_name: str, kind: str) -> list[dict[str, Any]]:
    study = optuna.load_study(study_name=study_name, storage=storage)
    confirmed = study.user_attrs.get(keys.CONFIRMED_TRIALS) or {}
    info = {
        "study": study_name,
        "task": own.task,
        "metric": OWN_METRIC,
        "metric_direction": own.direction,
        "sign": own.sign,
        "kind": kind,
        "family": None,
        "config_epochs": None,
        "horizon": 1,
        "sampler": None,
        "confirmed_trial": None,
    }
    lr_name = f"{own.space.prefix}lr"
    rows = []
    for trial in study.get_trials(deepcopy=False):
        row = trial_row(info, trial)
        row["family"] = trial.user_attrs.get("family") or own.space.family_of(trial.params) or "unknown"
        if kind == CONFIRM:
            # a re-run's score is its objective value: what the verdict compares (test_score)
            row["test_score"] = row["value"]
            row["confirmed_trial"] = confirmed.get(row["family"])
        row.update(lr_param=None, lr=np.nan, lr_low=np.nan, lr_high=np.nan, lr_log=None)
        if lr_name in trial.params:
            dist = trial.distributions[lr_name]
            row.update(lr_param=lr_name, lr=float(trial.params[lr_name]))
            if hasattr(dist, "low"):
                row.update(lr_low=float(dist.low), lr_high=float(dist.high), lr_log=bool(dist.log))
        rows.append(row)
    return rows


def load_own_trials(
    storage: optuna.storages.BaseStorage,
    *,
    studies: Sequence[str] | None = None,
    prefix: str | None = None,
) -> tuple[pd.DataFrame, list[OwnStudy]]:
    """The trials of the user's studies (and their ``:confirm`` studies) as one frame.

    The frame of :func:`lrtune.report.load_trials` (same columns): ``metric`` is
    :data:`~lrtune.report.frame.OWN_METRIC`, ``metric_direction`` the study's direction,
    ``value`` the *score* (the objective, negated for a minimised study; NaN unless COMPLETE).
    Confirmation runs carry their score in ``test_score`` too (what
    :func:`lrtune.report.verdict_from_confirmations` compares).
    """
    owns = find_own_studies(storage, studies, prefix=prefix)
    rows: list[dict[str, Any]] = []
    for own in owns:
        rows += _rows(storage, own, own.name, SEARCH)
        if own.confirm_study:
            rows += _rows(storage, own, own.confirm_study, CONFIRM)
    if not rows:
        raise AnalysisError(f"the studies {', '.join(o.name for o in owns)} hold no trials yet")
    return typed_frame(rows), owns


def own_tasks(owns: Sequence[OwnStudy]) -> dict[str, list[OwnStudy]]:
    """{task: its studies} (the comparison units of users' own studies), sorted by task."""
    by_task: dict[str, list[OwnStudy]] = {}
    for own in sorted(owns, key=lambda o: (o.task, o.name)):
        by_task.setdefault(own.task, []).append(own)
    return by_task


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v)


def best_schedules(
    scores: pd.DataFrame, task_df: pd.DataFrame, group: Sequence[OwnStudy]
) -> tuple[list[str], list[str]]:
    """For each row of a :func:`lrtune.report.score_table` of a user's task: the best trial's
    schedule (:meth:`Schedule.describe`, rebuilt from its params) and its own parameters
    (``name=value``), "—" where there is no best trial."""
    by_study = {o.name: o for o in group}
    scored = task_df[(task_df["kind"] == SEARCH) & (task_df["state"] == "COMPLETE")]
    described, mine = [], []
    for row in scores.itertuples(index=False):
        match = scored[(scored["study"] == row.best_study) & (scored["number"] == row.best_trial)]
        params = params_of(match.iloc[0]) if len(match) else {}
        own = by_study.get(row.best_study, group[0])
        if not params:
            described.append("—")
        else:
            try:
                schedule = Schedule.from_params(params, family=row.family, prefix=own.space.prefix)
                described.append(schedule.describe())
            except (ValueError, KeyError, TypeError) as exc:
                described.append(f"(cannot rebuild: {exc})")
        own_values = own.space.own_params(params)
        mine.append(", ".join(f"{k}={_fmt(v)}" for k, v in sorted(own_values.items())) or "—")
    return described, mine
