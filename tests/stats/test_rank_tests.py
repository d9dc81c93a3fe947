"""lrtune.stats.rank_tests: two-sided tests, paired and unpaired, and their effect intervals."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from lrtune import stats

# --------------------------------------------------------------------------------------------
# two-sided tests, paired and unpaired, and their effect intervals
# --------------------------------------------------------------------------------------------


def test_paired_pvalue_matches_scipy_exact_wilcoxon_without_ties():
    rng = np.random.default_rng(3)
    for n in (5, 6, 8, 10):
        a, b = rng.normal(0.3, 1, n), rng.normal(0, 1, n)
        p, method = stats.paired_pvalue(a, b)
        assert method == "exact"
        assert p == pytest.approx(sps.wilcoxon(a, b, method="exact").pvalue, rel=1e-12)


def test_paired_pvalue_is_the_share_of_sign_flips_at_least_as_extreme():
    d = np.array([0.004, -0.001, 0.002, 0.0, 0.003, 0.002])  # a zero and a tie: Pratt midranks
    r = stats.signed_ranks(d)
    np.testing.assert_allclose(r, [6, -2, 3.5, 0, 5, 3.5])
    flips = [abs(np.dot(s, r)) for s in itertools.product((1, -1), repeat=6)]
    expected = np.mean(np.array(flips) >= abs(r.sum()) - 1e-9)
    assert stats.paired_pvalue(d, np.zeros(6))[0] == pytest.approx(expected)


def test_accuracy_differences_that_are_equal_tie_despite_rounding():
    a = np.array([0.953, 0.958, 0.961])
    b = np.array([0.948, 0.953, 0.956])  # every difference is 0.005 in exact arithmetic
    np.testing.assert_allclose(stats.signed_ranks(a - b), [2, 2, 2])


def test_smallest_two_sided_pvalues():
    assert stats.smallest_pvalue(5, 5, paired=True) == 2 / 32
    assert stats.smallest_pvalue(8, 8, paired=True) == 2 / 256
    assert stats.smallest_pvalue(3, 3, paired=False) == pytest.approx(0.1)
    assert stats.smallest_pvalue(5, 5, paired=False) == pytest.approx(2 / 252)
    assert stats.paired_pvalue([2, 3, 4, 5, 6], [1, 1, 1, 1, 1])[0] == 2 / 32
    assert stats.unpaired_pvalue([4, 5, 6], [1, 2, 3])[0] == pytest.approx(0.1)


def _brute_coverage_sign_interval(n, c):
    """P(d_(c) ≤ median ≤ d_(n−c+1)) for a continuous symmetric law: by the binomial count."""
    below = sps.binom(n, 0.5)
    return 1 - 2 * below.cdf(c - 1)


def test_median_difference_interval_is_the_sign_test_interval():
    est, low, high, cov = stats.median_difference_interval([1, 2, 3, 4, 5], [0] * 5)
    assert (est, low, high) == (3.0, 1.0, 5.0)
    assert cov == pytest.approx(1 - 2 / 32)  # 5 pairs cannot reach 95 %: [min, max] covers 93.75 %
    d = np.arange(20.0)
    est, low, high, cov = stats.median_difference_interval(d, np.zeros(20))
    # c = 6: P(Bin(20, ½) ≤ 5) = 0.0207 ≤ 0.025 < P(≤ 6) = 0.0577
    assert (low, high) == (5.0, 14.0) and est == 9.5
    assert cov == pytest.approx(_brute_coverage_sign_interval(20, 6))


def test_shift_interval_covers_as_stated_in_simulation():
    rng = np.random.default_rng(5)
    hits, coverage = 0, None
    for _ in range(400):
        a, b = rng.normal(1.0, 1, 5), rng.normal(0.0, 1, 5)
        est, low, high, coverage = stats.shift_interval(a, b)
        assert low <= est <= high
        hits += low <= 1.0 <= high
    assert coverage == pytest.approx(1 - 2 * 4 / 252)  # P(U ≤ 2) = 4/252 ≤ 0.025 < P(U ≤ 3) = 7/252
    assert abs(hits / 400 - coverage) < 3 * math.sqrt(coverage * (1 - coverage) / 400) + 0.01
