"""lrtune.confirm(study, objective, seeds="auto"): racing confirmation of a user's own study.

The objective is a fake with a known truth: its value is the family's quality plus seed noise
(the seed from ``lrtune.trial_seed``), so which family is best, and which is clearly worse, is
known; everything else (storage, enqueue, the confirm study, resuming) is real Optuna.
"""

from __future__ import annotations

import numpy as np
import optuna
import pytest

import lrtune
from lrtune.tuning.own_confirm import CONFIRM_SEED_BASE

QUALITY = {"cosine": 1.0, "step": 0.0, "constant": -6.0}  # cosine best, constant clearly worse


def objective(trial: optuna.Trial) -> float:
    schedule = lrtune.suggest_schedule(trial, sorted(QUALITY), lr=(1e-3, 0.3))
    seed = lrtune.trial_seed(trial)
    noise = np.random.default_rng([seed % 2**32, sorted(QUALITY).index(schedule.family)]).normal(0.0, 0.5)
    return QUALITY[schedule.family] + noise  # maximised


@pytest.fixture()
def study(tmp_path) -> optuna.Study:
    study = optuna.create_study(study_name="own", storage=f"sqlite:///{tmp_path / 'own.db'}", direction="maximize")
    for family in sorted(QUALITY):
        study.enqueue_trial({"family": family})
    study.optimize(objective, n_trials=3)
    return study


def _seeds(target: optuna.Study) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for t in target.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        out.setdefault(t.user_attrs["family"], []).append(t.user_attrs["seed"] - CONFIRM_SEED_BASE)
    return {f: sorted(v) for f, v in out.items()}


def test_auto_drops_the_clearly_worse_family_first_and_names_the_best(study):
    target = lrtune.confirm(study, objective, seeds="auto", max_seeds=30)
    seeds = _seeds(target)
    assert seeds["constant"] == list(range(len(seeds["constant"])))  # consecutive from the first seed
    assert len(seeds["constant"]) < len(seeds["step"]) <= len(seeds["cosine"]) <= 30
    samples = {f: [] for f in seeds}
    runs = {f: [] for f in seeds}
    for t in sorted(target.get_trials(states=(optuna.trial.TrialState.COMPLETE,)), key=lambda t: t.number):
        samples[t.user_attrs["family"]].append(t.value)
        runs[t.user_attrs["family"]].append(t.user_attrs["seed"])
    verdict = lrtune.stats.verdict(samples, seeds=runs)
    assert verdict.winner == "cosine"
    race = verdict.race.set_index("family")
    assert race.loc["constant", "beaten_at"] < race.loc["step", "beaten_at"]
    # asked again: nothing to do, every stored run reused
    before = len(target.trials)
    lrtune.confirm(study, objective, seeds="auto", max_seeds=40)
    assert len(target.trials) == before


def test_a_capped_race_continues_from_the_stored_runs(study):
    target = lrtune.confirm(study, objective, seeds="auto", max_seeds=3)
    assert {f: len(v) for f, v in _seeds(target).items()} == {"constant": 3, "cosine": 3, "step": 3}
    first = {t.number: t.value for t in target.trials}
    lrtune.confirm(study, objective, seeds="auto", max_seeds=30)
    assert all(target.trials[n].value == v for n, v in first.items())  # reused, not redone
    assert max(len(v) for v in _seeds(target).values()) > 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seeds": "auto", "max_seeds": 0}, "max_seeds must be an integer ≥ 1, but got 0"),
        ({"seeds": 5, "max_seeds": 8}, "max_seeds goes with seeds='auto'"),
        ({"seeds": "many"}, "seeds must be an integer ≥ 1 or 'auto'"),
    ],
)
def test_bad_caps_are_refused_before_anything_runs(study, kwargs, message):
    with pytest.raises(ValueError, match=message):
        lrtune.confirm(study, objective, **kwargs)
    names = {s.study_name for s in optuna.get_all_study_summaries(study._storage)}
    assert names == {"own"}


def test_integer_seeds_keep_the_fixed_design(study):
    target = lrtune.confirm(study, objective, seeds=2)
    assert {f: v for f, v in _seeds(target).items()} == {f: [0, 1] for f in QUALITY}
