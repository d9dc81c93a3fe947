"""Effect size P(A > B) between two independent samples: estimate, exact distribution, interval, p-value.

P(A > B) is the probability that a random run of family A beats a random run of family B
(Mann–Whitney U / (n·m)); its interval inverts the exact rank test within the Lehmann family.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import optimize, special
from scipy import stats as _sps

from lrtune.stats.samples import as_scores

__all__ = [
    "EXACT_MAX_PAIRS",
    "lehmann_u_distribution",
    "prob_superiority",
    "superiority_interval",
    "superiority_pvalue",
]

#: Largest n·m for which intervals and p-values are exact (above it: bootstrap / asymptotic).
EXACT_MAX_PAIRS = 2500


def _u_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """U = Σ_i Σ_j ([a_i > b_j] + ½[a_i = b_j]) — the Mann–Whitney statistic of sample a."""
    b_sorted = np.sort(b)
    below = np.searchsorted(b_sorted, a, side="left")
    below_or_equal = np.searchsorted(b_sorted, a, side="right")
    return float(np.sum(below) + 0.5 * np.sum(below_or_equal - below))


def prob_superiority(a: Sequence[float], b: Sequence[float]) -> float:
    """P̂(A > B) = U / (n·m), ties counted ½ (the common-language effect size, = AUC).

    0.5 means no difference, 1 means every run of A beats every run of B.
    """
    a_arr, b_arr = as_scores(a, "a"), as_scores(b, "b")
    return _u_statistic(a_arr, b_arr) / (a_arr.size * b_arr.size)


def lehmann_u_distribution(n_a: int, n_b: int, theta: float) -> np.ndarray:
    """Exact distribution of U (pairs with A > B) when F_A = F_B^k, θ = P(A > B) = k/(k+1).

    Under the Lehmann alternative F_A = G^k, F_B = G (G continuous) the ranks are distribution
    free. Mapping the values through G makes B uniform and A ~ Beta(k, 1); integrating the
    ordered sample out gives, for an arrangement (word) of the pooled sorted sample,

        P(word) ∝ Π_{i=1}^{N} 1 / (i + (k − 1)·a_i),   a_i = number of A's among the i smallest,

    and U adds, for every A, the number of B's below it. A dynamic programme over the positions
    (state: A's so far, their rank sum) yields the exact pmf in O(N·n_a·(n_a·n_b + n_a²)).
    At θ = ½ (k = 1) this is the null distribution of the Mann–Whitney test. Returns ``pmf``
    with ``pmf[u] = P(U = u)``, u = 0..n_a·n_b; its mean is n_a·n_b·θ.
    """
    if n_a < 1 or n_b < 1:
        raise ValueError(f"sample sizes must be >= 1, but got n_a={n_a}, n_b={n_b}")
    if not 0.0 < theta < 1.0:
        raise ValueError(f"theta must be in (0, 1), but got {theta}")
    return _lehmann_pmf(n_a, n_b, theta / (1.0 - theta))


def _lehmann_pmf(n_a: int, n_b: int, k: float) -> np.ndarray:
    """The dynamic programme of :func:`lehmann_u_distribution`, parametrised by k > 0.

    It tracks the rank sum R of the A's (placing an A at position i adds i, whatever came
    before, so one vectorised shift per position) and returns U = R − n_a(n_a + 1)/2.
    """
    n_total = n_a + n_b
    r_offset = n_a * (n_a + 1) // 2
    r_max = r_offset + n_a * n_b
    a = np.arange(n_a + 1)
    state = np.zeros((n_a + 1, r_max + 1))  # state[a, R] over prefixes of the pooled sample
    state[0, 0] = 1.0
    for i in range(1, n_total + 1):  # i = length of the prefix after this step
        b = i - a  # B's in a prefix of length i holding a A's
        valid = (b >= 0) & (b <= n_b)
        # 1 / (i + (k − 1)·a), written as 1 / ((i − a) + k·a); zero for impossible rows
        weight = np.where(valid, 1.0 / np.where(valid, b + k * a, 1.0), 0.0)
        new = state * weight[:, None]  # the i-th value is a B
        new[1:, i:] += state[:-1, : r_max + 1 - i] * weight[1:, None]  # the i-th value is an A
        state = new / new.sum()  # every word gets the same per-step constant: renormalise
    return state[n_a, r_offset:]


def _exact_bound(n_a: int, n_b: int, u_obs: float, tail: float, *, lower: bool) -> float:
    """Invert the exact Lehmann-family test: the lower (or upper) confidence bound for θ.

    lower: inf{θ : P_θ(U ≥ ⌊u⌋) > tail};  upper: sup{θ : P_θ(U ≤ ⌈u⌉) > tail}.
    P_θ(U ≥ c) increases with θ, so each bound is one root, found on log k ∈ [−30, 30]
    (θ = k/(k+1) from about 1e-13 to 1 − 1e-13).
    """
    n_pairs = n_a * n_b
    if lower:
        cut = math.floor(u_obs)
        if cut <= 0:
            return 0.0

        def excess(log_k: float) -> float:
            return float(_lehmann_pmf(n_a, n_b, math.exp(log_k))[cut:].sum()) - tail

    else:
        cut = math.ceil(u_obs)
        if cut >= n_pairs:
            return 1.0

        def excess(log_k: float) -> float:
            return float(_lehmann_pmf(n_a, n_b, math.exp(log_k))[: cut + 1].sum()) - tail

    lo, hi = -30.0, 30.0
    if excess(lo) * excess(hi) > 0:  # cannot happen for 0 < cut < n·m; be safe anyway
        return 0.0 if lower else 1.0
    root = optimize.brentq(excess, lo, hi, xtol=1e-7)
    return float(special.expit(root))


def _bootstrap_interval(
    a: np.ndarray, b: np.ndarray, tail: float, *, n_boot: int, seed: int
) -> tuple[float, float]:
    """Percentile bootstrap (each sample resampled separately) for U/(n·m); seeded."""
    rng = np.random.default_rng(seed)
    estimates = np.empty(n_boot)
    for r in range(n_boot):
        a_star = a[rng.integers(0, a.size, a.size)]
        b_star = b[rng.integers(0, b.size, b.size)]
        estimates[r] = _u_statistic(a_star, b_star) / (a.size * b.size)
    low, high = np.quantile(estimates, [tail, 1.0 - tail])
    return float(low), float(high)


def superiority_interval(
    a: Sequence[float],
    b: Sequence[float],
    *,
    tail: float = 0.025,
    n_boot: int = 2000,
    seed: int = 0,
) -> tuple[float, float, str]:
    """Interval (low, high, method) for θ = P(A > B) with probability ``tail`` in each tail.

    ``low`` is a one-sided (1 − tail) lower confidence bound, ``high`` a one-sided (1 − tail)
    upper bound; together a (1 − 2·tail) two-sided interval.

    * n·m ≤ ``EXACT_MAX_PAIRS`` (method ``"exact"``): inversion of the exact rank test within the
      Lehmann family F_A = F_B^k (see :func:`lehmann_u_distribution`):
      low = inf{θ : P_θ(U ≥ ⌊U_obs⌋) > tail}, high = sup{θ : P_θ(U ≤ ⌈U_obs⌉) > tail}.
      Chosen because it is exact and distribution free for small samples, never degenerates
      (P̂ = 1 with 3 vs 3 still gives a wide interval, unlike a bootstrap's [1, 1]), and at θ = ½
      the test *is* the exact Mann–Whitney test, so low > ½ exactly when scipy's one-sided exact
      p-value is below ``tail`` (up to the open boundary p = tail). Ties use ⌊·⌋/⌈·⌉ of the
      half-integer U, which is conservative and matches scipy's exact p-value. The coverage
      is exact when F_A = F_B^k for some k (any continuous F_B); for other shapes the bounds
      are a model-based approximation, while the test of θ = ½ stays exact under "no
      difference".
    * larger samples (method ``"bootstrap"``): seeded percentile bootstrap with ``n_boot``
      resamples.
    """
    a_arr, b_arr = as_scores(a, "a"), as_scores(b, "b")
    if not 0.0 < tail < 0.5:
        raise ValueError(f"tail must be in (0, 0.5), but got {tail}")
    if a_arr.size * b_arr.size > EXACT_MAX_PAIRS:
        low, high = _bootstrap_interval(a_arr, b_arr, tail, n_boot=n_boot, seed=seed)
        return low, high, "bootstrap"
    u_obs = _u_statistic(a_arr, b_arr)
    low = _exact_bound(a_arr.size, b_arr.size, u_obs, tail, lower=True)
    high = _exact_bound(a_arr.size, b_arr.size, u_obs, tail, lower=False)
    return low, high, "exact"


def superiority_pvalue(a: Sequence[float], b: Sequence[float]) -> tuple[float, str]:
    """One-sided p-value for H1: A tends to be larger than B (Mann–Whitney), and its method.

    p = P_{H0}(U ≥ U_obs) from ``scipy.stats.mannwhitneyu(a, b, alternative="greater")`` with
    ``method="exact"`` when n·m ≤ ``EXACT_MAX_PAIRS`` (no tie correction: conservative with
    ties), else ``method="asymptotic"`` (normal approximation, tie and continuity corrected).
    With 3 vs 3 the smallest possible value is 1/C(6, 3) = 0.05.
    """
    a_arr, b_arr = as_scores(a, "a"), as_scores(b, "b")
    method = "exact" if a_arr.size * b_arr.size <= EXACT_MAX_PAIRS else "asymptotic"
    result = _sps.mannwhitneyu(a_arr, b_arr, alternative="greater", method=method)
    return float(result.pvalue), method
