"""lrtune.report.checks: check_trials, one sentence per weakness."""

from __future__ import annotations

from optuna.trial import TrialState
from synthetic import add_confirm, add_search, spread

from lrtune.report import (
    check_trials,
    load_trials,
)


def _checks(url):
    return check_trials(load_trials(url))


def test_clean_storage_has_only_the_expected_caveats(full):
    notes = _checks(full)
    assert len(notes) == 1, notes  # the full storage prunes 2 of 10 trials per family
    assert "over COMPLETE trials only (pruned: cosine 2/10, step 2/10, wsd 2/10)" in notes[0]


def test_warns_about_unequal_budgets_and_few_complete_trials(url, storage):
    add_search(storage, "cosine", spread(0.8, 8))
    add_search(storage, "step", spread(0.8, 3))
    notes = " ".join(_checks(url))
    assert "unequal budgets" in notes and "cosine 8, step 3" in notes
    assert "step has only 3 COMPLETE" in notes
    assert "epochs spent differ" in notes


def test_warns_about_best_lr_on_the_edge_of_its_range(url, storage):
    lrs = [0.05, 0.1, 0.9]  # 0.9 is within 10 % of the log-range of the upper bound 1.0
    add_search(storage, "cosine", [0.7, 0.75, 0.8], lrs=lrs)
    add_search(storage, "step", [0.7, 0.75, 0.8], lrs=[0.9, 0.5, 0.05])
    notes = _checks(url)
    edge = [n for n in notes if "widen the LR range" in n]
    assert len(edge) == 1 and "cosine" in edge[0] and "upper bound" in edge[0]


def test_warns_about_few_confirmation_seeds_and_missing_confirmations(url, storage):
    for family in ("cosine", "step", "wsd"):
        add_search(storage, family, spread(0.8, 6))
    add_confirm(storage, "cosine", [0.8, 0.81, 0.82])
    add_confirm(storage, "step", [0.7, 0.71, 0.72, 0.73, 0.74])
    notes = " ".join(_checks(url))
    assert "cosine has 3 confirmation seed(s), fewer than 5" in notes
    assert "step has" not in notes
    assert "without confirmation runs: wsd" in notes


def test_warns_when_there_are_no_confirmations(url, storage):
    add_search(storage, "cosine", spread(0.8, 6))
    add_search(storage, "step", spread(0.8, 6))
    assert any("no confirmation runs" in n for n in _checks(url))


def test_warns_about_pruned_or_partial_values_used_as_scores(url, storage):
    add_search(storage, "cosine", spread(0.8, 6), epochs_run=[10, 10, 4, 10, 10, 10])
    add_search(storage, "step", spread(0.8, 6))
    add_confirm(storage, "cosine", spread(0.8, 5), states=[TrialState.COMPLETE] * 4 + [TrialState.PRUNED])
    add_confirm(storage, "step", spread(0.8, 5))
    notes = " ".join(_checks(url))
    assert "1 cosine confirmation run(s) are PRUNED/FAIL" in notes
    assert "ran fewer epochs than configured" in notes and "(#2)" in notes


def test_warns_about_test_set_selection(url, storage):
    # trial 2 has the best validation accuracy, trial 0 the best test accuracy
    add_search(storage, "cosine", [0.80, 0.81, 0.85, 0.79, 0.78], tests=[0.90, 0.80, 0.82, 0.79, 0.78])
    add_search(storage, "step", [0.8, 0.81, 0.82, 0.79, 0.78])
    add_confirm(storage, "cosine", spread(0.8, 5), source_trial=0)
    add_confirm(storage, "step", spread(0.8, 5), source_trial=2)
    notes = [n for n in _checks(url) if "test-set selection" in n]
    assert len(notes) == 1 and "cosine" in notes[0] and "#0" in notes[0]


def test_warns_when_the_objective_returns_test_accuracy(url, storage):
    vals = spread(0.8, 6)
    add_search(storage, "cosine", vals, tests=vals)  # values equal test accuracy
    add_search(storage, "step", spread(0.8, 6))
    assert any("select on the test set" in n and "cosine" in n for n in _checks(url))


def test_warns_about_non_iid_sampler(url, storage):
    add_search(storage, "cosine", spread(0.8, 6), sampler="tpe")
    add_search(storage, "step", spread(0.8, 6), sampler="tpe")
    assert any("does not draw i.i.d." in n for n in _checks(url))
