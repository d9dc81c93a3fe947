"""lrtune.report.verdicts: the verdict from confirmation runs."""

from __future__ import annotations

import numpy as np
import pytest
from optuna.trial import TrialState
from synthetic import TASK, add_confirm, add_search, spread

from lrtune.report import (
    AnalysisError,
    load_trials,
    verdict_from_confirmations,
    verdicts_by_task,
)


def test_verdict_from_confirmations_clear_winner(full):
    v = verdict_from_confirmations(load_trials(full))
    assert v.winner == "cosine"
    assert v.metric == "test accuracy"
    assert "cosine 8, step 8, wsd 8" in v.budget
    assert v.design == "paired"
    assert "cosine 10 trials / 90 epochs" in v.budget


def test_verdict_uses_test_accuracy_not_validation(url, storage):
    add_search(storage, "cosine", spread(0.8, 6))
    add_search(storage, "step", spread(0.8, 6))
    # cosine is better on validation, step on test: the verdict must follow test accuracy
    add_confirm(storage, "cosine", spread(0.80, 8), vals=spread(0.95, 8))
    add_confirm(storage, "step", spread(0.85, 8, seed=1), vals=spread(0.70, 8))
    v = verdict_from_confirmations(load_trials(url))
    assert v.winner == "step"


def test_verdict_inconclusive_between_indistinguishable_families(url, storage):
    same = np.linspace(0.80, 0.82, 16)
    add_confirm(storage, "cosine", list(same[0::2]))
    add_confirm(storage, "wsd", list(same[1::2][::-1]))  # per seed, wsd wins 4 and loses 4
    add_confirm(storage, "step", spread(0.70, 8))
    v = verdict_from_confirmations(load_trials(url))
    assert v.design == "paired" and v.winner is None
    assert v.leading_group == ["wsd", "cosine"]
    assert "inconclusive between wsd, cosine" in v.text


def test_verdict_ignores_pruned_confirmation_runs(url, storage):
    add_confirm(
        storage,
        "cosine",
        [0.9] * 5 + [0.1],
        states=[TrialState.COMPLETE] * 5 + [TrialState.PRUNED],
        seeds=list(range(6)),
    )
    add_confirm(storage, "step", spread(0.8, 5))
    v = verdict_from_confirmations(load_trials(url))
    assert v.comparisons.iloc[0]["n_leader"] == 5


def test_verdict_errors(url, storage):
    add_search(storage, "cosine", spread(0.8, 6))
    add_search(storage, "step", spread(0.8, 6))
    df = load_trials(url)
    with pytest.raises(AnalysisError, match="no COMPLETE confirmation runs"):
        verdict_from_confirmations(df)
    add_confirm(storage, "cosine", spread(0.8, 5))
    with pytest.raises(AnalysisError, match="at least two families"):
        verdict_from_confirmations(load_trials(url))
    add_confirm(storage, "cosine", spread(0.8, 5), task="digits/mlp/5ep/sgd")
    with pytest.raises(AnalysisError, match="several tasks"):
        verdict_from_confirmations(load_trials(url))
    assert verdicts_by_task(load_trials(url)) == {"digits/mlp/5ep/sgd": None, TASK: None}
