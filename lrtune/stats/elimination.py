"""The anytime-valid verdict rule as a race over seeds, vectorised for simulations.

**The rule ("best family", lrtune's).** For every family b, H_b says "b is a best family: no
family beats it" — for every other family i, given the past and |d_{i,b,t}|, the per-seed
difference d_{i,b,t} = x_{i,t} − x_{b,t} is positive with probability ≤ ½. Every pair (i, b)
carries the betting factor of :mod:`lrtune.stats.anytime`, f_{i,b,t} = 1 + λ_{i,b,t}·sign(d_{i,b,t})
(λ from the pair's earlier seeds and |d_{i,b,t}|, never its sign). One wealth per family b,

    M_{b,0} = 1,    M_{b,t} = M_{b,t−1} · f_{i_t(b), b, t},

bets at seed t on ONE comparison, the challenger i_t(b) ≠ b chosen from seeds 1 … t−1 only: the
family running seed t with the largest standardised mean advantage over b so far (Σ d / √(n Σ d²)
over the pair's earlier seeds; the current leader, or b's strongest challenger when b leads).

* **b is beaten** (rejected, dropped from a race) once M_b has reached c = 2/α (running maximum:
  never taken back);
* **W wins** once every other family is beaten and W is not.

**Why a false winner has probability ≤ α, however often one looks.** Let F_{t−1} be everything
seen up to seed t − 1 (which families run seed t included). Under H_b, for each i,
E[f_{i,b,t} | F_{t−1}] ≤ 1; i_t(b) is F_{t−1}-measurable, so
E[f_{i_t(b),b,t} | F_{t−1}] = Σ_i 1{i_t(b) = i}·E[f_{i,b,t} | F_{t−1}] ≤ 1: M_b is a non-negative
test supermartingale, and by Ville's inequality P(sup_t M_{b,t} ≥ c) ≤ 1/c — whatever the looks,
stops and drops (they are all decided from the past). Suppose some family is at least as good as
every other one, and let B be the set of such best families.

* |B| = 1, B = {b*}: a false winner W ≠ b* needs b* beaten: P ≤ P(sup M_{b*} ≥ c) ≤ 1/c = α/2.
* |B| ≥ 2 (ties at the top): a winner is never strictly better than every other family, and
  naming one needs every family but one beaten — so of two fixed members b1, b2 of B at least
  one is beaten: P ≤ P(sup M_{b1} ≥ c) + P(sup M_{b2} ≥ c) ≤ 2/c = α.

So c = 2/α = 40 for every number of families (the pairwise rule needed K/α).

**The pairwise rule ("pairwise", the first implementation, kept as a candidate).** E_{i>j} for
every ordered pair; j is beaten once some E_{i>j} ≥ K/α, W wins once it has beaten every other
family itself (valid: a false winner must cross one of K fixed processes at K/α).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lrtune.stats.anytime import SignWealth, Wealth

__all__ = ["BETS", "RULES", "RaceResult", "race", "threshold"]

BETS = {"magnitude": Wealth, "sign": SignWealth}
"""How a comparison bets: on sign and magnitude (lrtune's rule) or on signs only (a candidate)."""

RULES = ("best family", "pairwise")
"""How the comparisons become a verdict: one wealth per family against "it is a best family"
(lrtune's rule, c = 2/α) or every ordered pair at K/α (the first implementation, a candidate)."""


def threshold(n_families: int, alpha: float, *, rule: str = "best family") -> float:
    """The e-value at which a family is beaten: c = 2/α (``best family``) or K/α (``pairwise``)."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {', '.join(RULES)}, but got {rule!r}")
    return 2.0 / alpha if rule == "best family" else n_families / alpha


@dataclass(frozen=True)
class RaceResult:
    """The outcome of :func:`race` for R replicates of K families over N seeds.

    winner[r]: the winning family or −1 (after the last seed); first_winner[r]: the first family
    named at any seed (what a user who looks after every seed and stops at a winner gets);
    decided_at[r]: the seed (1-based) at which first_winner was named, 0 if none;
    beaten_at[r, k]: the seed at which family k was first beaten (0: never); beaten_by[r, k]: the
    family whose comparison with k carried the evidence when k was beaten (best family: the
    challenger M_k bet on at that seed; pairwise: the family that beat it; −1: none);
    evidence[r, i, j]: the largest pairwise log E_{i>j} reached; against[r, k]: the largest
    log-evidence that k is not the best (best family: log M_k; pairwise: max_i log E_{i>k});
    against_path[r, k, s]: that log-evidence after seed s (not the running maximum);
    runs[r, k]: the seeds family k ran (racing: until it was dropped); rounds[r]: seeds used by
    the race (N when it never stopped); dropped[r, k]: racing: family k receives no more seeds;
    log_threshold: log c.
    """

    winner: np.ndarray
    first_winner: np.ndarray
    decided_at: np.ndarray
    beaten_at: np.ndarray
    beaten_by: np.ndarray
    evidence: np.ndarray
    against: np.ndarray
    against_path: np.ndarray
    runs: np.ndarray
    rounds: np.ndarray
    dropped: np.ndarray
    log_threshold: float


def challengers(total: np.ndarray, squares: np.ndarray, count: np.ndarray, running: np.ndarray) -> np.ndarray:
    """i_t(b) for every b: among the families running this seed (``running[r, i]``), i ≠ b with
    the largest Σd/√(n·Σd²) of the pair's earlier differences d = x_i − x_b (0 without any;
    ties: the lowest index). ``total``/``squares``/``count`` [r, i, b]: Σd, Σd², n before this
    seed. Returns [r, b] (−1 when no other family runs)."""
    k = total.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(count * squares > 0, total / np.sqrt(count * squares), 0.0)
    eligible = running[:, :, None] & ~np.eye(k, dtype=bool)[None]
    score = np.where(eligible, score, -np.inf)
    pick = np.argmax(score, axis=1)
    return np.where(eligible.any(axis=1), pick, -1)


def race(
    x: np.ndarray,
    *,
    alpha: float = 0.05,
    racing: bool = False,
    bet: str = "magnitude",
    rule: str = "best family",
) -> RaceResult:
    """Run the rule over ``x[r, k, s]`` (replicate r, family k, seed s in run order; NaN = not run).

    ``racing=False`` evaluates stored runs as they are (the verdict of :func:`lrtune.stats.verdict`).
    ``racing=True`` simulates ``--confirm auto``: in round s a family runs seed s unless it was
    dropped (best family: beaten; pairwise: the leader or every unbeaten family has beaten it; its
    later values are ignored), and a replicate stops at its winner or when at most one family is
    left. Both modes compute the same thing on the same runs: the race is the verdict of its own
    stored runs.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 3 or x.shape[1] < 2:
        raise ValueError(f"scores must have shape (replicates, families ≥ 2, seeds), but got {x.shape}")
    if bet not in BETS:
        raise ValueError(f"bet must be one of {', '.join(BETS)}, but got {bet!r}")
    reps, k, n = x.shape
    log_t = math.log(threshold(k, alpha, rule=rule))
    wealth = BETS[bet]((reps, k, k))
    learn = Wealth((reps, k, k)) if bet != "magnitude" else wealth  # Σd, Σd², n for the challengers
    pair_log = np.zeros((reps, k, k))
    best = np.zeros((reps, k, k))
    off_diagonal = ~np.eye(k, dtype=bool)
    family_log = np.zeros((reps, k))  # best family: log M_b
    against = np.full((reps, k), -np.inf)
    against_path = np.zeros((reps, k, n))
    beaten_at = np.zeros((reps, k), dtype=int)
    beaten_by = np.full((reps, k), -1)
    winner = np.full(reps, -1)
    first_winner = np.full(reps, -1)
    decided_at = np.zeros(reps, dtype=int)
    runs = np.zeros((reps, k), dtype=int)
    rounds = np.full(reps, n)
    active = np.ones(reps, dtype=bool)  # racing: replicates still running
    dropped = np.zeros((reps, k), dtype=bool)  # racing: families that receive no more seeds
    rows = np.arange(reps)[:, None]
    cols = np.arange(k)[None, :]
    for s in range(n):
        values = x[:, :, s].copy()
        if racing:
            values[dropped | ~active[:, None]] = np.nan
        running = np.isfinite(values)
        runs += running
        d = values[:, :, None] - values[:, None, :]  # d[r, i, j] = x_i − x_j
        if rule == "best family":
            pick = challengers(learn.total, learn.squares, learn.count, running)
        new_log = wealth.step(d)
        if learn is not wealth:
            learn.step(d)
        factor = new_log - pair_log  # log f_{i,j,s} (0 where the pair skips the seed)
        pair_log = new_log
        best = np.maximum(best, new_log)
        if rule == "best family":
            bet_on = np.where(pick >= 0, factor[rows, np.maximum(pick, 0), cols], 0.0)
            family_log = family_log + bet_on
            against_path[:, :, s] = family_log
            against = np.maximum(against, family_log)
            newly = (against >= log_t - 1e-12) & (beaten_at == 0)
            beaten_by = np.where(newly, pick, beaten_by)
            beaten_at = np.where(newly, s + 1, beaten_at)
            unbeaten = beaten_at == 0
            named = np.where(unbeaten.sum(axis=1) == 1, np.argmax(unbeaten, axis=1), -1)
        else:
            crossed = (best >= log_t - 1e-12) & off_diagonal  # crossed[r, i, j]: i has beaten j
            path = np.where(off_diagonal, new_log, -np.inf).max(axis=1)
            against_path[:, :, s] = path
            against = np.maximum(against, path)
            newly = crossed.any(axis=1) & (beaten_at == 0)
            beaten_by = np.where(newly, np.argmax(np.where(crossed, best, -np.inf), axis=1), beaten_by)
            beaten_at = np.where(newly, s + 1, beaten_at)
            wins = (crossed | ~off_diagonal).all(axis=2)  # W has beaten every other family
            named = np.where(wins.sum(axis=1) == 1, np.argmax(wins, axis=1), -1)
        new_winner = (named >= 0) & (first_winner < 0)
        first_winner = np.where(new_winner, named, first_winner)
        decided_at = np.where(new_winner, s + 1, decided_at)
        # racing stops at the first winner; stored runs: the winner now (running maxima keep it)
        winner = first_winner if racing else named
        if racing:
            unbeaten = beaten_at == 0
            if rule == "best family":
                dropped = dropped | ~unbeaten
            else:
                # j is dropped once the leader has beaten it, or every unbeaten family has
                by_all = ~unbeaten & ~(unbeaten[:, :, None] & ~crossed & off_diagonal).any(axis=1)
                strength = np.where(unbeaten, np.where(off_diagonal, best, 0.0).sum(axis=2), -np.inf)
                leader = np.argmax(strength, axis=1)
                by_leader = crossed[np.arange(reps), leader] & unbeaten.any(axis=1)[:, None]
                dropped = dropped | by_all | by_leader
            stop = active & ((winner >= 0) | ((~dropped).sum(axis=1) <= 1))
            rounds = np.where(stop, s + 1, rounds)
            active &= ~stop
    if racing:
        dropped = dropped | ~active[:, None]  # a stopped race gives no family more seeds
    against = np.where(np.isfinite(against), against, 0.0)
    return RaceResult(
        winner,
        first_winner,
        decided_at,
        beaten_at,
        beaten_by,
        best,
        against,
        against_path,
        runs,
        rounds,
        dropped,
        log_t,
    )
