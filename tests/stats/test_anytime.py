"""lrtune.stats.anytime: the betting e-process on paired differences."""

from __future__ import annotations

import math

import numpy as np

from lrtune import stats
from lrtune.stats.anytime import MAX_STAKE, Wealth


def test_wealth_grows_on_wins_and_shrinks_on_losses_and_is_scale_free():
    d = np.array([0.3, 0.5, 0.2, 0.4, 0.6, 0.3])
    up = stats.log_evidence(d)
    assert np.all(np.diff(up) > 0)
    np.testing.assert_allclose(stats.log_evidence(d * 1e-3), up)  # accuracies or points alike
    down = stats.log_evidence(-d)
    assert np.all(down <= 0)
    # one seed can at most double the wealth and cost at most a factor 1 − λ_max
    steps = np.diff(np.concatenate([[0.0], stats.log_evidence(np.array([1.0, 1.0, -1.0, 1.0]))]))
    assert steps.max() <= math.log(2) and steps.min() >= math.log(1 - MAX_STAKE) - 1e-12


def test_a_zero_or_missing_difference_changes_nothing():
    d = np.array([0.3, 0.0, np.nan, 0.4])
    e = stats.log_evidence(d)
    assert e[1] == e[0] == e[2]
    np.testing.assert_allclose(stats.log_evidence(np.array([0.3, 0.4]))[-1], e[-1], rtol=0.3)


def test_the_stake_ignores_the_sign_of_the_current_seed():
    wealth = Wealth((2,))
    wealth.step(np.array([0.2, 0.2]))
    stake = wealth.stake(np.array([0.5, -0.5]))
    assert stake[0] == stake[1] > 0


def test_wealth_is_a_martingale_under_sign_flips():
    """E[E_n] = 1 exactly when every sign is a fair coin given the magnitudes: average the final
    wealth over all 2^8 sign patterns of one set of magnitudes."""
    rng = np.random.default_rng(0)
    magnitudes = rng.exponential(1.0, 8)
    bits = (np.arange(256)[:, None] >> np.arange(8)[None, :]) & 1
    d = magnitudes * (1.0 - 2.0 * bits)
    final = np.exp(stats.log_evidence(d)[:, -1])
    assert np.mean(final) == np.float64(np.mean(final)) and abs(np.mean(final) - 1.0) < 1e-9
    assert np.mean(np.exp(stats.sign_log_evidence(d)[:, -1])) <= 1.0 + 1e-9
