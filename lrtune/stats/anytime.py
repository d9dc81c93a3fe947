"""Anytime-valid evidence that one family beats another: a betting e-process on paired seeds.

**The null.** For two families A and B and the seeds both ran, d_k = A_k − B_k (k in run
order). "A does not beat B" is the null that, given the past and |d_k|, the sign of d_k is
+ with probability ≤ ½ (sign-flip symmetry when A and B are equal; a shift towards B only
helps the null).

**The e-process** (testing by betting, Shafer 2021; Waudby-Smith & Ramdas 2024). A gambler
starts with 1 and on seed k stakes a fraction λ_k ∈ [0, λ_max] of the wealth on "d_k > 0":

    E_n = Π_{k ≤ n} (1 + λ_k · sign(d_k)),

with λ_k chosen from the earlier seeds **and the magnitude |d_k|** (never its sign). Given |d_k|
the sign is a fair coin (or worse) under the null, so E[1 + λ_k sign(d_k) | past, |d_k|] ≤ 1:
E_n is a non-negative supermartingale with E_0 = 1, and by Ville's inequality
P(sup_n E_n ≥ t) ≤ 1/t — however often one looks and whenever one stops.

**The bet** uses the magnitudes. For d ~ N(μ, σ²) the chance that d > 0 given |d| = a is
1/(1 + e^{−2μa/σ²}), so the growth-optimal stake is λ = tanh(μa/σ²): large differences are bet
on firmly, tiny ones (noise) hardly at all. μ and σ² are plugged in from the earlier seeds,
shrunk towards a prior effect of ``PRIOR_EFFECT`` standard deviations with weight
``PRIOR_WEIGHT`` seeds, on the scale r_k = √(mean of d_1² … d_k²) (which includes |d_k|, so the
first seed already bets):

    m_k = (Σ_{l<k} d_l + w·g·r_k) / (k − 1 + w),
    v_k = (Σ_{l<k} (d_l − m_k)² + w·r_k²) / (k − 1 + w),
    λ_k = min(λ_max, tanh(max(m_k, 0) · |d_k| / v_k)).

The bet is scale free (accuracies or losses, any unit) and capped at ``MAX_STAKE`` so one
reversed seed costs at most a factor 1 − λ_max. ``python -m lrtune.simulate`` compares it with a
bet on signs only and with a group-sequential test (docs/verdict.md).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "MAX_STAKE",
    "PRIOR_EFFECT",
    "PRIOR_WEIGHT",
    "SignWealth",
    "Wealth",
    "log_evidence",
    "sign_log_evidence",
]

PRIOR_EFFECT = 1.0
"""g: the effect (in standard deviations of d) the bet assumes before it has seen seeds."""
PRIOR_WEIGHT = 4.0
"""w: how many seeds that prior is worth."""
MAX_STAKE = 0.9
"""λ_max: the largest fraction of the wealth staked on one seed."""


class Wealth:
    """The running log-wealth of many magnitude-weighted bets at once (see the module docstring).

    ``step(d)`` takes the next paired difference of every bet (an array; NaN = this bet skips
    the seed: factor 1, nothing learnt) and returns the log-wealth after it.
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        *,
        prior_effect: float = PRIOR_EFFECT,
        prior_weight: float = PRIOR_WEIGHT,
        max_stake: float = MAX_STAKE,
    ) -> None:
        self.prior_effect, self.prior_weight, self.max_stake = prior_effect, prior_weight, max_stake
        self.total, self.squares = np.zeros(shape), np.zeros(shape)
        self.magnitudes, self.count = np.zeros(shape), np.zeros(shape)
        self.log_wealth = np.zeros(shape)

    def stake(self, d: np.ndarray) -> np.ndarray:
        """λ_k for the next differences ``d`` (uses only |d| and the earlier seeds)."""
        a = np.abs(d)
        seen = np.isfinite(d)
        a = np.where(seen, a, 0.0)
        w, g = self.prior_weight, self.prior_effect
        scale = np.sqrt((self.magnitudes + a * a) / np.maximum(self.count + seen, 1.0))
        mean = (self.total + w * g * scale) / (self.count + w)
        var = (self.squares - 2.0 * mean * self.total + self.count * mean * mean + w * scale * scale) / (
            self.count + w
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            drive = np.where(var > 0, np.maximum(mean, 0.0) * a / var, 0.0)
        return np.where(seen, np.minimum(np.tanh(drive), self.max_stake), 0.0)

    def step(self, d: np.ndarray) -> np.ndarray:
        d = np.asarray(d, dtype=float)
        seen = np.isfinite(d)
        stake = self.stake(d)
        dk = np.where(seen, d, 0.0)
        self.log_wealth = self.log_wealth + np.log1p(stake * np.sign(dk))
        self.total, self.squares = self.total + dk, self.squares + dk * dk
        self.magnitudes, self.count = self.magnitudes + dk * dk, self.count + seen
        return self.log_wealth


def log_evidence(
    d: np.ndarray,
    *,
    prior_effect: float = PRIOR_EFFECT,
    prior_weight: float = PRIOR_WEIGHT,
    max_stake: float = MAX_STAKE,
) -> np.ndarray:
    """log E_n for n = 1 … N along the last axis of ``d`` (the magnitude-weighted bet on d > 0).

    ``d[..., k]``: the k-th paired difference in run order (A − B, higher = A better); NaN marks a
    seed one of them lacks (skipped: factor 1, nothing learnt). Returns an array of d's shape.
    """
    d = np.asarray(d, dtype=float)
    wealth = Wealth(d.shape[:-1], prior_effect=prior_effect, prior_weight=prior_weight, max_stake=max_stake)
    out = np.zeros(d.shape)
    for k in range(d.shape[-1]):
        out[..., k] = wealth.step(d[..., k])
    return out


class SignWealth:
    """The comparison candidate: a bet on signs only, λ_k = clip(2p̂_k − 1, 0, λ_max) with
    p̂_k = (wins + 1.5)/(decided + 2) over the earlier seeds (zero differences: no bet)."""

    def __init__(self, shape: tuple[int, ...], *, max_stake: float = MAX_STAKE) -> None:
        self.max_stake = max_stake
        self.wins, self.decided, self.log_wealth = np.zeros(shape), np.zeros(shape), np.zeros(shape)

    def step(self, d: np.ndarray) -> np.ndarray:
        d = np.asarray(d, dtype=float)
        s = np.sign(np.where(np.isfinite(d), d, 0.0))
        stake = np.clip(2.0 * (self.wins + 1.5) / (self.decided + 2.0) - 1.0, 0.0, self.max_stake)
        self.log_wealth = self.log_wealth + np.log1p(stake * s)
        self.wins, self.decided = self.wins + (s > 0), self.decided + (s != 0)
        return self.log_wealth


def sign_log_evidence(d: np.ndarray, *, max_stake: float = MAX_STAKE) -> np.ndarray:
    """log E_n of :class:`SignWealth` along the last axis of ``d``."""
    d = np.asarray(d, dtype=float)
    wealth = SignWealth(d.shape[:-1], max_stake=max_stake)
    out = np.zeros(d.shape)
    for k in range(d.shape[-1]):
        out[..., k] = wealth.step(d[..., k])
    return out
