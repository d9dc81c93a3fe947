"""The anytime-valid verdict rule as a race over seeds, vectorised for simulations.

For K families and every ordered pair (i, j), E_{i>j} is the betting e-process of
:mod:`lrtune.stats.anytime` on the per-seed differences x_i − x_j over the seeds both ran, in
run order ("i beats j"). With the threshold t = K/α:

* **j is beaten** once some family i has had E_{i>j} ≥ t at some seed (the running maximum:
  evidence once reached is never taken back, so a verdict does not flip when seeds are added);
  in a race (``--confirm auto``) j receives no more seeds once the leader (the unbeaten family
  with the most evidence against the others) has beaten it, or every unbeaten family has;
* **W wins** once W itself has beaten every other family (E_{W>j} ≥ t for all j ≠ W).

**Why a false winner has probability ≤ α, however often one looks.** Let b be a best family
(none is better). A named winner W ≠ b needs E_{W>b} ≥ t — one of the K − 1 processes
E_{i>b}, each a test supermartingale (b is not beaten by i); if W = b but another family b' is
exactly as good, it needs E_{b>b'} ≥ t. By Ville's inequality each of these K processes ever
reaches t with probability ≤ 1/t = α/K, so P(false winner) ≤ K · α/K = α — at every seed count,
whatever the looks, stops or drops were (a stopped supermartingale is one too). The pairs need
no Bonferroni over K(K − 1) comparisons: only the comparisons against a fixed best family can
produce a false winner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lrtune.stats.anytime import SignWealth, Wealth

__all__ = ["BETS", "RaceResult", "race", "threshold"]

BETS = {"magnitude": Wealth, "sign": SignWealth}
"""How a comparison bets: on sign and magnitude (lrtune's rule) or on signs only (a candidate)."""


def threshold(n_families: int, alpha: float) -> float:
    """t = K/α: the e-value at which one family has beaten another."""
    return n_families / alpha


@dataclass(frozen=True)
class RaceResult:
    """The outcome of :func:`race` for R replicates of K families over N seeds.

    winner[r]: the winning family or −1 (after the last seed); first_winner[r]: the first family
    named at any seed (what a user who looks after every seed and stops at a winner gets);
    decided_at[r]: the seed (1-based) at which first_winner was named, 0 if none; beaten_at[r, k]: the seed at which family k was first beaten (0: never);
    beaten_by[r, k]: the family that beat it then (−1: none); evidence[r, i, j]: the largest
    log E_{i>j} reached; runs[r, k]: the seeds family k ran (racing: until it was dropped); rounds[r]: seeds used by the race
    (N when it never stopped); dropped[r, k]: racing: family k receives no more seeds;
    log_threshold: log t.
    """

    winner: np.ndarray
    first_winner: np.ndarray
    decided_at: np.ndarray
    beaten_at: np.ndarray
    beaten_by: np.ndarray
    evidence: np.ndarray
    runs: np.ndarray
    rounds: np.ndarray
    dropped: np.ndarray
    log_threshold: float


def race(x: np.ndarray, *, alpha: float = 0.05, racing: bool = False, bet: str = "magnitude") -> RaceResult:
    """Run the rule over ``x[r, k, s]`` (replicate r, family k, seed s in run order; NaN = not run).

    ``racing=False`` evaluates stored runs as they are (the verdict of :func:`lrtune.stats.verdict`).
    ``racing=True`` simulates ``--confirm auto``: in round s a family runs seed s unless the leader
    or every unbeaten family has beaten it (dropped: its later values are ignored), and a replicate stops
    at its winner or when every family is dropped.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 3 or x.shape[1] < 2:
        raise ValueError(f"scores must have shape (replicates, families ≥ 2, seeds), but got {x.shape}")
    if bet not in BETS:
        raise ValueError(f"bet must be one of {', '.join(BETS)}, but got {bet!r}")
    reps, k, n = x.shape
    log_t = math.log(threshold(k, alpha))
    wealth = BETS[bet]((reps, k, k))
    best = np.full((reps, k, k), 0.0)
    off_diagonal = ~np.eye(k, dtype=bool)
    beaten_at = np.zeros((reps, k), dtype=int)
    beaten_by = np.full((reps, k), -1)
    winner = np.full(reps, -1)
    first_winner = np.full(reps, -1)
    decided_at = np.zeros(reps, dtype=int)
    runs = np.zeros((reps, k), dtype=int)
    rounds = np.full(reps, n)
    active = np.ones(reps, dtype=bool)  # racing: replicates still running
    dropped = np.zeros((reps, k), dtype=bool)  # racing: families that receive no more seeds
    for s in range(n):
        values = x[:, :, s].copy()
        if racing:
            values[dropped | ~active[:, None]] = np.nan
        runs += np.isfinite(values)
        d = values[:, :, None] - values[:, None, :]  # d[r, i, j] = x_i − x_j
        best = np.maximum(best, wealth.step(d))
        crossed = (best >= log_t - 1e-12) & off_diagonal  # crossed[r, i, j]: i has beaten j
        newly = crossed.any(axis=1) & (beaten_at == 0)
        beaten_by = np.where(newly, np.argmax(np.where(crossed, best, -np.inf), axis=1), beaten_by)
        beaten_at = np.where(newly, s + 1, beaten_at)
        wins = (crossed | ~off_diagonal).all(axis=2)  # W has beaten every other family
        unique = wins.sum(axis=1) == 1
        named = np.where(unique, np.argmax(wins, axis=1), -1)
        new_winner = (named >= 0) & (first_winner < 0)
        first_winner = np.where(new_winner, named, first_winner)
        decided_at = np.where(new_winner, s + 1, decided_at)
        # racing stops at the first winner; stored runs: the winner now (running maxima keep it)
        winner = first_winner if racing else named
        if racing:
            unbeaten = beaten_at == 0
            # j is dropped once the leader has beaten it, or every unbeaten family has
            by_all = ~unbeaten & ~(unbeaten[:, :, None] & ~crossed & off_diagonal).any(axis=1)
            strength = np.where(unbeaten, np.where(off_diagonal, best, 0.0).sum(axis=2), -np.inf)
            leader = np.argmax(strength, axis=1)
            by_leader = crossed[np.arange(reps), leader] & unbeaten.any(axis=1)[:, None]
            dropped = dropped | by_all | by_leader
            stop = active & ((winner >= 0) | dropped.all(axis=1))
            rounds = np.where(stop, s + 1, rounds)
            active &= ~stop
    if racing:
        dropped = dropped | ~active[:, None]  # a stopped race gives no family more seeds
    return RaceResult(winner, first_winner, decided_at, beaten_at, beaten_by, best, runs, rounds, dropped, log_t)
