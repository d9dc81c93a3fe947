"""Search spaces under every built-in sampler, names, round trips and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution

import lrtune
from lrtune import FAMILIES, Schedule, search_space, suggest_schedule

optuna.logging.set_verbosity(optuna.logging.WARNING)

SAMPLERS = {
    "tpe": lambda: optuna.samplers.TPESampler(seed=0),
    "tpe-group": lambda: optuna.samplers.TPESampler(seed=0, multivariate=True, group=True),
    "random": lambda: optuna.samplers.RandomSampler(seed=0),
    "qmc": lambda: optuna.samplers.QMCSampler(seed=0),
    "cmaes": lambda: optuna.samplers.CmaEsSampler(seed=0),
    "gp": lambda: optuna.samplers.GPSampler(seed=0),
    "nsga2": lambda: optuna.samplers.NSGAIISampler(seed=0),
}

T = 40


def cheap_objective(family, **kwargs):
    """Mean LR over a short run: cheap, deterministic, depends on every parameter."""

    def objective(trial: optuna.Trial) -> float:
        schedule = suggest_schedule(trial, family, **kwargs)
        trial.set_user_attr("curve", schedule.curve(T).tolist())
        return float(schedule.curve(T).mean())

    return objective


def run_study(sampler_name: str, family, n_trials: int = 15, **kwargs) -> optuna.Study:
    study = optuna.create_study(sampler=SAMPLERS[sampler_name](), direction="maximize")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.optimize(cheap_objective(family, **kwargs), n_trials=n_trials)
    return study


def assert_one_distribution_per_name(study: optuna.Study) -> None:
    seen: dict[str, optuna.distributions.BaseDistribution] = {}
    for trial in study.trials:
        for name, dist in trial.distributions.items():
            assert seen.setdefault(name, dist) == dist, name


@pytest.mark.slow
@pytest.mark.parametrize("sampler_name", list(SAMPLERS))
def test_every_family_runs_under_every_sampler(sampler_name):
    for family in FAMILIES:
        study = run_study(sampler_name, family)
        complete = study.get_trials(states=[optuna.trial.TrialState.COMPLETE])
        assert len(complete) == 15, (sampler_name, family)
        space = search_space(family)
        for trial in complete:
            assert set(trial.params) == set(space)
            for name, value in trial.params.items():
                assert space[name]._contains(space[name].to_internal_repr(value))
        assert_one_distribution_per_name(study)


@pytest.mark.slow
@pytest.mark.parametrize("sampler_name", list(SAMPLERS))
def test_joint_space_over_all_families(sampler_name):
    study = run_study(sampler_name, "all", n_trials=15, prefix="sched_")
    assert len(study.get_trials(states=[optuna.trial.TrialState.COMPLETE])) == 15
    space = search_space("all", prefix="sched_")
    for trial in study.trials:
        family = trial.params["sched_family"]
        own = {n for n in trial.params if n.startswith(f"sched_{family}_")}
        others = {
            n for n in trial.params if n not in own and n not in ("sched_family", "sched_lr", "sched_warmup_frac")
        }
        assert not others, f"{family} trial suggested other families' parameters: {others}"
        assert set(trial.params) <= set(space)
    assert_one_distribution_per_name(study)


def test_names_carry_family_and_caller_prefix():
    space = search_space("cosine", prefix="my_")
    assert set(space) == {"my_lr", "my_warmup_frac", "my_cosine_final_ratio"}
    assert search_space("onecycle").keys() >= {"lr", "onecycle_pct_start"}
    assert "warmup_frac" not in search_space("onecycle")  # pct_start replaces warmup
    joint = search_space(["cosine", "step"])
    assert joint["family"] == CategoricalDistribution(("cosine", "step"))
    assert {"step_gamma", "cosine_final_ratio"} <= set(joint)


def test_every_space_parameter_is_a_schedule_parameter():
    for family in FAMILIES:
        for name in search_space(family):
            if name not in ("lr", "warmup_frac"):
                short = name[len(family) + 1 :]
                assert short in lrtune.core.schedules.family_defaults(family), name


@pytest.mark.parametrize("family", FAMILIES)
def test_from_params_rebuilds_the_trained_curve(tmp_path, family):
    storage = f"sqlite:///{tmp_path / 'spaces.db'}"
    study = optuna.create_study(
        storage=storage, study_name=family, direction="maximize", sampler=optuna.samplers.RandomSampler(seed=1)
    )
    study.optimize(cheap_objective(family), n_trials=6)
    best = optuna.load_study(study_name=family, storage=storage).best_trial
    rebuilt = Schedule.from_params(best.params, family=family)
    assert rebuilt.curve(T).tolist() == best.user_attrs["curve"]


def test_from_params_reads_the_chosen_family_from_a_joint_study():
    study = run_study("random", "all", n_trials=12, prefix="x_")
    for trial in study.trials:
        rebuilt = Schedule.from_params(trial.params, prefix="x_")
        assert rebuilt.family == trial.params["x_family"]
        assert rebuilt.curve(T).tolist() == trial.user_attrs["curve"]


def test_fixed_lr_and_warmup_are_stored_and_rebuilt():
    study = run_study("random", "cosine", n_trials=3, lr=0.05, warmup=0.0)
    for trial in study.trials:
        assert trial.params["lr"] == 0.05 and trial.params["warmup_frac"] == 0.0
        assert Schedule.from_params(trial.params, family="cosine").peak_lr == 0.05


def test_fixed_trial():
    s = suggest_schedule(
        optuna.trial.FixedTrial({"lr": 0.1, "warmup_frac": 0.05, "cosine_final_ratio": 0.01}), "cosine"
    )
    assert s == Schedule("cosine", peak_lr=0.1, warmup_frac=0.05, params={"final_ratio": 0.01})
    s = suggest_schedule(
        optuna.trial.FixedTrial({"step_n_drops": 1, "step_drop_start": 0.5, "step_gamma": 0.1}),
        "step",
        lr=0.2,
        warmup=0.0,
    )
    assert s.peak_lr == 0.2 and s.params["n_drops"] == 1


def test_enqueue_trial_with_listed_distributions():
    space = search_space("wsd")
    wanted = {
        "lr": 0.1,
        "warmup_frac": 0.0,
        "wsd_decay_frac": 1.0,
        "wsd_decay_shape": "linear",
        "wsd_final_ratio": 1e-3,
    }
    assert set(wanted) == set(space)
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(wanted)
    study.optimize(cheap_objective("wsd"), n_trials=1)
    assert study.trials[0].params == wanted
    linear = Schedule("poly", peak_lr=0.1, params={"power": 1.0, "final_ratio": 1e-3}).curve(T)
    np.testing.assert_allclose(study.trials[0].user_attrs["curve"], linear, rtol=1e-12)


def test_create_trial_from_search_space():
    space = search_space("cosine")
    trial = optuna.trial.create_trial(
        params={"lr": 0.01, "warmup_frac": 0.05, "cosine_final_ratio": 0.001}, distributions=space, value=0.9
    )
    study = optuna.create_study(direction="maximize")
    study.add_trial(trial)
    assert Schedule.from_params(study.best_trial.params, family="cosine").peak_lr == 0.01


# ----------------------------------------------------------------------------------- bad input


def test_unknown_family_lists_the_valid_ones():
    with pytest.raises(
        ValueError, match="unknown schedule family 'cosin'; valid families: constant, step, exponential, cosine"
    ):
        search_space("cosin")
    with pytest.raises(ValueError, match="valid families"):
        suggest_schedule(optuna.trial.FixedTrial({}), ["cosine", "bogus"])


@pytest.mark.parametrize(
    "lr,match",
    [
        ((0, 1), r"lr must be a number or a \(low, high\) pair with 0 < low ≤ high, but got \(0, 1\)"),
        ((1.0, 0.1), r"but got \(1.0, 0.1\)"),
        (-0.1, "but got -0.1"),
        ((1e-3,), r"but got \(0.001,\)"),
        ("fast", "but got 'fast'"),
        (float("inf"), "but got inf"),
    ],
)
def test_bad_lr_says_what_must_hold(lr, match):
    with pytest.raises(ValueError, match=match):
        search_space("cosine", lr=lr)
    with pytest.raises(ValueError, match=match):
        suggest_schedule(optuna.trial.FixedTrial({}), "cosine", lr=lr)


def test_bad_warmup_says_what_must_hold():
    with pytest.raises(
        ValueError,
        match=r"warmup must be a number or a \(low, high\) pair with 0 ≤ low ≤ high < 1, but got \(0.0, 1.0\)",
    ):
        search_space("cosine", warmup=(0.0, 1.0))


def test_from_params_without_family_says_how():
    with pytest.raises(ValueError, match="pass family="):
        Schedule.from_params({"lr": 0.1})
    with pytest.raises(ValueError, match="must contain 'lr'"):
        Schedule.from_params({"cosine_final_ratio": 0.1}, family="cosine")


def test_single_point_distribution_for_fixed_values():
    space = search_space("constant", lr=0.1, warmup=0.0)
    assert space["lr"] == FloatDistribution(0.1, 0.1)
    assert space["lr"].single()
