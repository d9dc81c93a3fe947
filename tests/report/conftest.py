"""Fixtures of the lrtune.report tests: temporary SQLite storages, and one full storage."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import create_trial
from synthetic import add_confirm, add_search, fast_sqlite, spread


@pytest.fixture
def url(tmp_path):
    """The URL of a temporary SQLite file; tests write it through the ``storage`` fixture."""
    return f"sqlite:///{tmp_path / 'lrtune.db'}"


@pytest.fixture
def storage(tmp_path, url):
    return fast_sqlite(tmp_path / "lrtune.db")


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """Three families, 8 complete + 2 pruned trials each; cosine clearly wins the confirmation."""
    path = tmp_path_factory.mktemp("full") / "lrtune.db"
    storage = fast_sqlite(path)
    for family, base, seed in (("cosine", 0.88, 0), ("step", 0.84, 1), ("wsd", 0.86, 2)):
        add_search(storage, family, spread(base, 8, seed, 0.02), pruned=[0.99, 0.5])
        add_confirm(storage, family, spread(base - 0.01, 8, seed + 10), source_trial=None)
    other = optuna.create_study(storage=storage, study_name="not-lrtune")
    other.add_trial(create_trial(value=1.0))
    return f"sqlite:///{path}"
