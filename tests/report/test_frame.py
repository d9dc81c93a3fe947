"""lrtune.report.frame: load_trials on synthetic storages and a real optimize run."""

from __future__ import annotations

import optuna
import pandas as pd
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial
from synthetic import TASK, lrtune_study

from lrtune.report import (
    TRIAL_COLUMNS,
    AnalysisError,
    load_trials,
)


def test_load_trials_reads_every_lrtune_study_and_skips_others(full):
    df = load_trials(full)
    assert set(df["study"]) == {f"{TASK}:{f}" for f in ("cosine", "step", "wsd")} | {
        f"{TASK}:{f}:confirm" for f in ("cosine", "step", "wsd")
    }
    assert list(df.columns[: len(TRIAL_COLUMNS)]) == TRIAL_COLUMNS
    assert {"params_lr", "params_warmup_frac", "params_cosine_final_ratio"} <= set(df.columns)
    assert set(df["kind"]) == {"search", "confirm"}
    assert set(df["task"]) == {TASK}
    assert len(df) == 3 * 10 + 3 * 8
    assert pd.api.types.is_datetime64_any_dtype(df["datetime_start"])
    search = df[df["kind"] == "search"]
    assert (search["lr_param"] == "lr").all()
    assert (search["lr_low"] == 1e-3).all() and (search["lr_high"] == 1.0).all()
    assert search["lr_log"].all()
    assert search["diverged"].dtype == "boolean"
    assert isinstance(search["intermediate_values"].iloc[0], dict)
    assert len(search["lr_curve"].iloc[0]) == 100


def test_pruned_value_is_nan_and_kept_as_last_intermediate(full):
    df = load_trials(full)
    pruned = df[df["state"] == "PRUNED"]
    assert len(pruned) == 6
    assert pruned["value"].isna().all()
    assert sorted(set(pruned["last_intermediate"].round(6))) == [0.5, 0.99]
    complete = df[df["state"] == "COMPLETE"]
    assert complete["value"].notna().all()


def test_load_trials_on_a_real_optimize_run_with_pruning(url):
    study = lrtune_study(url, "joint", "cosine", kind="search")  # plain sqlite:/// URL

    def objective(trial):
        lr = trial.suggest_float("lr", 1e-3, 1.0, log=True)
        for epoch in range(1, 5):
            trial.report(0.3 if lr < 0.03 else 0.8, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        trial.set_user_attr("val_accuracy", 0.8)
        return 0.8

    study.pruner = optuna.pruners.ThresholdPruner(lower=0.5)
    study.optimize(objective, n_trials=12)
    stored = study.get_trials(deepcopy=False)
    assert any(t.state == TrialState.PRUNED and t.value == 0.3 for t in stored)  # Optuna's way
    df = load_trials(url)
    pruned = df[df["state"] == "PRUNED"]
    assert len(pruned) and pruned["value"].isna().all()
    assert (pruned["last_intermediate"] == 0.3).all()


def test_load_trials_filters_studies_and_takes_their_confirmations(full):
    df = load_trials(full, studies=[f"{TASK}:cosine"])
    assert set(df["study"]) == {f"{TASK}:cosine", f"{TASK}:cosine:confirm"}
    with pytest.raises(AnalysisError, match="no lrtune study named 'nope'"):
        load_trials(full, studies=["nope"])


def test_load_trials_accepts_a_storage_object(full):
    storage = optuna.storages.RDBStorage(full)
    assert len(load_trials(storage)) == 54


def test_load_trials_errors(url, storage):
    with pytest.raises(AnalysisError, match="no studies"):
        load_trials(url)
    optuna.create_study(storage=storage, study_name="plain").add_trial(create_trial(value=1.0))
    with pytest.raises(AnalysisError, match="no lrtune studies.*plain"):
        load_trials(url)


def test_family_prefixed_lr_param_is_found(url, storage):
    study = lrtune_study(storage, "prefixed", "cosine", kind="search")
    dists = {
        "sched_lr": FloatDistribution(1e-4, 1e-1, log=True),
        "sched_cosine_final_ratio": FloatDistribution(1e-3, 0.5, log=True),
    }
    study.add_trial(
        create_trial(value=0.5, params={"sched_lr": 0.01, "sched_cosine_final_ratio": 0.1}, distributions=dists)
    )
    row = load_trials(url).iloc[0]
    assert row["lr_param"] == "sched_lr" and row["lr"] == 0.01 and row["lr_high"] == 0.1


def test_family_of_a_joint_study_comes_from_the_trial(url, storage):
    study = lrtune_study(storage, "joint", "any", kind="search")
    dists = {"family": optuna.distributions.CategoricalDistribution(["cosine", "step"])}
    study.add_trial(create_trial(value=0.5, params={"family": "step"}, distributions=dists))
    study.add_trial(
        create_trial(value=0.6, params={"family": "cosine"}, distributions=dists, user_attrs={"family": "cosine"})
    )
    assert load_trials(url)["family"].tolist() == ["cosine", "step"]
