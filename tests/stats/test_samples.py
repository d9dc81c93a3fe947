"""lrtune.stats.samples: the expected maximum after n trials."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lrtune import stats

# --------------------------------------------------------------------------------------------
# expected maximum after n trials
# --------------------------------------------------------------------------------------------


def brute_force_with_replacement(values, n):
    """Mean of max over all N^n ordered draws."""
    return float(np.mean([max(c) for c in itertools.product(values, repeat=n)]))


def brute_force_without_replacement(values, n):
    """Mean of max over all C(N, n) subsets."""
    return float(np.mean([max(c) for c in itertools.combinations(values, n)]))


def test_expected_max_hand_values():
    v = [4.0, 1.0, 3.0, 2.0]  # unsorted on purpose
    # with replacement, n = 2: Σ v(i)[(i/4)^2 − ((i−1)/4)^2] = (1·1 + 2·3 + 3·5 + 4·7)/16
    assert stats.expected_max(v, 2) == pytest.approx(50 / 16)
    # without replacement, n = 2: Σ v(j)·C(j−1, 1)/C(4, 2) = (2·1 + 3·2 + 4·3)/6
    assert stats.expected_max(v, 2, replace=False) == pytest.approx(20 / 6)


@pytest.mark.parametrize("replace", [True, False])
def test_expected_max_of_one_trial_is_the_mean(replace):
    v = np.array([0.3, 0.9, 0.5, 0.5, 0.71])
    assert stats.expected_max(v, 1, replace=replace) == pytest.approx(v.mean())


def test_expected_max_without_replacement_of_all_trials_is_the_max():
    v = np.random.default_rng(3).uniform(size=17)
    assert stats.expected_max(v, 17, replace=False) == pytest.approx(v.max())


def test_expected_max_matches_brute_force_with_ties():
    v = [0.2, 0.5, 0.5, 0.9, 0.1, 0.9]
    for n in range(1, 4):
        assert stats.expected_max(v, n) == pytest.approx(brute_force_with_replacement(v, n))
    for n in range(1, len(v) + 1):
        assert stats.expected_max(v, n, replace=False) == pytest.approx(brute_force_without_replacement(v, n))


def test_expected_max_with_replacement_increases_towards_the_max():
    v = np.random.default_rng(0).normal(size=30)
    curve = stats.expected_max_curve(v)
    assert np.all(np.diff(curve) > 0)
    assert curve[-1] < v.max()
    assert stats.expected_max(v, 10_000) == pytest.approx(v.max(), abs=1e-6)


def test_expected_max_is_stable_for_hundreds_of_trials():
    v = np.random.default_rng(1).uniform(0.5, 0.9, size=400)
    curve = stats.expected_max_curve(v, replace=False)
    assert np.all(np.isfinite(curve))
    assert np.all(np.diff(curve) >= -1e-12)
    assert curve[0] == pytest.approx(v.mean())
    assert curve[-1] == pytest.approx(v.max())
    # C(399, 199)/C(400, 200) style weights must still sum to one
    assert stats.expected_max(np.ones(400), 200, replace=False) == pytest.approx(1.0)


def test_expected_max_rejects_bad_input():
    with pytest.raises(ValueError, match="must be <= the number of scores"):
        stats.expected_max([1.0, 2.0], 3, replace=False)
    with pytest.raises(ValueError, match="integer >= 1"):
        stats.expected_max([1.0, 2.0], 0)
    with pytest.raises(ValueError, match="finite"):
        stats.expected_max([1.0, float("nan")], 1)
    with pytest.raises(ValueError, match="at least one"):
        stats.expected_max([], 1)
