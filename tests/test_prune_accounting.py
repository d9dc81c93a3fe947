"""lrtune.prune_accounting: replay a pruned search unpruned; policies replayed on the same trials."""

from __future__ import annotations

import optuna
import pytest

from lrtune import prune_accounting as pa
from lrtune.core.schedules import Schedule

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_decay_start_epoch():
    wsd = Schedule("wsd", 0.1, params={"decay_frac": 0.2, "decay_shape": "linear", "final_ratio": 0.01})
    assert pa.decay_start_epoch(wsd, 10, 50) == 9  # decay over the last 2 of 10 epochs
    assert pa.decay_start_epoch(Schedule("constant", 0.1), 10, 50) is None
    assert pa.decay_start_epoch(Schedule("cosine", 0.1, params={"final_ratio": 0.01}), 10, 50) == 1
    assert pa.first_judged_epoch("median-decay", wsd, 10, 50) == 9
    assert pa.first_judged_epoch("median-decay", Schedule("constant", 0.1), 10, 50) == 5
    assert pa.first_judged_epoch("median", wsd, 10, 50) == 5
    assert pa.first_judged_epoch("median-legacy", wsd, 15, 50) == 7
    with pytest.raises(ValueError, match="valid: median"):
        pa.first_judged_epoch("never", wsd, 10, 50)


def _trial(number, curve):
    return pa.ReplayedTrial(
        number, False, len(curve), None, list(curve), 0.0, Schedule("constant", 0.1), list(curve)
    )


def test_policies_on_known_curves():
    # five good trials start the median rule; trial 5 is worse at every epoch; trial 6 only at the end
    good = [_trial(i, [0.5, 0.6, 0.7, 0.8]) for i in range(5)]
    late = _trial(5, [0.1, 0.2, 0.3, 0.9])  # worst until the final epoch, then the best
    last = _trial(6, [0.5, 0.6, 0.7, 0.1])  # fine until the final epoch
    trials = good + [late, last]
    new = pa.simulate_policy(trials, "median", epochs=4, steps_per_epoch=10)
    assert new[5] == (2, True)  # judged from ⌈4/2⌉ = 2: pruned, its late best is lost
    assert new[6] == (4, False)  # never judged at the final epoch
    legacy = pa.simulate_policy(trials, "median-legacy", epochs=4, steps_per_epoch=10)
    assert legacy[6] == (4, True)  # the old rule pruned a trial that had run all its epochs
    account = pa.account_family("constant", trials, epochs=4, steps_per_epoch=10, policy="median")
    assert account.best_unpruned_trial == 5 and account.best_was_pruned
    assert account.drop_points == pytest.approx(10.0) and account.rank_of_kept == 2
    assert (
        pa.account_family("constant", trials, epochs=4, steps_per_epoch=10, policy="median-legacy").pruned_at_final
        == 1
    )


@pytest.mark.slow
def test_replay_of_a_real_search(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    args = [
        "--family",
        "cosine,step",
        "--trials",
        "8",
        "--storage",
        url,
        "--study-args",
        "--dataset digits --epochs 4 --batch-size 128 --sampler random --lr-range 1e-4,3 --no-progress",
    ]
    assert pa.main(args) == 0
    out = capsys.readouterr().out
    assert "| cosine | as run | 8 |" in out and "| step | median-legacy | 8 |" in out
    assert "note:" not in out  # replays reproduce the pruned runs; the replayed rule reproduces the search
    pruned = replayed = 0
    for family in ("cosine", "step"):
        search = optuna.load_study(study_name=f"digits-mlp-{family}", storage=url)
        replay = optuna.load_study(study_name=f"digits-mlp-{family}:unpruned", storage=url)
        pruned += sum(t.state == optuna.trial.TrialState.PRUNED for t in search.trials)
        replayed += len(replay.trials)
        assert all(len(t.intermediate_values) == 4 for t in replay.trials)
        assert "lrtune_config" not in replay.user_attrs  # never mistaken for a search
    assert replayed == pruned > 0
    assert pa.main([*args, "--no-search"]) == 0  # stored replays are reused
    assert len(optuna.load_study(study_name="digits-mlp-cosine:unpruned", storage=url).trials) <= pruned
    assert pa.main(["--family", "bogus"]) == 2
    assert "valid: constant" in capsys.readouterr().err
    missing = tmp_path / "missing.db"
    assert pa.main(["--storage", f"sqlite:///{missing}", "--no-search"]) == 2 and not missing.exists()
