"""Pure statistics behind lrtune's verdict: numpy and scipy (pandas only for the verdict's table).

Four ideas live here.

* **Expected maximum after n trials** (Dodge et al. 2019, "Show Your Work"): how good a family
  looks after a search budget of n trials, estimated from the N trials that were run.
* **Effect size P(A > B)** (the probability that a random run of family A beats a random run of
  family B; Mann–Whitney U / (n·m)) with an *exact* interval, and, on paired seeds, the share
  of seeds A wins and the median paired difference with its sign-test interval.
* **Two-sided tests** for one comparison: the exact sign-flip Wilcoxon signed-rank test of
  per-seed differences when every family ran the same seeds (paired), else the exact
  Mann–Whitney test (unpaired); Holm's step-down correction over the leader's comparisons.
* **The verdict rule**: the leader (best median confirmed score) is chosen from the data, so
  its tests are two-sided; it wins only when it is separated from *every* other family,
  otherwise the result is "inconclusive between ..." naming the leading group. With all
  families equal a winner is named at most α of the time (``lrtune.simulate`` checks 2–8
  families × 3–10 seeds through :func:`decide`, which shares the tests and the rule).

All functions take plain sequences of finite floats and raise ``ValueError`` ("must ..., but
got ...") on bad input.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd
from scipy import optimize, special
from scipy import stats as _sps

__all__ = [
    "EXACT_MAX_PAIRS",
    "EXACT_MAX_SIGNS",
    "Verdict",
    "decide",
    "design_text",
    "expected_max",
    "expected_max_curve",
    "format_effect",
    "format_interval",
    "holm",
    "lehmann_u_distribution",
    "median_difference_interval",
    "paired_pvalue",
    "paired_superiority",
    "prob_superiority",
    "seeds_needed",
    "separation",
    "shift_interval",
    "signed_ranks",
    "smallest_pvalue",
    "superiority_interval",
    "superiority_pvalue",
    "unpaired_pvalue",
    "verdict",
]

#: Largest n·m for which intervals and p-values are exact (above it: bootstrap / asymptotic).
EXACT_MAX_PAIRS = 2500

_REL_TOL = 1e-9  # p <= alpha is decided with this relative tolerance (p = 1/20 vs alpha = 0.05)


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------


def _as_scores(values: Sequence[float] | np.ndarray, name: str = "scores") -> np.ndarray:
    """Return ``values`` as a 1-D float array; they must be non-empty and finite."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, but got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must contain at least one value, but got none")
    if not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)][:3].tolist()
        raise ValueError(f"{name} must all be finite, but got {bad}")
    return arr


# --------------------------------------------------------------------------------------------
# expected maximum after n trials
# --------------------------------------------------------------------------------------------


def _without_replacement_weights(n_total: int, n: int) -> np.ndarray:
    """Weights w_j = C(j−1, n−1) / C(N, n) for j = 1..N (zero for j < n), via log-gamma.

    w_j is the probability that the j-th smallest of N values is the maximum of a random
    n-subset. Computed as exp(lnC(j−1, n−1) − lnC(N, n)) with lnC(a, b) = lnΓ(a+1) − lnΓ(b+1)
    − lnΓ(a−b+1), which stays finite for N in the thousands; the weights are renormalised to sum
    to 1 (the hockey-stick identity Σ_j C(j−1, n−1) = C(N, n) makes that exact in real numbers).
    """
    j = np.arange(1, n_total + 1, dtype=float)
    weights = np.zeros(n_total)
    ok = j >= n
    log_num = special.gammaln(j[ok]) - special.gammaln(n) - special.gammaln(j[ok] - n + 1)
    log_den = special.gammaln(n_total + 1) - special.gammaln(n + 1) - special.gammaln(n_total - n + 1)
    weights[ok] = np.exp(log_num - log_den)
    return weights / weights.sum()


def _with_replacement_weights(n_total: int, n: int) -> np.ndarray:
    """Weights w_i = (i/N)^n − ((i−1)/N)^n for i = 1..N: P(max of n i.i.d. draws is v(i))."""
    i = np.arange(0, n_total + 1, dtype=float) / n_total
    cdf = i**n
    return np.diff(cdf)


