"""Two-sided tests of one comparison, and the intervals of its effect.

The exact sign-flip Wilcoxon signed-rank test of per-seed differences when every family ran the
same seeds (paired), else the exact Mann–Whitney test (unpaired); the median paired difference
with its sign-test interval and the Hodges–Lehmann shift with its exact interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache

import numpy as np
from scipy import stats as _sps

from lrtune.stats.samples import REL_TOL, as_scores
from lrtune.stats.superiority import EXACT_MAX_PAIRS, lehmann_u_distribution

__all__ = [
    "EXACT_MAX_SIGNS",
    "mann_whitney_pvalues",
    "median_difference_interval",
    "paired_pvalue",
    "paired_superiority",
    "shift_interval",
    "signed_rank_pvalues",
    "signed_ranks",
    "smallest_pvalue",
    "unpaired_pvalue",
]

#: Paired tests enumerate all 2^n sign vectors up to this many pairs (above: Monte Carlo).
EXACT_MAX_SIGNS = 16
_MC_SIGNS = 2**16  # random sign vectors (seeded) for more pairs than EXACT_MAX_SIGNS
_CHUNK = 2**22  # elements of one (replicates × sign vectors) block


@cache
def _sign_vectors(n: int) -> np.ndarray:
    """All 2^n vectors of ±1 (n ≤ EXACT_MAX_SIGNS), else 1 + _MC_SIGNS seeded ones (the first
    is all +1, the observed arrangement), as a float array of shape (rows, n)."""
    if n <= EXACT_MAX_SIGNS:
        bits = (np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1
        return 1.0 - 2.0 * bits
    rng = np.random.default_rng(20240611)
    signs = 1.0 - 2.0 * rng.integers(0, 2, size=(_MC_SIGNS, n))
    return np.vstack([np.ones((1, n)), signs])


def signed_ranks(d: np.ndarray) -> np.ndarray:
    """Pratt signed ranks along the last axis: rank |d| (midranks for ties, zeros included in
    the ranking), then multiply by sign(d), so a zero difference scores 0.

    |d| is rounded to 12 decimals first, so differences of accuracies that are equal in exact
    arithmetic (0.953 − 0.948 and 0.958 − 0.953) tie instead of being ordered by rounding error.
    """
    d = np.asarray(d, dtype=float)
    ranks = _sps.rankdata(np.round(np.abs(d), 12), axis=-1)
    return np.sign(d) * ranks


def signed_rank_pvalues(d: np.ndarray) -> np.ndarray:
    """Two-sided sign-flip p-values of T = Σ signed ranks, along the last axis of ``d``.

    Under "no difference" each per-seed difference is as likely to be +d as −d, so all 2^n
    sign vectors ε are equally likely and p = #{ε : |Σ ε_i r_i| ≥ |Σ r_i|} / 2^n (exact; the
    conditional distribution given the observed |d| handles ties and zeros). Above
    ``EXACT_MAX_SIGNS`` pairs, p = (1 + #hits among 2^16 seeded random ε) / (1 + 2^16).
    """
    r = signed_ranks(d)
    lead_shape, n = r.shape[:-1], r.shape[-1]
    flat = r.reshape(-1, n)
    signs = _sign_vectors(n)
    out = np.empty(flat.shape[0])
    chunk = max(1, _CHUNK // signs.shape[0])
    for start in range(0, flat.shape[0], chunk):
        block = flat[start : start + chunk]
        observed = np.abs(block.sum(axis=1))
        permuted = np.abs(block @ signs.T)  # the first exact row is all −1; |·| is symmetric
        hits = (permuted >= observed[:, None] - 1e-9).sum(axis=1)
        out[start : start + chunk] = hits / signs.shape[0]
    return out.reshape(lead_shape)


def mann_whitney_pvalues(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """Two-sided Mann–Whitney p-values and U/(n·m) along the last axes (exact when n·m ≤
    EXACT_MAX_PAIRS: scipy's exact null, no tie correction, conservative with ties)."""
    method = "exact" if a.shape[-1] * b.shape[-1] <= EXACT_MAX_PAIRS else "asymptotic"
    result = _sps.mannwhitneyu(a, b, axis=-1, alternative="two-sided", method=method)
    return (
        np.asarray(result.pvalue, dtype=float),
        np.asarray(result.statistic) / (a.shape[-1] * b.shape[-1]),
        method,
    )


def paired_pvalue(a: Sequence[float], b: Sequence[float]) -> tuple[float, str]:
    """Two-sided exact sign-flip (Wilcoxon signed-rank, Pratt zeros) p-value of a − b per seed.

    ``a[i]`` and ``b[i]`` must come from the same seed. With n pairs the smallest possible
    value is 2/2^n (0.0625 for 5 pairs, 0.0078 for 8). Returns (p, "exact" or "monte-carlo").
    """
    a_arr, b_arr = as_scores(a, "a"), as_scores(b, "b")
    if a_arr.size != b_arr.size:
        raise ValueError(f"paired samples must have equal sizes, but got {a_arr.size} and {b_arr.size}")
    method = "exact" if a_arr.size <= EXACT_MAX_SIGNS else "monte-carlo"
    return float(signed_rank_pvalues(a_arr - b_arr)), method


def unpaired_pvalue(a: Sequence[float], b: Sequence[float]) -> tuple[float, str]:
    """Two-sided Mann–Whitney p-value (exact when n·m ≤ EXACT_MAX_PAIRS), and its method."""
    a_arr, b_arr = as_scores(a, "a"), as_scores(b, "b")
    p, _, method = mann_whitney_pvalues(a_arr, b_arr)
    return float(p), method


def paired_superiority(a: Sequence[float], b: Sequence[float]) -> float:
    """P̂(A > B) on paired seeds: the share of seeds where A beats B (ties count ½)."""
    d = as_scores(a, "a") - as_scores(b, "b")
    return float(np.mean((d > 0) + 0.5 * (d == 0)))


def smallest_pvalue(n_a: int, n_b: int, *, paired: bool) -> float:
    """The smallest two-sided p-value a comparison can reach: 2/2^n paired (n pairs, none
    tied at zero), 2/C(n_a + n_b, n_a) unpaired (capped at 1)."""
    if paired:
        return min(1.0, 2.0 / 2.0 ** min(n_a, n_b))
    return min(1.0, 2.0 / math.comb(n_a + n_b, n_a))


def _order_statistic_interval(
    sorted_values: np.ndarray, null_cdf: np.ndarray, tail: float
) -> tuple[float, float, float]:
    """[v_(c), v_(N−c+1)] with c = 1 + max{u : F(u) ≤ tail} (c = 1 if none), F the null cdf of the
    count of values below the true centre (each side misses with probability F(c − 1)); returns
    (low, high, coverage = 1 − 2·F(c − 1))."""
    n = sorted_values.size
    ok = np.nonzero(null_cdf <= tail * (1 + REL_TOL))[0]
    c = int(ok[-1]) + 1 if ok.size else 1
    c = min(c, (n + 1) // 2)
    coverage = max(0.0, 1.0 - 2.0 * float(null_cdf[c - 1]))
    return float(sorted_values[c - 1]), float(sorted_values[n - c]), coverage


def median_difference_interval(
    a: Sequence[float], b: Sequence[float], *, level: float = 0.95
) -> tuple[float, float, float, float]:
    """Median paired difference of a − b with its distribution-free (sign-test) interval.

    With the n differences sorted, the interval is [d_(c), d_(n−c+1)]: the number of
    differences above the true median is Binomial(n, ½), and c is the largest index with
    P(Bin ≤ c − 1) ≤ (1 − level)/2. Small n cannot reach every level (5 pairs: [min, max] covers
    93.75 %); the coverage actually achieved is returned. Returns (median, low, high, coverage).
    """
    d = np.sort(as_scores(a, "a") - as_scores(b, "b"))
    cdf = _sps.binom.cdf(np.arange(d.size + 1), d.size, 0.5)
    low, high, coverage = _order_statistic_interval(d, cdf, (1.0 - level) / 2.0)
    return float(np.median(d)), low, high, coverage


def shift_interval(
    a: Sequence[float], b: Sequence[float], *, level: float = 0.95
) -> tuple[float, float, float, float]:
    """Hodges–Lehmann shift of a over b (median of all a_i − b_j) with its exact interval.

    With the n·m pairwise differences sorted, the interval is [D_(c), D_(nm−c+1)] where c − 1 is
    the largest u with P_0(U ≤ u) ≤ (1 − level)/2 under the Mann–Whitney null. Returns
    (estimate, low, high, coverage achieved).
    """
    a_arr, b_arr = as_scores(a, "a"), as_scores(b, "b")
    diffs = np.sort((a_arr[:, None] - b_arr[None, :]).ravel())
    if a_arr.size * b_arr.size <= EXACT_MAX_PAIRS:
        cdf = np.cumsum(lehmann_u_distribution(a_arr.size, b_arr.size, 0.5))  # the null: θ = ½
    else:
        n, m = a_arr.size, b_arr.size
        u = np.arange(n * m + 1)
        cdf = _sps.norm.cdf((u + 0.5 - n * m / 2) / math.sqrt(n * m * (n + m + 1) / 12))
    low, high, coverage = _order_statistic_interval(diffs, cdf, (1.0 - level) / 2.0)
    return float(np.median(diffs)), low, high, coverage
