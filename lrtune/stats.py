"""Pure statistics behind lrtune's verdict: numpy and scipy (pandas only for the verdict's table).

Three ideas live here.

* **Expected maximum after n trials** (Dodge et al. 2019, "Show Your Work"): how good a family
  looks after a search budget of n trials, estimated from the N trials that were run.
* **Effect size P(A > B)** (the probability that a random run of family A beats a random run of
  family B; Mann–Whitney U / (n·m)) with an *exact* interval and an exact one-sided p-value, and
  Holm's step-down correction for comparing the leader with every other family.
* **The verdict rule**: the leader (best median confirmed score) wins only when it is separated
  from *every* other family; otherwise the result is "inconclusive between ..." naming the
  leading group.

All functions take plain sequences of finite floats and raise ``ValueError`` ("must ..., but
got ...") on bad input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
import math

import numpy as np
import pandas as pd
from scipy import optimize, special
from scipy import stats as _sps

__all__ = [
    "expected_max",
    "expected_max_curve",
    "prob_superiority",
    "superiority_interval",
    "superiority_pvalue",
    "lehmann_u_distribution",
    "holm",
    "Verdict",
    "verdict",
    "format_interval",
    "EXACT_MAX_PAIRS",
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
    log_den = (special.gammaln(n_total + 1) - special.gammaln(n + 1)
               - special.gammaln(n_total - n + 1))
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
            raise ValueError(
                f"n must be <= the number of scores ({n_total}) without replacement, but got {n}"
            )
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
# the verdict
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """Which family wins, on what evidence.

    winner: the leader when it is separated from every other family, else None.
    leading_group: the leader followed by the families not separated from it (best first).
    text: one sentence for people, e.g. "cosine wins ..." or "inconclusive between cosine, wsd".
    comparisons: one row per other family (leader vs other), see :func:`verdict`.
    budget: what the verdict rests on (samples per family, and whatever the caller adds).
    """

    winner: str | None
    leading_group: list[str]
    text: str
    comparisons: pd.DataFrame = field(repr=False)
    budget: str
    metric: str = "score"
    alpha: float = 0.05
    min_effect: float = 0.75


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


def _compare_with_leader(
    samples: Mapping[str, np.ndarray],
    leader: str,
    others: list[str],
    *,
    alpha: float,
    center: str,
) -> pd.DataFrame:
    """Rows leader-vs-other with P̂, one-sided p, Holm-adjusted p and Holm-step intervals.

    Holm orders the m = len(others) raw p-values; the r-th smallest is tested at α/(m − r + 1),
    and its interval uses that level as the tail, so its lower end is the matching one-sided
    bound: "interval excludes ½" ⟺ "p ≤ the Holm step level" (exact method).
    """
    lead = samples[leader]
    rows = []
    for other in others:
        p_value, p_method = superiority_pvalue(lead, samples[other])
        rows.append({"other": other, "p_value": p_value, "p_method": p_method})
    frame = pd.DataFrame(rows)
    m = len(others)
    frame["p_holm"] = holm(frame["p_value"].to_numpy())
    order = np.argsort(frame["p_value"].to_numpy(), kind="stable")
    step = np.empty(m, dtype=int)
    step[order] = np.arange(1, m + 1)
    frame["holm_level"] = alpha / (m - step + 1)

    records = []
    for row in frame.itertuples(index=False):
        other_scores = samples[row.other]
        low, high, ci_method = superiority_interval(lead, other_scores, tail=row.holm_level)
        p_hat = prob_superiority(lead, other_scores)
        if ci_method == "exact":
            excludes = row.p_value <= row.holm_level * (1 + _REL_TOL)
        else:
            excludes = low > 0.5
        records.append(
            {
                "leader": leader,
                "other": row.other,
                "n_leader": int(lead.size),
                "n_other": int(other_scores.size),
                f"{center}_leader": _center(lead, center),
                f"{center}_other": _center(other_scores, center),
                "p_superiority": p_hat,
                "ci_low": low,
                "ci_high": high,
                "ci_level": 1.0 - 2.0 * row.holm_level,
                "ci_method": ci_method,
                "p_value": row.p_value,
                "p_method": row.p_method,
                "holm_level": row.holm_level,
                "p_holm": row.p_holm,
                "excludes_half": bool(excludes),
            }
        )
    out = pd.DataFrame(records)
    return out


def verdict(
    samples: Mapping[str, Sequence[float]],
    *,
    alpha: float = 0.05,
    min_effect: float = 0.75,
    center: str = "median",
    metric: str = "score",
    budget: str | None = None,
) -> Verdict:
    """Decide whether one family wins, from per-family samples of a final score (higher = better).

    Rule: the leader is the family with the best ``center`` (median or mean; ties broken by mean,
    then name). Against every other family B compute P̂ = P(leader > B), the one-sided exact
    Mann–Whitney p-value, Holm's adjustment over the m = K − 1 comparisons, and the interval for
    P at the comparison's Holm step level. B is *separated* from the leader when
    p_holm ≤ α, the interval excludes ½ and P̂ ≥ ``min_effect``. The leader wins only if every B is
    separated; otherwise the verdict is "inconclusive between" the leader and the families not
    separated from it (the leading group).
    """
    if center not in ("median", "mean"):
        raise ValueError(f"center must be 'median' or 'mean', but got {center!r}")
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), but got {alpha}")
    if not 0.5 <= min_effect <= 1.0:
        raise ValueError(f"min_effect must be in [0.5, 1], but got {min_effect}")
    arrays = {str(f): _as_scores(v, f"scores of {f!r}") for f, v in samples.items()}
    if len(arrays) < 2:
        raise ValueError(
            f"a verdict needs at least two families, but got {len(arrays)}: {sorted(arrays)}"
        )
    ranked = _rank_families(arrays, center)
    leader, others = ranked[0], ranked[1:]
    comparisons = _compare_with_leader(arrays, leader, others, alpha=alpha, center=center)
    comparisons["separated"] = (
        (comparisons["p_holm"] <= alpha * (1 + _REL_TOL))
        & comparisons["excludes_half"]
        & (comparisons["p_superiority"] >= min_effect)
    )
    not_separated = [o for o, s in zip(comparisons["other"], comparisons["separated"]) if not s]
    leading_group = [leader] + not_separated
    budget_text = budget if budget is not None else _default_budget(arrays, ranked)
    winner = leader if not not_separated else None
    text = _verdict_text(winner, leading_group, comparisons, metric=metric, center=center)
    return Verdict(
        winner=winner,
        leading_group=leading_group,
        text=text,
        comparisons=comparisons,
        budget=budget_text,
        metric=metric,
        alpha=alpha,
        min_effect=min_effect,
    )


def format_interval(low: float, high: float, excludes_half: bool) -> str:
    """"[0.62, 0.97]"; an interval that excludes ½ only at its open end prints "(0.50, 1.00]"."""
    opening = "(" if excludes_half and round(low, 2) <= 0.5 else "["
    return f"{opening}{low:.2f}, {high:.2f}]"


def _format_comparison(row: pd.Series) -> str:
    interval = format_interval(row["ci_low"], row["ci_high"], bool(row["excludes_half"]))
    return (
        f"P({row['leader']} > {row['other']}) = {row['p_superiority']:.2f} "
        f"{interval}, Holm p = {row['p_holm']:.3g}"
    )


def _verdict_text(
    winner: str | None,
    leading_group: list[str],
    comparisons: pd.DataFrame,
    *,
    metric: str,
    center: str,
) -> str:
    leader = leading_group[0]
    if winner is not None:
        weakest = comparisons.sort_values(["p_holm", "other"], kind="stable").iloc[-1]
        return (
            f"{winner} wins on {metric}: separated from every other family "
            f"(weakest: {_format_comparison(weakest)})."
        )
    others = ", ".join(leading_group[1:])
    return (
        f"inconclusive between {', '.join(leading_group)}: the leader {leader} (best {center} "
        f"{metric}) is not separated from {others}."
    )
