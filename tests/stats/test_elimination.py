"""lrtune.stats.elimination: the race — who beats whom, the winner, racing runs."""

from __future__ import annotations

import numpy as np
import pytest

from lrtune import stats


def test_a_clearly_best_family_wins_and_racing_saves_runs():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, size=(200, 4, 20))
    x[:, 0] += 4.0  # clearly best
    x[:, 3] -= 8.0  # clearly worst: beaten first
    fixed = stats.race(x)
    raced = stats.race(x, racing=True)
    assert (fixed.winner == 0).mean() > 0.95 and (raced.winner == 0).mean() > 0.95
    assert raced.runs.sum(axis=1).mean() < fixed.runs.sum(axis=1).mean() / 2
    assert (raced.beaten_at[:, 3] <= raced.beaten_at[:, 1]).mean() > 0.9
    assert stats.threshold(4, 0.05) == pytest.approx(40) == stats.threshold(8, 0.05)
    assert stats.threshold(4, 0.05, rule="pairwise") == pytest.approx(80)


def test_bad_input():
    with pytest.raises(ValueError, match="families ≥ 2"):
        stats.race(np.zeros((3, 1, 5)))
    with pytest.raises(ValueError, match="bet must be one of magnitude, sign"):
        stats.race(np.zeros((3, 2, 5)), bet="kelly")


@pytest.mark.parametrize("racing", [False, True])
def test_a_family_wealth_is_a_martingale_under_the_null_despite_the_switching(racing):
    """M_b switches between comparisons (i_t chosen from the past) and, racing, stops when b is
    dropped; with every sign of d_{i,b} a fair coin given the magnitudes, E[M_{b,n}] = 1 exactly:
    average over all 2^12 sign patterns of families 0 and 1 against b = 2 on 6 seeds (float64)."""
    rng = np.random.default_rng(3)
    n = 6
    magnitudes = rng.exponential(1.0, (2, n))
    bits = (np.arange(2 ** (2 * n))[:, None] >> np.arange(2 * n)[None, :]) & 1
    signs = (1.0 - 2.0 * bits).reshape(-1, 2, n)
    x = np.zeros((signs.shape[0], 3, n))
    x[:, :2] = signs * magnitudes  # x_b = 0, so d_{i,b} = x_i
    result = stats.race(x, racing=racing)
    final = np.exp(result.against_path[:, 2, -1])
    assert final.dtype == np.float64 and final.std() > 0.1  # it did bet, and on more than one pair
    assert abs(final.mean() - 1.0) < 1e-12
    assert (result.beaten_by[:, 2] >= 0).sum() == (result.beaten_at[:, 2] > 0).sum()


def test_the_racing_race_is_the_verdict_of_its_own_stored_runs_on_every_prefix():
    """What --confirm auto does (race, racing=True) equals the pure verdict and still_racing
    recomputed after every round on the runs stored so far (dropped families stop)."""
    rng = np.random.default_rng(4)
    reps, k, n = 10, 4, 14
    x = rng.normal(0, 1, size=(reps, k, n))
    x[:, 0] += 2.0
    x[:, 3] -= 4.0
    result = stats.race(x, racing=True)
    assert (result.winner == 0).sum() >= 5 and (result.runs[:, 3] < result.runs[:, 1]).any()
    for r in range(reps):
        first = None
        for m in range(1, int(result.rounds[r]) + 1):
            stored = {f"f{j}": x[r, j, : min(m, int(result.runs[r, j]))] for j in range(k)}
            seed_ids = {f: list(range(len(v))) for f, v in stored.items()}
            v = stats.verdict(stored, seeds=seed_ids)
            if first is None and v.winner is not None:
                first = (v.winner, m)
            racing = stats.still_racing(stored, seed_ids)
            if m < int(result.rounds[r]):
                assert sorted(racing) == [f"f{j}" for j in range(k) if result.runs[r, j] > m], (r, m)
            elif result.rounds[r] < n:
                assert racing == [], (r, m)
        named = result.first_winner[r]
        assert first == ((f"f{named}", int(result.decided_at[r])) if named >= 0 else None)
