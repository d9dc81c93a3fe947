"""One sample of scores: the input check every statistic shares, and the expected maximum.

**Expected maximum after n trials** (Dodge et al. 2019, "Show Your Work"): how good a family
looks after a search budget of n trials, estimated from the N trials that were run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import special

__all__ = ["REL_TOL", "as_scores", "expected_max", "expected_max_curve"]

REL_TOL = 1e-9
"""p <= alpha is decided with this relative tolerance (p = 1/20 vs alpha = 0.05)."""


def as_scores(values: Sequence[float] | np.ndarray, name: str = "scores") -> np.ndarray:
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
    values = np.sort(as_scores(scores))
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
    values = as_scores(scores)
    return np.array([expected_max(values, n, replace=replace) for n in range(1, values.size + 1)])
