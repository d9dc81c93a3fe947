"""The names lrtune stores in an Optuna storage, the trial states it counts and how it ranks
trials — one home each.

Study user attributes (``study.user_attrs``) mark lrtune's studies and say what they hold; the
analysis, confirmation, dashboard notes and resume checks all read them, so a rename here is a
storage-format change.
"""

from __future__ import annotations

from collections.abc import Callable

import optuna

__all__ = [
    "CONFIG",
    "CONFIRMED_TRIAL",
    "CONFIRMED_TRIALS",
    "COUNTED_STATES",
    "FAMILY",
    "FINISHED_STATES",
    "HORIZON",
    "KIND",
    "KIND_CONFIRM",
    "KIND_HORIZON",
    "KIND_SEARCH",
    "PREFIX",
    "REPLAY_CONFIG",
    "SPENT_STATE_NAMES",
    "REPLAY_OF",
    "SOURCE_STUDY",
    "TASK",
    "VERSION",
    "confirm_study_name",
    "trial_rank",
]

# ---------------------------------------------------------------- study names


def confirm_study_name(search_study_name: str, horizon: int = 1) -> str:
    """Where a study's confirmation runs are stored, for lrtune's studies and users' own alike:
    ``"<search>:confirm"``; at ``horizon`` M ≥ 2 (M× the tuning epochs) ``"<search>:confirm@xM"``."""
    return f"{search_study_name}:confirm" if horizon == 1 else f"{search_study_name}:confirm@x{horizon}"


# ---------------------------------------------------------------- study user attributes

CONFIG = "lrtune_config"
"""The study's full configuration (``TaskConfig.to_dict()`` plus the family); resume compares it."""
FAMILY = "lrtune_family"
"""The schedule family a search study tunes."""
TASK = "lrtune_task"
"""The task label (dataset/model/epochs/optimizer…) that groups studies into one comparison."""
KIND = "lrtune_kind"
"""What the study holds: :data:`KIND_SEARCH`, :data:`KIND_CONFIRM` or :data:`KIND_HORIZON`."""
VERSION = "lrtune_version"
"""The lrtune version that created the study."""
HORIZON = "lrtune_horizon"
"""A horizon study's multiple M of the tuning epochs."""
CONFIRMED_TRIALS = "lrtune_confirmed_trials"
"""A confirmation study's map family → the search trial number it re-runs."""
CONFIRMED_TRIAL = "lrtune_confirmed_trial"
"""A confirmation study of one family: the search trial whose parameters it re-runs."""
SOURCE_STUDY = "lrtune_source_study"
"""A user's confirmation study: the study whose best parameters it re-runs."""
PREFIX = "lrtune_prefix"
"""A user's confirmation study: the parameter prefix of the user's lrtune space."""
REPLAY_OF = "lrtune_replay_of"
"""A pruning-accounting replay study: the search study it replays."""
REPLAY_CONFIG = "lrtune_replay_config"
"""A pruning-accounting replay study: how it was replayed."""

KIND_SEARCH = "search"
KIND_CONFIRM = "confirm"
KIND_HORIZON = "horizon"

# ---------------------------------------------------------------- trial states

FINISHED_STATES = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
"""Trials that ran to their end (completed or pruned): what ``--trials`` asks for."""
COUNTED_STATES = FINISHED_STATES + (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING)
"""Trials that count towards ``--trials``: finished, running, or waiting for a retry."""
SPENT_STATE_NAMES = ("COMPLETE", "PRUNED", "FAIL")
"""Names of the states whose trials spent budget (ran until they ended, however they ended)."""


def trial_rank(direction: optuna.study.StudyDirection) -> Callable[[optuna.trial.FrozenTrial], tuple[float, int]]:
    """Sort key of COMPLETE trials, larger is better: ``(sign · value, −number)``.

    ``sign`` = −1 when the study minimises, so ``max(trials, key=trial_rank(study.direction))`` is
    the best trial in the study's direction, ties going to the earlier trial.
    """
    sign = -1.0 if direction == optuna.study.StudyDirection.MINIMIZE else 1.0
    return lambda t: (sign * t.value, -t.number)