def expected_max(scores: Sequence[float] | np.ndarray, n: int, *, replace: bool = True) -> float:
    """Expected maximum of n trials drawn from the N observed scores (Dodge et al. 2019).

    With the scores sorted, v(1) ≤ … ≤ v(N):

    * with replacement (n i.i.d. draws from the empirical distribution, any n ≥ 1):
      E_n = Σ_i v(i)·[(i/N)^n − ((i−1)/N)^n]
    * without replacement (a random n-subset of the N trials, 1 ≤ n ≤ N):
      E_n = Σ_j v(j)·C(j−1, n−1)/C(N, n)

    Both give E_1 = mean; without replacement E_N = max; both are non-decreasing in n. Ties need
    no special care: the formulas only use the sorted values.
    """
    values = np.sort(_as_scores(scores))
    n_total = values.size
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, but got {n!r}")
    if replace:
        weights = _with_replacement_weights(n_total, int(n))
    else:
        if n > n_total:
            raise ValueError(f"n must be <= the number of scores ({n_total}) without replacement, but got {n}")
        weights = _without_replacement_weights(n_total, int(n))
    return float(np.dot(weights, values))


def expected_max_curve(scores: Sequence[float] | np.ndarray, *, replace: bool = True) -> np.ndarray:
    """E_n for n = 1..N (see :func:`expected_max`); element ``n − 1`` is E_n."""
    values = _as_scores(scores)
    return np.array([expected_max(values, n, replace=replace) for n in range(1, values.size + 1)])


# --------------------------------------------------------------------------------------------
# P(A > B): point estimate, exact distribution under Lehmann alternatives, interval, p-value
# --------------------------------------------------------------------------------------------


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
    a_arr, b_arr = _as_scores(a, "a"), _as_scores(b, "b")
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
    a_arr, b_arr = _as_scores(a, "a"), _as_scores(b, "b")
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
    a_arr, b_arr = _as_scores(a, "a"), _as_scores(b, "b")
    method = "exact" if a_arr.size * b_arr.size <= EXACT_MAX_PAIRS else "asymptotic"
    result = _sps.mannwhitneyu(a_arr, b_arr, alternative="greater", method=method)
    return float(result.pvalue), method


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm step-down adjusted p-values, in the input order.

    With p_(1) ≤ … ≤ p_(m): p̃_(r) = max_{s ≤ r} min(1, (m − s + 1)·p_(s)). Rejecting p̃ ≤ α
    controls the family-wise error rate at α. Ties in p keep their input order (stable sort).
    """
    p = np.asarray(pvalues, dtype=float)
    if p.ndim != 1:
        raise ValueError(f"pvalues must be 1-D, but got shape {p.shape}")
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError(f"pvalues must lie in [0, 1], but got {p.tolist()}")
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


# --------------------------------------------------------------------------------------------
# two-sided tests for one comparison: paired (sign-flip) and unpaired (Mann–Whitney)
# --------------------------------------------------------------------------------------------

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


def _signed_rank_pvalues(d: np.ndarray) -> np.ndarray:
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


def _mann_whitney_pvalues(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
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
    a_arr, b_arr = _as_scores(a, "a"), _as_scores(b, "b")
    if a_arr.size != b_arr.size:
        raise ValueError(f"paired samples must have equal sizes, but got {a_arr.size} and {b_arr.size}")
    method = "exact" if a_arr.size <= EXACT_MAX_SIGNS else "monte-carlo"
    return float(_signed_rank_pvalues(a_arr - b_arr)), method


def unpaired_pvalue(a: Sequence[float], b: Sequence[float]) -> tuple[float, str]:
    """Two-sided Mann–Whitney p-value (exact when n·m ≤ EXACT_MAX_PAIRS), and its method."""
    a_arr, b_arr = _as_scores(a, "a"), _as_scores(b, "b")
    p, _, method = _mann_whitney_pvalues(a_arr, b_arr)
    return float(p), method


def paired_superiority(a: Sequence[float], b: Sequence[float]) -> float:
    """P̂(A > B) on paired seeds: the share of seeds where A beats B (ties count ½)."""
    d = _as_scores(a, "a") - _as_scores(b, "b")
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
    ok = np.nonzero(null_cdf <= tail * (1 + _REL_TOL))[0]
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
    d = np.sort(_as_scores(a, "a") - _as_scores(b, "b"))
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
    a_arr, b_arr = _as_scores(a, "a"), _as_scores(b, "b")
    diffs = np.sort((a_arr[:, None] - b_arr[None, :]).ravel())
    if a_arr.size * b_arr.size <= EXACT_MAX_PAIRS:
        cdf = np.cumsum(_lehmann_pmf(a_arr.size, b_arr.size, 1.0))
    else:
        n, m = a_arr.size, b_arr.size
        u = np.arange(n * m + 1)
        cdf = _sps.norm.cdf((u + 0.5 - n * m / 2) / math.sqrt(n * m * (n + m + 1) / 12))
    low, high, coverage = _order_statistic_interval(diffs, cdf, (1.0 - level) / 2.0)
    return float(np.median(diffs)), low, high, coverage


# --------------------------------------------------------------------------------------------
# the decision: leader vs every other family, two-sided, Holm
# --------------------------------------------------------------------------------------------


def _holm_rows(p: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values along the last axis (see :func:`holm`), vectorised."""
    m = p.shape[-1]
    order = np.argsort(p, axis=-1, kind="stable")
    sorted_p = np.take_along_axis(p, order, axis=-1)
    scaled = np.minimum(1.0, (m - np.arange(m)) * sorted_p)
    adjusted_sorted = np.maximum.accumulate(scaled, axis=-1)
    adjusted = np.empty_like(adjusted_sorted)
    np.put_along_axis(adjusted, order, adjusted_sorted, axis=-1)
    return adjusted


