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
    assert stats.threshold(4, 0.05) == pytest.approx(80)


def test_bad_input():
    with pytest.raises(ValueError, match="families ≥ 2"):
        stats.race(np.zeros((3, 1, 5)))
    with pytest.raises(ValueError, match="bet must be one of magnitude, sign"):
        stats.race(np.zeros((3, 2, 5)), bet="kelly")
