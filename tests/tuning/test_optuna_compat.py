"""Each Optuna / optuna-dashboard internal lrtune relies on still behaves as lrtune assumes."""

from __future__ import annotations

import optuna
from optuna_dashboard import get_note, save_note

from lrtune.tuning.optuna_compat import (
    BaseHeartbeat,
    first_note_keys,
    frozen_trial,
    frozen_trial_id,
    storage_of,
    study_id,
    trial_id,
)


def test_study_and_trial_ids_and_storage_match_the_public_views() -> None:
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage)
    trial = study.ask()
    trial.set_user_attr("k", 1)
    assert storage_of(study) is storage
    assert study_id(study) == storage.get_study_id_from_name(study.study_name)
    assert storage.get_trial_number_from_id(trial_id(trial)) == trial.number
    frozen = frozen_trial(trial)
    assert frozen.number == trial.number and frozen.user_attrs == {"k": 1}
    assert isinstance(frozen.system_attrs, dict)
    assert frozen_trial_id(frozen) == trial_id(trial)


def test_rdb_storage_is_the_heartbeat_base_optuna_checks() -> None:
    """``fail_stale_trials`` and ``study.optimize`` look for this class: a lease storage derives from it."""
    storage = optuna.storages.RDBStorage("sqlite://", heartbeat_interval=60)
    assert isinstance(storage, BaseHeartbeat)
    assert optuna.storages._heartbeat.is_heartbeat_enabled(storage)


def test_first_note_keys_are_what_save_note_writes() -> None:
    """Writing these keys by hand gives the same stored note as optuna-dashboard's save_note."""
    markdown = "# a note\n\n" + "long line " * 400  # several body chunks
    by_hand, by_dashboard = (optuna.create_study() for _ in range(2))
    t_hand, t_dash = by_hand.ask(), by_dashboard.ask()
    keys = first_note_keys(markdown, trial_id(t_hand))
    assert keys is not None and len(keys) > 2
    for key, value in keys.items():
        t_hand.storage.set_study_system_attr(study_id(by_hand), key, value)
    save_note(t_dash, markdown)
    assert get_note(t_hand) == get_note(t_dash) == markdown
    assert storage_of(by_hand).get_study_system_attrs(study_id(by_hand)) == storage_of(
        by_dashboard
    ).get_study_system_attrs(study_id(by_dashboard))