def separation(
    p_two_sided: np.ndarray, p_hat: np.ndarray, *, alpha: float, min_effect: float
) -> tuple[np.ndarray, np.ndarray]:
    """The rule shared by :func:`verdict` and :func:`decide`.

    ``p_two_sided`` and ``p_hat`` hold, along the last axis, the leader's m comparisons. Returns
    (Holm-adjusted p, separated) where separated = p_holm ≤ α and P̂(leader > other) ≥
    ``min_effect`` and P̂ > ½. The leader wins iff every comparison is separated.
    """
    p_holm = _holm_rows(np.asarray(p_two_sided, dtype=float))
    separated = (p_holm <= alpha * (1 + _REL_TOL)) & (p_hat >= min_effect) & (p_hat > 0.5)
    return p_holm, separated


def decide(
    scores: np.ndarray, *, paired: bool, alpha: float = 0.05, min_effect: float = 0.75, center: str = "median"
) -> np.ndarray:
    """Vectorised verdict for simulations: ``scores[r, k, s]`` = replicate r, family k, seed s.

    Same rule as :func:`verdict` (leader by ``center``, then mean, then index; two-sided tests
    against every other family; :func:`separation`). Returns, per replicate, the index of the
    winning family or −1 (inconclusive).
    """
    x = np.asarray(scores, dtype=float)
    if x.ndim != 3 or x.shape[1] < 2:
        raise ValueError(f"scores must have shape (replicates, families ≥ 2, seeds), but got {x.shape}")
    reps, k, _ = x.shape
    centre = np.median(x, axis=2) if center == "median" else x.mean(axis=2)
    index = np.broadcast_to(np.arange(k), (reps, k))
    order = np.lexsort((index, -x.mean(axis=2), -centre), axis=-1)
    leader = order[:, 0]
    others = order[:, 1:]
    lead = x[np.arange(reps), leader]  # (R, n)
    rival = np.take_along_axis(x, others[:, :, None], axis=1)  # (R, K−1, n)
    lead_b = np.broadcast_to(lead[:, None, :], rival.shape)
    if paired:
        d = lead_b - rival
        p = _signed_rank_pvalues(d)
        p_hat = np.mean((d > 0) + 0.5 * (d == 0), axis=-1)
    else:
        p, p_hat, _ = _mann_whitney_pvalues(lead_b, rival)
    _, separated = separation(p, p_hat, alpha=alpha, min_effect=min_effect)
    return np.where(separated.all(axis=1), leader, -1)


