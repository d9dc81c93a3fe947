"""The few Optuna and optuna-dashboard internals lrtune needs, in one place.

Optuna has no public accessor for a study's storage or a live trial's id, and optuna-dashboard
none for writing a fresh trial note cheaply. Everything private that lrtune touches goes through
this module, so an upgrade that renames one breaks here, visibly, and nowhere else
(``tests/test_optuna_compat.py`` pins each one against the installed packages).
"""

from __future__ import annotations

import warnings

import optuna
from optuna.storages import BaseStorage
from optuna.storages._heartbeat import BaseHeartbeat  # noqa: F401  (re-exported: a storage with heartbeats)
from optuna.trial import FrozenTrial

__all__ = [
    "BaseHeartbeat",
    "first_note_keys",
    "frozen_trial",
    "frozen_trial_id",
    "name_metric",
    "storage_of",
    "study_id",
    "trial_id",
]


def storage_of(study: optuna.Study) -> BaseStorage:
    """The storage behind ``study`` (``Study._storage``)."""
    return study._storage  # noqa: SLF001


def study_id(study: optuna.Study) -> int:
    """The storage's id of ``study`` (``Study._study_id``)."""
    return study._study_id  # noqa: SLF001


def trial_id(trial: optuna.Trial) -> int:
    """The storage's id of a live trial (``Trial._trial_id``)."""
    return trial._trial_id  # noqa: SLF001


def frozen_trial_id(trial: FrozenTrial) -> int:
    """The storage's id of a stored trial (``FrozenTrial._trial_id``)."""
    return trial._trial_id  # noqa: SLF001


def frozen_trial(trial: optuna.Trial) -> FrozenTrial:
    """A live trial as stored now, system attrs included (a live ``Trial`` has no ``system_attrs``)."""
    return storage_of(trial.study).get_trial(trial_id(trial))


def first_note_keys(markdown: str, trial_id: int) -> dict[str, object] | None:
    """The study system attrs optuna-dashboard's ``save_note`` writes for a trial's *first* note.

    ``{version key: 1, body chunk keys: chunks}``, from optuna-dashboard's own key helpers; ``None``
    when this optuna-dashboard does not have them (then call ``save_note``).
    """
    try:
        from optuna_dashboard._note import note_ver_key, split_body
    except ImportError:  # a future optuna-dashboard
        return None
    return {note_ver_key(trial_id): 1, **split_body(markdown, trial_id)}


def name_metric(study: optuna.Study, name: str) -> None:
    """``study.set_metric_names([name])`` (what optuna-dashboard labels the value with), without
    the ExperimentalWarning Optuna 5 still attaches to it; a no-op when the name is already set."""
    if study.metric_names == [name]:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([name])
