"""Confirmation runs: fresh seeds, stored as trials, never recomputed."""

from __future__ import annotations

import optuna
import pytest

from lrtune.confirm import CONFIRM_SEED_BASE, confirm_study_name, run_confirmations
from lrtune.study import main

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> str:
    db = tmp_path_factory.mktemp("confirm") / "c.db"
    storage = f"sqlite:///{db}"
    assert main(["--dataset", "digits", "--epochs", "2", "--batch-size", "64", "--family", "constant,cosine",
                 "--trials", "2", "--storage", storage, "--no-progress", "--no-artifacts", "--pruner", "none"]) == 0
    return storage


@pytest.mark.slow
def test_confirmations_are_stored_and_reused(searched):
    runs = run_confirmations(searched, k=2)
    assert len(runs) == 4 and not any(r.reused for r in runs)
    assert {r.seed for r in runs} == {CONFIRM_SEED_BASE, CONFIRM_SEED_BASE + 1}
    for family in ("constant", "cosine"):
        search = optuna.load_study(study_name=f"digits-mlp-{family}", storage=searched)
        confirm = optuna.load_study(study_name=confirm_study_name(search.study_name), storage=searched)
        assert confirm.user_attrs["lrtune_kind"] == "confirm"
        assert confirm.user_attrs["lrtune_confirmed_trial"] == search.best_trial.number
        assert confirm.user_attrs["lrtune_config"] == search.user_attrs["lrtune_config"]
        for trial in confirm.trials:
            assert trial.params == search.best_trial.params
            assert trial.user_attrs["source_trial"] == search.best_trial.number
            assert sorted(trial.intermediate_values) == [1, 2]  # unpruned: every epoch
            assert 0 < trial.user_attrs["test_accuracy"] <= 1
    # asking again reuses the stored runs; asking for more runs only the missing seeds
    again = run_confirmations(searched, k=3)
    assert sum(r.reused for r in again) == 4 and len(again) == 6
    assert [r.test_accuracy for r in again if r.reused] == [r.test_accuracy for r in runs]
    assert len(optuna.load_study(study_name="digits-mlp-cosine:confirm", storage=searched).trials) == 3


def test_k_must_be_positive(searched):
    with pytest.raises(ValueError, match="must be an integer ≥ 1, but got 0"):
        run_confirmations(searched, k=0)