# --------------------------------------------------------------------------------------------
# the verdict
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """Which family wins, on what evidence.

    winner: the leader when it is separated from every other family, else None.
    leading_group: the leader followed by the families not separated from it (best first).
    text: one sentence for people ("the best configuration found for cosine in 12 trials beats
        ..." or "inconclusive between cosine, wsd ...").
    comparisons: one row per other family (leader vs other), see :func:`verdict`.
    budget: what the verdict rests on (samples per family, and whatever the caller adds).
    design: "paired" (per-seed differences, sign-flip test) or "unpaired" (Mann–Whitney).
    reachable: False when no outcome of this many seeds could clear the rule (see
        :func:`smallest_pvalue`); the text then says how many seeds are needed.
    """

    winner: str | None
    leading_group: list[str]
    text: str
    comparisons: pd.DataFrame = field(repr=False)
    budget: str
    metric: str = "score"
    alpha: float = 0.05
    min_effect: float = 0.75
    design: str = "unpaired"
    reachable: bool = True
    seeds_needed: int | None = None


def _center(values: np.ndarray, how: str) -> float:
    return float(np.median(values) if how == "median" else np.mean(values))


def _rank_families(samples: Mapping[str, np.ndarray], center: str) -> list[str]:
    """Families best first: by center (median or mean), then mean, then name (deterministic)."""
    return sorted(
        samples,
        key=lambda f: (-_center(samples[f], center), -float(np.mean(samples[f])), f),
    )


def _default_budget(samples: Mapping[str, np.ndarray], ranked: list[str]) -> str:
    sizes = {f: samples[f].size for f in ranked}
    if len(set(sizes.values())) == 1:
        return f"{next(iter(sizes.values()))} runs per family ({len(sizes)} families)"
    return "runs per family: " + ", ".join(f"{f} {n}" for f, n in sizes.items())


def _pair_by_seed(
    samples: Mapping[str, np.ndarray], seeds: Mapping[str, Sequence[int]] | None
) -> dict[str, np.ndarray] | None:
    """Scores re-ordered by seed when every family ran exactly the same distinct seeds, else None."""
    if seeds is None:
        return None
    keys: list[int] | None = None
    paired = {}
    for family, values in samples.items():
        if family not in seeds:
            return None
        ids = [int(s) for s in seeds[family]]
        if len(ids) != values.size or len(set(ids)) != len(ids):
            return None
        if keys is None:
            keys = sorted(ids)
        elif sorted(ids) != keys:
            return None
        position = {s: i for i, s in enumerate(ids)}
        paired[family] = values[[position[s] for s in keys]]
    return paired


def seeds_needed(n_families: int, *, paired: bool, alpha: float = 0.05) -> int:
    """The fewest seeds per family for which a verdict is possible at all: the smallest
    two-sided p must clear Holm's first step, 2/2^n ≤ α/(K−1) paired, 2/C(2n, n) ≤ α/(K−1)
    unpaired (4 families: 7 paired, 5 unpaired)."""
    n = 1
    while smallest_pvalue(n, n, paired=paired) > alpha / (n_families - 1) * (1 + _REL_TOL):
        n += 1
    return n


def _compare_with_leader(
    samples: Mapping[str, np.ndarray],
    leader: str,
    others: list[str],
    *,
    paired: bool,
    alpha: float,
    min_effect: float,
    center: str,
) -> pd.DataFrame:
    """Rows leader-vs-other: P̂, two-sided p, Holm-adjusted p, effect with a 95 % interval."""
    lead = samples[leader]
    rows = []
    for other in others:
        b = samples[other]
        if paired:
            p, p_method = paired_pvalue(lead, b)
            p_hat = paired_superiority(lead, b)
            effect, low, high, coverage = median_difference_interval(lead, b)
            ci_low = ci_high = math.nan
            ci_method = "none"
        else:
            p, p_method = unpaired_pvalue(lead, b)
            p_hat = prob_superiority(lead, b)
            effect, low, high, coverage = shift_interval(lead, b)
            ci_low, ci_high, ci_method = superiority_interval(lead, b, tail=0.025)
        rows.append(
            {
                "leader": leader,
                "other": other,
                "n_leader": int(lead.size),
                "n_other": int(b.size),
                f"{center}_leader": _center(lead, center),
                f"{center}_other": _center(b, center),
                "design": "paired" if paired else "unpaired",
                "p_superiority": p_hat,
                "ci_low": ci_low,
                "ci_high": ci_high,
                "ci_method": ci_method,
                "effect": effect,
                "effect_low": low,
                "effect_high": high,
                "effect_coverage": coverage,
                "p_value": p,
                "p_method": p_method,
            }
        )
    frame = pd.DataFrame(rows)
    p_holm, separated = separation(
        frame["p_value"].to_numpy(), frame["p_superiority"].to_numpy(), alpha=alpha, min_effect=min_effect
    )
    frame["p_holm"] = p_holm
    frame["separated"] = separated
    return frame


