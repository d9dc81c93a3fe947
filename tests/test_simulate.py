"""lrtune.simulate: seed correlation, power, the CLI (the null grid itself is in test_stats)."""

from __future__ import annotations

import numpy as np
import pytest

from lrtune import simulate


def test_seed_correlation_of_pure_seed_effects_is_one_and_of_noise_about_zero():
    seed_effect = np.array([0.1, -0.2, 0.3, 0.0, 0.05])
    x = np.array([0.9, 0.8, 0.85])[:, None] + seed_effect[None, :]
    assert simulate.seed_correlation(x)["icc"] == pytest.approx(1.0)
    noise = np.random.default_rng(0).standard_normal((4, 4000))
    assert abs(simulate.seed_correlation(noise)["icc"]) < 0.03
    rho = 0.5
    x = simulate.simulate_scores(np.random.default_rng(1), 1, np.zeros(4), 4000, rho)[0]
    assert simulate.seed_correlation(x)["icc"] == pytest.approx(rho, abs=0.05)
    with pytest.raises(ValueError, match="seeds ≥ 3"):
        simulate.seed_correlation(np.zeros((3, 2)))


def test_power_grows_with_the_effect_and_pairing_helps_when_seeds_correlate():
    weak, _ = simulate.power(n_families=2, n_seeds=8, theta=0.7, rho=0.8, paired=True, reps=400)
    strong, wrong = simulate.power(n_families=2, n_seeds=8, theta=0.95, rho=0.8, paired=True, reps=400)
    assert weak < strong and wrong == 0.0
    unpaired, _ = simulate.power(n_families=2, n_seeds=8, theta=0.8, rho=0.8, paired=False, reps=400)
    paired, _ = simulate.power(n_families=2, n_seeds=8, theta=0.8, rho=0.8, paired=True, reps=400)
    assert paired > unpaired
    assert simulate.power(n_families=4, n_seeds=5, theta=0.99, rho=0.5, paired=True, reps=50) == (0.0, 0.0)


def test_cli(capsys, tmp_path):
    assert simulate.main(["--reps", "20", "--rho", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "false-winner rate, all families equal (paired" in out and "| families \\ seeds | 3 |" in out
    assert "power (ρ = 0.30" in out
    assert simulate.main(["--rho", "1.5"]) == 2
    missing = tmp_path / "missing.db"
    assert simulate.main(["--storage", f"sqlite:///{missing}", "--reps", "5"]) == 2
    assert "lrtune.simulate: error: no SQLite database" in capsys.readouterr().err
    assert not missing.exists()
