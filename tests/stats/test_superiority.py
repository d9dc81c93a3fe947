"""lrtune.stats.superiority: P(A > B), its exact distribution, interval and p-value."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from lrtune import stats

# --------------------------------------------------------------------------------------------
# P(A > B), exact distribution, interval, p-value
# --------------------------------------------------------------------------------------------

SMALL_SAMPLES = [
    ([0.81, 0.83, 0.85], [0.80, 0.79, 0.84]),
    ([0.9, 0.9, 0.8, 0.7], [0.9, 0.6, 0.7]),  # ties
    ([1.0, 2.0, 3.0, 4.0, 5.0], [6.0, 7.0]),
    ([0.5], [0.5]),
]


@pytest.mark.parametrize("a,b", SMALL_SAMPLES)
def test_prob_superiority_is_mann_whitney_u_over_nm(a, b):
    u = sps.mannwhitneyu(a, b, method="exact").statistic
    assert stats.prob_superiority(a, b) == pytest.approx(u / (len(a) * len(b)))
    assert stats.prob_superiority(a, b) + stats.prob_superiority(b, a) == pytest.approx(1.0)


def test_prob_superiority_hand_value_with_a_tie():
    # pairs (a, b): 2>1, 2=2, 3>1, 3>2  ->  (3 + 0.5)/4
    assert stats.prob_superiority([2.0, 3.0], [1.0, 2.0]) == pytest.approx(3.5 / 4)


@pytest.mark.parametrize("a,b", SMALL_SAMPLES)
def test_pvalue_matches_scipy_exact(a, b):
    p, method = stats.superiority_pvalue(a, b)
    assert method == "exact"
    expected = sps.mannwhitneyu(a, b, alternative="greater", method="exact").pvalue
    assert p == pytest.approx(expected)


def test_three_vs_three_best_one_sided_pvalue_is_one_twentieth():
    p, _ = stats.superiority_pvalue([4, 5, 6], [1, 2, 3])
    assert p == pytest.approx(1 / math.comb(6, 3)) == pytest.approx(0.05)


def test_lehmann_distribution_at_half_is_the_null_distribution():
    n_a, n_b = 3, 4
    counts = np.zeros(n_a * n_b + 1)
    pooled = range(n_a + n_b)
    for a_idx in itertools.combinations(pooled, n_a):  # ranks of the A's, all equally likely
        b_idx = [r for r in pooled if r not in a_idx]
        counts[sum(ra > rb for ra in a_idx for rb in b_idx)] += 1
    np.testing.assert_allclose(stats.lehmann_u_distribution(n_a, n_b, 0.5), counts / counts.sum(), atol=1e-12)


@pytest.mark.parametrize("theta", [0.1, 0.5, 0.8, 0.97])
def test_lehmann_distribution_has_mean_nm_theta(theta):
    pmf = stats.lehmann_u_distribution(5, 7, theta)
    assert pmf.sum() == pytest.approx(1.0)
    assert np.dot(np.arange(pmf.size), pmf) == pytest.approx(35 * theta)


def test_lehmann_distribution_matches_simulation():
    k, n_a, n_b = 4.0, 3, 4  # F_A = G^k with G uniform: A = V^(1/k); theta = 0.8
    rng = np.random.default_rng(0)
    a = rng.random((100_000, n_a)) ** (1 / k)
    b = rng.random((100_000, n_b))
    u = (a[:, :, None] > b[:, None, :]).sum(axis=(1, 2))
    empirical = np.bincount(u, minlength=13) / u.size
    np.testing.assert_allclose(empirical, stats.lehmann_u_distribution(3, 4, 0.8), atol=0.006)


@pytest.mark.parametrize("a,b", SMALL_SAMPLES[:3])
def test_exact_interval_contains_the_estimate_and_inverts_the_test(a, b):
    tail = 0.05
    low, high, method = stats.superiority_interval(a, b, tail=tail)
    assert method == "exact"
    assert 0.0 <= low <= stats.prob_superiority(a, b) <= high <= 1.0
    u = sps.mannwhitneyu(a, b).statistic
    if low > 0:  # at the lower bound the upper tail probability equals the tail
        pmf = stats.lehmann_u_distribution(len(a), len(b), low)
        assert pmf[math.floor(u) :].sum() == pytest.approx(tail, abs=1e-5)


def test_interval_excludes_half_exactly_when_the_exact_test_rejects():
    rng = np.random.default_rng(7)
    tail = 0.05
    for _ in range(25):
        a = rng.normal(0.6, 1.0, size=rng.integers(3, 9))
        b = rng.normal(0.0, 1.0, size=rng.integers(3, 9))
        low, _, _ = stats.superiority_interval(a, b, tail=tail)
        p, _ = stats.superiority_pvalue(a, b)
        if abs(p - tail) > 1e-6:
            assert (low > 0.5) == (p < tail), (a, b, low, p)


def test_three_vs_three_interval_touches_half():
    low, high, _ = stats.superiority_interval([4, 5, 6], [1, 2, 3], tail=0.05)
    assert low == pytest.approx(0.5, abs=1e-6)
    assert high == 1.0
    low_two_sided, _, _ = stats.superiority_interval([4, 5, 6], [1, 2, 3], tail=0.025)
    assert low_two_sided < 0.5  # two-sided 95 %: 3 vs 3 cannot exclude 0.5


def test_bootstrap_interval_for_large_samples_is_seeded():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0.5, 1, 60), rng.normal(0, 1, 60)
    first = stats.superiority_interval(a, b)
    assert first[2] == "bootstrap"
    assert first == stats.superiority_interval(a, b)
    assert first[0] < stats.prob_superiority(a, b) < first[1]
    assert stats.superiority_pvalue(a, b)[1] == "asymptotic"