def verdict(
    samples: Mapping[str, Sequence[float]],
    *,
    seeds: Mapping[str, Sequence[int]] | None = None,
    alpha: float = 0.05,
    min_effect: float = 0.75,
    center: str = "median",
    metric: str = "score",
    budget: str | None = None,
    trials: Mapping[str, int] | None = None,
    unit_scale: float = 1.0,
    unit: str = "",
) -> Verdict:
    """Decide whether one family wins, from per-family samples of a final score (higher = better).

    Rule (the leader is chosen from the data, so its tests are two-sided):

    * leader = best ``center`` (median or mean; ties broken by mean, then name);
    * design: **paired** when ``seeds`` shows that every family ran exactly the same seeds
      (then the samples are aligned by seed and each comparison is the exact sign-flip
      Wilcoxon signed-rank test of the per-seed differences), else **unpaired** (exact
      two-sided Mann–Whitney);
    * against every other family B: two-sided p, Holm's adjustment over the m = K − 1
      comparisons; B is *separated* when p_holm ≤ α and P̂(leader > B) ≥ ``min_effect``
      (paired: the share of seeds the leader wins; unpaired: U/(n·m));
    * the leader wins only if every B is separated, else "inconclusive between" the leader and
      the families not separated from it.

    A winner is then declared with probability ≤ α when all families are equal, for any number
    of families and seeds (``lrtune.simulate`` checks 2–8 families × 3–10 seeds): a one-sided
    test in the leader's own direction would be "paid" only half. Small samples cannot clear the
    rule at all (paired: 2/2^n ≤ α/(K − 1), so 4 families need 7 seeds); the verdict says so.
    ``trials`` (search trials per family) words the claim as what it is: "the best
    configuration found for X in N trials beats the best found for ...". Effects are reported
    × ``unit_scale`` in ``unit`` (e.g. 100, "points" for accuracies).
    """
    if center not in ("median", "mean"):
        raise ValueError(f"center must be 'median' or 'mean', but got {center!r}")
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), but got {alpha}")
    if not 0.5 <= min_effect <= 1.0:
        raise ValueError(f"min_effect must be in [0.5, 1], but got {min_effect}")
    arrays = {str(f): _as_scores(v, f"scores of {f!r}") for f, v in samples.items()}
    if len(arrays) < 2:
        raise ValueError(f"a verdict needs at least two families, but got {len(arrays)}: {sorted(arrays)}")
    by_seed = _pair_by_seed(arrays, {str(f): s for f, s in seeds.items()} if seeds is not None else None)
    paired = by_seed is not None
    if paired:
        arrays = by_seed
    ranked = _rank_families(arrays, center)
    leader, others = ranked[0], ranked[1:]
    comparisons = _compare_with_leader(
        arrays, leader, others, paired=paired, alpha=alpha, min_effect=min_effect, center=center
    )
    not_separated = [o for o, s in zip(comparisons["other"], comparisons["separated"]) if not s]
    leading_group = [leader] + not_separated
    best_p = min(smallest_pvalue(arrays[leader].size, arrays[o].size, paired=paired) for o in others)
    reachable = best_p <= alpha / len(others) * (1 + _REL_TOL)
    needed = None if reachable else seeds_needed(len(arrays), paired=paired, alpha=alpha)
    winner = leader if not not_separated else None
    text = _verdict_text(
        winner,
        leading_group,
        comparisons,
        arrays,
        metric=metric,
        center=center,
        paired=paired,
        alpha=alpha,
        trials=trials,
        unit_scale=unit_scale,
        unit=unit,
        reachable=reachable,
        needed=needed,
        best_p=best_p,
    )
    return Verdict(
        winner=winner,
        leading_group=leading_group,
        text=text,
        comparisons=comparisons,
        budget=budget if budget is not None else _default_budget(arrays, ranked),
        metric=metric,
        alpha=alpha,
        min_effect=min_effect,
        design="paired" if paired else "unpaired",
        reachable=reachable,
        seeds_needed=needed,
    )


