"""lrtune.tuning.pruning_account: policies replayed on known curves, in either direction."""

from __future__ import annotations

import optuna
import pytest

from lrtune.core.schedules import Schedule
from lrtune.tuning import pruning_account as pa

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_decay_start_epoch():
    wsd = Schedule("wsd", 0.1, params={"decay_frac": 0.2, "decay_shape": "linear", "final_ratio": 0.01})
    assert pa.decay_start_epoch(wsd, 10, 50) == 9  # decay over the last 2 of 10 epochs
    assert pa.decay_start_epoch(Schedule("constant", 0.1), 10, 50) is None
    assert pa.decay_start_epoch(Schedule("cosine", 0.1, params={"final_ratio": 0.01}), 10, 50) == 1
    assert pa.first_judged_epoch("median-decay", wsd, 10, 50) == 9
    assert pa.first_judged_epoch("median-decay", Schedule("constant", 0.1), 10, 50) == 5
    assert pa.first_judged_epoch("median", wsd, 10, 50) == 5
    assert pa.first_judged_epoch("median-legacy", wsd, 15, 50) == 7
    with pytest.raises(ValueError, match="valid: median"):
        pa.first_judged_epoch("never", wsd, 10, 50)


def _trial(number, curve):
    return pa.ReplayedTrial(
        number, False, len(curve), None, list(curve), 0.0, Schedule("constant", 0.1), list(curve)
    )


def test_policies_on_known_curves():
    # five good trials start the median rule; trial 5 is worse at every epoch; trial 6 only at the end
    good = [_trial(i, [0.5, 0.6, 0.7, 0.8]) for i in range(5)]
    late = _trial(5, [0.1, 0.2, 0.3, 0.9])  # worst until the final epoch, then the best
    last = _trial(6, [0.5, 0.6, 0.7, 0.1])  # fine until the final epoch
    trials = good + [late, last]
    new = pa.simulate_policy(trials, "median", epochs=4, steps_per_epoch=10)
    assert new[5] == (2, True)  # judged from ⌈4/2⌉ = 2: pruned, its late best is lost
    assert new[6] == (4, False)  # never judged at the final epoch
    legacy = pa.simulate_policy(trials, "median-legacy", epochs=4, steps_per_epoch=10)
    assert legacy[6] == (4, True)  # the old rule pruned a trial that had run all its epochs
    account = pa.account_family("constant", trials, epochs=4, steps_per_epoch=10, policy="median")
    assert account.best_unpruned_trial == 5 and account.best_was_pruned
    assert account.drop_points == pytest.approx(10.0) and account.rank_of_kept == 2
    assert (
        pa.account_family("constant", trials, epochs=4, steps_per_epoch=10, policy="median-legacy").pruned_at_final
        == 1
    )


def test_a_minimised_metric_ranks_the_lowest_score_best():
    # losses: five trials end at 0.5; trial 5 is worst until its final epoch, then the lowest loss
    good = [_trial(i, [2.0, 1.5, 1.0, 0.5]) for i in range(5)]
    late = _trial(5, [9.0, 8.0, 7.0, 0.1])
    account = pa.account_family(
        "constant",
        good + [late],
        epochs=4,
        steps_per_epoch=10,
        policy="median",
        metric="loss",
        direction="minimize",
    )
    assert account.best_unpruned_trial == 5 and account.best_was_pruned  # judged at epoch 2 as a loss: pruned
    assert account.best_kept == pytest.approx(0.5) and account.drop == pytest.approx(0.4)
    assert account.rank_of_kept == 2
    table = pa.format_table([account])
    assert "drop (loss)" in table and "| 0.4000 |" in table
    maximised = pa.account_family("constant", good + [late], epochs=4, steps_per_epoch=10, policy="median")
    assert maximised.best_unpruned_trial == 0 and maximised.pruned == 0  # read as accuracy: 5 led, then fell


def test_a_hyperband_search_is_not_checked_against_the_median_rule():
    trials = [_trial(i, [0.5, 0.6, 0.7, 0.8]) for i in range(6)]
    median = pa.account_family("constant", trials, epochs=4, steps_per_epoch=10, policy="median")
    assert median.matches_search is True
    hyperband = pa.account_family(
        "constant", trials, epochs=4, steps_per_epoch=10, policy="median", search_policy=None
    )
    assert hyperband.matches_search is None
