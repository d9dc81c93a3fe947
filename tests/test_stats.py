"""lrtune.stats: expected max, P(A > B) with exact intervals and p-values, Holm, the verdict."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

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
        assert stats.expected_max(v, n, replace=False) == pytest.approx(
            brute_force_without_replacement(v, n)
        )


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
    np.testing.assert_allclose(stats.lehmann_u_distribution(n_a, n_b, 0.5),
                               counts / counts.sum(), atol=1e-12)


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
        assert pmf[math.floor(u):].sum() == pytest.approx(tail, abs=1e-5)


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


# --------------------------------------------------------------------------------------------
# Holm
# --------------------------------------------------------------------------------------------


def test_holm_hand_example():
    # sorted 0.01, 0.03, 0.04 -> 3·0.01, 2·0.03, max(0.06, 1·0.04)
    np.testing.assert_allclose(stats.holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(stats.holm([0.5, 0.9]), [1.0, 1.0])
    np.testing.assert_allclose(stats.holm([0.02]), [0.02])


def test_holm_rejects_bad_pvalues():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        stats.holm([0.1, 1.5])


# --------------------------------------------------------------------------------------------
# verdict
# --------------------------------------------------------------------------------------------


def seeds(center, n=8, spread=0.002, seed=0):
    return center + np.random.default_rng(seed).uniform(-spread, spread, n)


def test_verdict_clear_winner():
    samples = {"cosine": seeds(0.90), "step": seeds(0.85, seed=1), "wsd": seeds(0.86, seed=2)}
    v = stats.verdict(samples, metric="test accuracy")
    assert v.winner == "cosine"
    assert v.leading_group == ["cosine"]
    assert v.text.startswith("cosine wins")
    assert set(v.comparisons["other"]) == {"step", "wsd"}
    assert v.comparisons["separated"].all()
    assert (v.comparisons["p_superiority"] == 1.0).all()
    assert (v.comparisons["ci_low"] > 0.5).all()
    assert "8 runs per family" in v.budget


def test_verdict_indistinguishable_families_are_inconclusive():
    same = np.linspace(0.80, 0.82, 16)
    samples = {"cosine": same[0::2], "wsd": same[1::2]}  # interleaved: P ≈ 0.56
    v = stats.verdict(samples)
    assert v.winner is None
    assert v.leading_group == ["wsd", "cosine"]
    assert v.text.startswith("inconclusive between wsd, cosine")


def test_verdict_names_the_leading_group_and_leaves_out_the_separated():
    tied = np.linspace(0.80, 0.82, 16)
    samples = {"cosine": tied[1::2] + 0.05, "wsd": tied[0::2] + 0.05, "step": seeds(0.70)}
    v = stats.verdict(samples)
    assert v.winner is None
    assert v.leading_group == ["cosine", "wsd"]
    row = v.comparisons.set_index("other").loc["step"]
    assert bool(row["separated"])


def test_verdict_needs_a_large_effect_not_just_significance():
    a, b = np.arange(40.0) + 11, np.arange(40.0)  # P(A > B) = 0.737, p tiny
    v = stats.verdict({"a": a, "b": b})
    row = v.comparisons.iloc[0]
    assert row["p_holm"] < 1e-3
    assert row["p_superiority"] < 0.75
    assert v.winner is None


def test_three_seeds_can_separate_two_families_but_not_three():
    two = stats.verdict({"a": [0.91, 0.92, 0.93], "b": [0.81, 0.82, 0.83]})
    assert two.winner == "a"  # p = 0.05 is the best 3 vs 3 can do, and it is enough for one test
    three = stats.verdict(
        {"a": [0.91, 0.92, 0.93], "b": [0.81, 0.82, 0.83], "c": [0.71, 0.72, 0.73]}
    )
    assert three.winner is None  # Holm: the smallest p must be <= 0.025
    assert three.leading_group == ["a", "b", "c"]


def test_verdict_ranks_by_median_then_mean_then_name():
    v = stats.verdict({"b": [1.0, 2.0, 3.0], "a": [1.0, 2.0, 3.0]})
    assert v.leading_group == ["a", "b"]
    v = stats.verdict({"x": [0.0, 5.0, 9.0], "y": [4.0, 4.5, 4.6]}, center="mean")
    assert v.leading_group[0] == "x"


def test_verdict_rejects_a_single_family():
    with pytest.raises(ValueError, match="at least two families"):
        stats.verdict({"cosine": [0.9, 0.91]})


def test_format_interval_marks_an_open_lower_end():
    assert stats.format_interval(0.4999999, 1.0, True) == "(0.50, 1.00]"
    assert stats.format_interval(0.4999999, 1.0, False) == "[0.50, 1.00]"
    assert stats.format_interval(0.62, 0.97, True) == "[0.62, 0.97]"
    v = stats.verdict({"a": [0.91, 0.92, 0.93], "b": [0.81, 0.82, 0.83]})
    assert "P(a > b) = 1.00 (0.50, 1.00], Holm p = 0.05" in v.text