def format_interval(low: float, high: float, excludes_half: bool) -> str:
    """ "[0.62, 0.97]"; an interval that excludes ½ only at its open end prints "(0.50, 1.00]"."""
    opening = "(" if excludes_half and round(low, 2) <= 0.5 else "["
    return f"{opening}{low:.2f}, {high:.2f}]"


def format_effect(row: Mapping, *, unit_scale: float = 1.0, unit: str = "") -> str:
    """ "+0.90 points [0.30, 1.50] (94 %)": the effect, its interval and the coverage achieved."""
    suffix = f" {unit}" if unit else ""
    return (
        f"{row['effect'] * unit_scale:+.2f}{suffix} [{row['effect_low'] * unit_scale:.2f}, "
        f"{row['effect_high'] * unit_scale:.2f}] ({row['effect_coverage']:.0%})"
    )


def design_text(paired: bool, alpha: float) -> str:
    """How the comparisons were made, in words."""
    test = (
        "paired: exact sign-flip Wilcoxon signed-rank test on per-seed differences"
        if paired
        else "unpaired: exact Mann–Whitney test"
    )
    return f"{test}, two-sided, Holm over the leader's comparisons, α = {alpha:g}"


def _format_comparison(row: Mapping, *, paired: bool, unit_scale: float, unit: str) -> str:
    what = "median paired difference" if paired else "Hodges–Lehmann shift"
    return (
        f"{row['leader']} − {row['other']}: {what} {format_effect(row, unit_scale=unit_scale, unit=unit)}, "
        f"P({row['leader']} > {row['other']}) = {row['p_superiority']:.2f}, Holm p = {row['p_holm']:.3g}"
    )


def _and_list(names: Sequence[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _verdict_text(
    winner,
    leading_group,
    comparisons,
    arrays,
    *,
    metric,
    center,
    paired,
    alpha,
    trials,
    unit_scale,
    unit,
    reachable,
    needed,
    best_p,
) -> str:
    leader = leading_group[0]
    sizes = sorted({arrays[f].size for f in arrays})
    seeds_text = (
        f"{sizes[0]} fresh seeds"
        if len(sizes) == 1
        else "fresh seeds (" + ", ".join(f"{f} {arrays[f].size}" for f in sorted(arrays)) + ")"
    )
    how = design_text(paired, alpha)

    def found(family: str, first: bool) -> str:
        if trials is None or family not in trials:
            return family
        prefix = "the best configuration found for " if first else "the best found for "
        return f"{prefix}{family} in {int(trials[family])} trials"

    if winner is not None:
        others = [str(o) for o in comparisons["other"]]
        if trials is not None and len({int(trials.get(f, -1)) for f in arrays}) == 1 and leader in trials:
            n_trials = int(trials[leader])
            subject = f"the best configuration found for {winner} in {n_trials} trials"
            objects = f"the best found for {_and_list(others)}"
        else:
            subject = found(winner, True)
            objects = _and_list([found(o, False) for o in others])
        weakest = comparisons.sort_values(["p_holm", "other"], kind="stable").iloc[-1]
        return (
            f"{subject} beats {objects} on {metric} over {seeds_text} ({how}; weakest: "
            f"{_format_comparison(weakest, paired=paired, unit_scale=unit_scale, unit=unit)})."
        )
    others = ", ".join(leading_group[1:])
    text = (
        f"inconclusive between {', '.join(leading_group)}: the leader {leader} (best {center} "
        f"{metric} over {seeds_text}) is not separated from {others} ({how})."
    )
    if not reachable:
        text += (
            f" No outcome could have separated them: the smallest possible two-sided p is "
            f"{best_p:.3g} > α/{len(arrays) - 1} = {alpha / (len(arrays) - 1):.3g}; "
            f"{len(arrays)} families need at least {needed} {'paired ' if paired else ''}seeds."
        )
    return text
