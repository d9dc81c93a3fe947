"""lrtune.stats.decision: Holm, the verdict rule, its vectorised twin and the null simulation."""

from __future__ import annotations

import numpy as np
import pytest

from lrtune import stats

# --------------------------------------------------------------------------------------------
# Holm
# --------------------------------------------------------------------------------------------


def test_holm_hand_example():
    # sorted 0.01, 0.03, 0.04 -> 3·0.01, 2·0.03, max(0.06, 1·0.04)
    np.testing.assert_allclose(stats.holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(stats.holm([0.5, 0.9]), [1.0, 1.0])
    np.testing.assert_allclose(stats.holm([0.02]), [0.02])


def test_holm_rejects_bad_pvalues():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        stats.holm([0.1, 1.5])


# --------------------------------------------------------------------------------------------
# verdict
# --------------------------------------------------------------------------------------------


def seeds(center, n=8, spread=0.002, seed=0):
    return center + np.random.default_rng(seed).uniform(-spread, spread, n)


def test_verdict_clear_winner_on_paired_seeds():
    samples = {"cosine": seeds(0.90), "step": seeds(0.85, seed=1), "wsd": seeds(0.86, seed=2)}
    v = stats.verdict(samples, seeds={f: range(8) for f in samples}, metric="test accuracy")
    assert v.winner == "cosine"
    assert v.leading_group == ["cosine"]
    assert v.design == "paired"
    assert v.threshold == pytest.approx(2 / 0.05)  # c = 2/α for any number of families
    assert v.text.startswith("cosine beats wsd and step on test accuracy")
    assert "anytime-valid" in v.text and "2/α = 40" in v.text
    assert set(v.comparisons["other"]) == {"step", "wsd"}
    assert v.comparisons["separated"].all()
    assert (v.comparisons["evidence"] >= 40).all()  # the evidence that the other is not the best
    assert (v.comparisons["p_superiority"] == 1.0).all()
    assert "8 runs per family" in v.budget
    race = v.race.set_index("family")
    assert race.loc["cosine", "won"] and race.loc["step", "beaten_by"] == "cosine"


def test_verdict_words_the_claim_as_best_configurations_found():
    a, b, c = seeds(0.95), seeds(0.90, seed=1), seeds(0.91, seed=2)
    v = stats.verdict(
        {"onecycle": a, "step": b, "cosine": c},
        seeds={f: range(8) for f in ("onecycle", "step", "cosine")},
        trials={"onecycle": 12, "step": 12, "cosine": 12},
        metric="test accuracy",
        unit_scale=100,
        unit="points",
    )
    assert v.design == "paired"
    assert v.text.startswith(
        "the best configuration found for onecycle in 12 trials beats the best found "
        "for cosine and step on test accuracy over 8 fresh seeds (paired seeds: anytime-valid"
    )
    assert "median paired difference +" in v.text and "points [" in v.text


def test_verdict_indistinguishable_families_are_inconclusive():
    same = np.linspace(0.80, 0.82, 16)
    samples = {"cosine": same[0::2], "wsd": same[1::2][::-1]}
    v = stats.verdict(samples, seeds={f: range(8) for f in samples})
    assert v.winner is None
    assert v.leading_group == ["wsd", "cosine"]
    assert v.text.startswith("inconclusive between wsd, cosine")


def test_verdict_leaves_out_the_beaten_from_the_leading_group():
    tied = np.linspace(0.80, 0.82, 16)
    samples = {"cosine": tied[1::2] + 0.05, "wsd": tied[0::2][::-1] + 0.05, "step": seeds(0.70)}
    v = stats.verdict(samples, seeds={f: range(8) for f in samples})
    assert v.winner is None
    assert v.leading_group[0] in ("cosine", "wsd") and "step" not in v.leading_group
    assert bool(v.comparisons.set_index("other").loc["step", "separated"])


def test_few_seeds_cannot_separate_even_perfectly_separated_families():
    paired = stats.verdict(
        {"a": [0.91, 0.92, 0.93], "b": [0.81, 0.82, 0.83]}, seeds={"a": [1, 2, 3], "b": [1, 2, 3]}
    )
    assert paired.winner is None and not paired.reachable and paired.seeds_needed == stats.seeds_needed(2)
    assert f"2 families need at least {stats.seeds_needed(2)} paired seeds" in paired.text
    assert [stats.seeds_needed(k) for k in (2, 4, 8)] == [6, 6, 6]  # c = 2/α whatever K


def test_paired_design_aligns_seeds_in_run_order():
    base = np.array([0.90, 0.95, 0.85, 0.92, 0.88, 0.97, 0.83, 0.91])  # seed effects dominate
    a, b = base + 0.004, base.copy()
    order = np.random.default_rng(1).permutation(8)
    samples = {"a": a[order], "b": b}  # a listed in another seed order
    seed_ids = {"a": [100 + int(i) for i in order], "b": [100 + i for i in range(8)]}
    v = stats.verdict(samples, seeds=seed_ids)
    assert v.design == "paired" and v.winner == "a"
    row = v.comparisons.iloc[0]
    assert row["p_superiority"] == 1.0 and row["n_pairs"] == 8
    assert row["effect"] == pytest.approx(0.004) and row["effect_low"] == pytest.approx(0.004)
    by_position = stats.verdict({"a": a, "b": b})
    assert by_position.design == "run order"


def test_unmatched_seeds_fall_back_to_run_order():
    a, b = seeds(0.9), seeds(0.8, seed=1)
    assert stats.verdict({"a": a, "b": b}, seeds={"a": range(8), "b": range(100, 108)}).design == "run order"
    assert stats.verdict({"a": a, "b": b}, seeds={"a": [0] * 8, "b": range(8)}).design == "run order"
    assert stats.verdict({"a": a, "b": b}, seeds={"a": range(8)}).design == "run order"
    partly = stats.verdict({"a": a, "b": b[:5]}, seeds={"a": range(8), "b": range(5)})
    assert partly.design == "paired" and partly.comparisons.iloc[0]["n_pairs"] == 5


def test_verdict_ranks_by_median_then_mean_then_name():
    v = stats.verdict({"b": [1.0, 2.0, 3.0], "a": [1.0, 2.0, 3.0]})
    assert v.leading_group == ["a", "b"]
    v = stats.verdict({"x": [0.0, 5.0, 9.0], "y": [4.0, 4.5, 4.6]}, center="mean")
    assert v.leading_group[0] == "x"


def test_verdict_rejects_a_single_family():
    with pytest.raises(ValueError, match="at least two families"):
        stats.verdict({"cosine": [0.9, 0.91]})


def test_the_race_is_the_verdict_on_every_prefix():
    rng = np.random.default_rng(11)
    x = rng.normal(0, 1, size=(12, 3, 12))
    x[:, 0] += rng.uniform(0.5, 3, size=(12, 1))  # family 0 better by a random margin
    result = stats.race(x)
    assert 2 < (result.winner == 0).sum() < 12  # both outcomes occur
    for r in range(12):
        first = None
        for n in range(1, 13):  # the pure function on every prefix of the stored runs
            samples = {f"f{k}": x[r, k, :n] for k in range(3)}
            v = stats.verdict(samples, seeds={f: range(n) for f in samples})
            if first is None and v.winner is not None:
                first = (v.winner, n)
        named = result.first_winner[r]
        assert first == ((f"f{named}", int(result.decided_at[r])) if named >= 0 else None)
        assert (v.winner or "none") == (f"f{result.winner[r]}" if result.winner[r] >= 0 else "none")


def test_the_legacy_rule_is_still_the_fixed_look_rule():
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, size=(200, 3, 9))
    x[:100, 0] += 3.0
    winners = stats.legacy_decide(x, paired=True)
    assert (winners[:100] == 0).mean() > 0.8 and (winners[100:] >= 0).mean() < 0.05
