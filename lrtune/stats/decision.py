"""The verdict rule: the leader against every other family, two-sided tests, Holm.

The leader (best median confirmed score) is chosen from the data, so its tests are two-sided;
it wins only when it is separated from *every* other family, otherwise the result is
"inconclusive between ..." naming the leading group. With all families equal a winner is named
at most α of the time (``lrtune.simulate`` checks 2–8 families × 3–10 seeds through
:func:`decide`, which shares the tests and the rule with :func:`verdict`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lrtune.stats.rank_tests import (
    mann_whitney_pvalues,
    median_difference_interval,
    paired_pvalue,
    paired_superiority,
    shift_interval,
    signed_rank_pvalues,
    smallest_pvalue,
    unpaired_pvalue,
)
from lrtune.stats.samples import REL_TOL, as_scores
from lrtune.stats.superiority import prob_superiority, superiority_interval
from lrtune.stats.wording import verdict_text

__all__ = ["Verdict", "decide", "holm", "seeds_needed", "separation", "verdict"]


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
    separated = (p_holm <= alpha * (1 + REL_TOL)) & (p_hat >= min_effect) & (p_hat > 0.5)
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
        p = signed_rank_pvalues(d)
        p_hat = np.mean((d > 0) + 0.5 * (d == 0), axis=-1)
    else:
        p, p_hat, _ = mann_whitney_pvalues(lead_b, rival)
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
    while smallest_pvalue(n, n, paired=paired) > alpha / (n_families - 1) * (1 + REL_TOL):
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
    arrays = {str(f): as_scores(v, f"scores of {f!r}") for f, v in samples.items()}
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
    reachable = best_p <= alpha / len(others) * (1 + REL_TOL)
    needed = None if reachable else seeds_needed(len(arrays), paired=paired, alpha=alpha)
    winner = leader if not not_separated else None
    text = verdict_text(
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
