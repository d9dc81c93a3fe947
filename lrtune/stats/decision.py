"""The verdict rule: anytime-valid betting evidence on paired seeds, a race between families.

Every family b carries one betting wealth M_b against "b is a best family" that stakes, seed by
seed, on the comparison of b with its strongest challenger so far (the pairwise bets of
:mod:`lrtune.stats.anytime`); b is *beaten* once M_b reached 2/α, and W *wins* once every other
family is beaten (:mod:`lrtune.stats.elimination`). A false winner then has probability
≤ α however often the verdict is computed on growing data — after 5 seeds, again after 8, or
after every seed — which :func:`verdict` shows by being a pure function of the stored runs in
run order: call it on every prefix. ``lrtune.simulate`` checks it, and keeps the rule lrtune
used before (:func:`legacy_decide`: exact two-sided tests of the data-chosen leader, Holm, at
one look) to show that it breaks under "add seeds and look again".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lrtune.stats.anytime import log_evidence
from lrtune.stats.elimination import race, threshold
from lrtune.stats.rank_tests import (
    mann_whitney_pvalues,
    median_difference_interval,
    paired_superiority,
    signed_rank_pvalues,
)
from lrtune.stats.samples import REL_TOL, as_scores
from lrtune.stats.wording import verdict_text

__all__ = [
    "Verdict",
    "holm",
    "legacy_decide",
    "seed_matrix",
    "seeds_needed",
    "separation",
    "still_racing",
    "verdict",
]


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


def legacy_decide(
    scores: np.ndarray, *, paired: bool, alpha: float = 0.05, min_effect: float = 0.75, center: str = "median"
) -> np.ndarray:
    """The rule lrtune used before the anytime one, vectorised: ``scores[r, k, s]`` = replicate r,
    family k, seed s. For the simulation only (it is valid at one planned look, not when seeds are
    added and the verdict computed again).

    Leader by ``center`` (then mean, then index); exact two-sided tests (paired: sign-flip
    Wilcoxon; unpaired: Mann–Whitney) against every other family, Holm, and P̂ ≥ ``min_effect``
    (:func:`separation`). Returns, per replicate, the index of the winning family or −1.
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

    winner: the family that has beaten every other one (see :func:`verdict`), else None.
    leading_group: the leader followed by the other families nobody has beaten (best first).
    text: one sentence for people ("the best configuration found for cosine in 12 trials beats
        ..." or "inconclusive between cosine, wsd ...").
    comparisons: one row per other family (leader vs other), see :func:`verdict`.
    budget: what the verdict rests on (samples per family, and whatever the caller adds).
    design: "paired" (per-seed differences) or "run order" (no common seeds: the i-th runs of
        two families are paired, valid when runs are independent).
    reachable: False when no outcome of this many seeds could reach the threshold; the text then
        says how many seeds are needed (``seeds_needed``).
    race: one row per family: runs, when (at which seed of the run order) it was beaten and on
        which comparison (the challenger its wealth bet on then), the evidence that it is not the
        best (the largest M_b; see :func:`verdict`).
    threshold: the e-value c = 2/α at which a family is beaten.
    evidence_paths: log10 M_b after each seed of the run order (rows: seeds, columns: families).
    """

    winner: str | None
    leading_group: list[str]
    text: str
    comparisons: pd.DataFrame = field(repr=False)
    budget: str
    metric: str = "score"
    alpha: float = 0.05
    min_effect: float = 0.75
    design: str = "paired"
    reachable: bool = True
    seeds_needed: int | None = None
    race: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    threshold: float = math.nan
    evidence_paths: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)


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


def _seed_lists(
    samples: Mapping[str, np.ndarray], seeds: Mapping[str, Sequence[int]] | None
) -> tuple[dict[str, list[int]], bool]:
    """Each family's seed ids in run order, and whether they are real seeds (else positions).

    Real seeds when every family has a distinct seed per run; otherwise the runs are paired by
    position in run order (0, 1, 2, ...).
    """
    if seeds is not None:
        lists = {}
        for family, values in samples.items():
            ids = [int(s) for s in seeds.get(family, [])]
            if len(ids) != values.size or len(set(ids)) != len(ids):
                break
            lists[family] = ids
        else:
            if len(set().union(*map(set, lists.values()))) < sum(map(len, lists.values())):  # shared seeds
                return lists, True
    return {f: list(range(v.size)) for f, v in samples.items()}, False


def seed_matrix(
    samples: Mapping[str, np.ndarray], seed_lists: Mapping[str, Sequence[int]]
) -> tuple[np.ndarray, list[int]]:
    """``x[family, position]`` in the global run order (NaN where a family lacks a seed), and that
    order: seeds by their earliest position in any family's list, then by id."""
    first: dict[int, tuple[int, int]] = {}
    for ids in seed_lists.values():
        for position, s in enumerate(ids):
            first[s] = min(first.get(s, (position, s)), (position, s))
    order = sorted(first, key=lambda s: first[s])
    column = {s: c for c, s in enumerate(order)}
    x = np.full((len(samples), len(order)), np.nan)
    for row, (family, values) in enumerate(samples.items()):
        for s, v in zip(seed_lists[family], values):
            x[row, column[s]] = v
    return x, order


def seeds_needed(n_families: int, *, paired: bool = True, alpha: float = 0.05) -> int:
    """The fewest paired seeds with which a family can be beaten at all: the first n at which n
    equal wins give an e-value ≥ c = 2/α (6 for α = 0.05, whatever the number of families)."""
    log_t = math.log(threshold(n_families, alpha))
    evidence = log_evidence(np.ones(64))
    reached = np.nonzero(evidence >= log_t - 1e-12)[0]
    return int(reached[0]) + 1 if reached.size else 65


def _seeds_likely_needed(log_e: np.ndarray, log_t: float) -> int | None:
    """Rough: extrapolate a family's log-evidence (log M_b) at its mean growth per seed so far
    (None when it does not grow)."""
    n = log_e.size
    if n == 0 or log_e[-1] <= 0:
        return None
    if log_e.max() >= log_t:
        return n
    return int(math.ceil(n * log_t / log_e[-1]))


def _compare_with_leader(
    arrays: Mapping[str, np.ndarray],
    x: np.ndarray,
    names: list[str],
    result,
    leader: str,
    others: list[str],
    *,
    center: str,
    design: str,
) -> pd.DataFrame:
    """Rows leader-vs-other on their common seeds: effect, P̂, the evidence that the other (and
    the leader) is not the best, separated (the other is beaten)."""
    li = names.index(leader)
    log_t = result.log_threshold
    rows = []
    for other in others:
        oi = names.index(other)
        common = np.isfinite(x[li]) & np.isfinite(x[oi])
        lead, b = x[li, common], x[oi, common]
        row = {
            "leader": leader,
            "other": other,
            "n_leader": int(arrays[leader].size),
            "n_other": int(arrays[other].size),
            "n_pairs": int(common.sum()),
            f"{center}_leader": _center(arrays[leader], center),
            f"{center}_other": _center(arrays[other], center),
            "design": design,
        }
        if common.any():
            effect, low, high, coverage = median_difference_interval(lead, b)
            row.update(p_superiority=paired_superiority(lead, b), effect=effect, effect_low=low)
            row.update(effect_high=high, effect_coverage=coverage)
        else:
            row.update(p_superiority=math.nan, effect=math.nan, effect_low=math.nan)
            row.update(effect_high=math.nan, effect_coverage=math.nan)
        row.update(
            evidence=float(math.exp(result.against[0, oi])),
            evidence_against=float(math.exp(result.against[0, li])),
            threshold=float(math.exp(log_t)),
            separated=bool(result.beaten_at[0, oi] > 0),
            seeds_likely_needed=_seeds_likely_needed(result.against_path[0, oi], log_t),
        )
        rows.append(row)
    return pd.DataFrame(rows)


def _race_table(names: list[str], x: np.ndarray, order: list[int], result, real_seeds: bool) -> pd.DataFrame:
    """One row per family: runs, when beaten and on which comparison, the evidence that it is not
    the best (the largest M_b)."""
    rows = []
    for k, family in enumerate(names):
        at = int(result.beaten_at[0, k])
        by = int(result.beaten_by[0, k])
        rows.append(
            {
                "family": family,
                "runs": int(np.isfinite(x[k]).sum()),
                "beaten_at": at if at else None,
                "beaten_at_seed": (order[at - 1] if real_seeds else at - 1) if at else None,
                "beaten_by": names[by] if by >= 0 else None,
                "evidence_against": float(math.exp(result.against[0, k])),
                "won": bool(result.winner[0] == k),
            }
        )
    return pd.DataFrame(rows)


def still_racing(
    samples: Mapping[str, Sequence[float]],
    seeds: Mapping[str, Sequence[int]],
    *,
    alpha: float = 0.05,
) -> list[str]:
    """The families that receive the next seed in ``--confirm auto`` (best first by median).

    The race of :mod:`lrtune.stats.elimination` replayed on the stored runs (``seeds`` in run
    order): a family is dropped once it is beaten (its wealth M_b reached 2/α); the list is empty
    once a winner is named (or at most one family is left). A family with no runs yet
    races. Runs a dropped family made later are ignored by the replay (they do not exist when
    every round asks this function).
    """
    arrays = {str(f): as_scores(v, f"scores of {f!r}") for f, v in samples.items() if len(v)}
    names = [str(f) for f in samples]
    if len(arrays) < 2:
        return names
    seed_lists, _ = _seed_lists(arrays, {str(f): seeds[f] for f in samples if len(samples[f])})
    x, _ = seed_matrix(arrays, seed_lists)
    result = race(x[None], alpha=alpha, racing=True)
    racing = {f for k, f in enumerate(arrays) if not result.dropped[0, k]}
    fresh = [f for f in names if f not in arrays]
    if result.winner[0] >= 0 or not racing:
        return []
    return [f for f in _rank_families(arrays, "median") if f in racing] + fresh


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

    ``seeds[family]``: the seed of each sample, **in the order the runs were made**. The rule:

    * **pairs**: two families are compared on the seeds both ran, in run order (seeds ordered by
      their earliest position in any family's list); without seeds (or with repeated ones) the
      i-th runs are paired ("run order" design, valid when runs are independent);
    * **evidence**: for every family b one betting wealth M_b against "b is a best family": at
      each seed it stakes on "its challenger beats b on this seed" — the challenger being the
      family with the largest standardised mean advantage over b on the earlier seeds — with a
      stake that grows with the size of the difference (:mod:`lrtune.stats.anytime`); if no
      family beats b, M_b is a test supermartingale;
    * **beaten**: b is beaten once M_b ≥ c = 2/α (40 at α = 0.05, for any number of families);
    * **winner**: the one family not beaten once all others are; otherwise "inconclusive
      between" the leader (best ``center`` among the unbeaten families) and the other unbeaten.

    **Guarantee**: if some family is at least as good as every other, the chance that *any*
    verdict computed on any prefix of the runs (seeds added one at a time or in batches, looked
    at as often as one likes) names a winner that is not strictly better than every other family
    is ≤ α (Ville's inequality for M_b of two best families, see :mod:`lrtune.stats.elimination`; simulated by
    ``lrtune.simulate``). ``min_effect`` is no longer part of the rule (the evidence threshold
    already demands a large, consistent effect); it is kept for callers. ``trials`` (search trials
    per family) words the claim as what it is: "the best configuration found for X in N trials
    beats the best found for ...". Effects are reported × ``unit_scale`` in ``unit``.
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
    seed_lists, real_seeds = _seed_lists(
        arrays, {str(f): s for f, s in seeds.items()} if seeds is not None else None
    )
    design = "paired" if real_seeds else "run order"
    names = list(arrays)
    x, order = seed_matrix(arrays, seed_lists)
    result = race(x[None], alpha=alpha)
    ranked = _rank_families(arrays, center)
    unbeaten = [f for f in ranked if result.beaten_at[0, names.index(f)] == 0]
    winner = names[int(result.winner[0])] if result.winner[0] >= 0 else None
    leader = winner or (unbeaten or ranked)[0]
    others = [f for f in ranked if f != leader]
    leading_group = [leader] + ([] if winner else [f for f in unbeaten if f != leader])
    comparisons = _compare_with_leader(arrays, x, names, result, leader, others, center=center, design=design)
    most_pairs = int(comparisons["n_pairs"].max())
    needed = seeds_needed(len(arrays), alpha=alpha)
    reachable = most_pairs >= needed
    text = verdict_text(
        winner,
        leading_group,
        comparisons,
        arrays,
        metric=metric,
        center=center,
        paired=real_seeds,
        alpha=alpha,
        trials=trials,
        unit_scale=unit_scale,
        unit=unit,
        reachable=reachable,
        needed=needed,
        best_p=None,
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
        design=design,
        reachable=reachable,
        seeds_needed=None if reachable else needed,
        race=_race_table(names, x, order, result, real_seeds),
        threshold=threshold(len(arrays), alpha),
        evidence_paths=pd.DataFrame(
            result.against_path[0].T / math.log(10),
            index=pd.Index(order if real_seeds else range(len(order)), name="seed"),
            columns=names,
        ),
    )
