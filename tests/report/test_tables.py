"""lrtune.report.tables: budget, scores, expected max, best so far, confirmations, markdown."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from optuna.trial import TrialState, create_trial
from synthetic import TASK, add_search, lrtune_study, val_curve

from lrtune import stats
from lrtune.report import (
    best_so_far,
    budget_table,
    confirmation_table,
    expected_max_curves,
    load_trials,
    markdown_table,
    score_table,
)


def test_budget_table_counts(url, storage):
    add_search(storage, "cosine", [0.8, 0.81, 0.82], pruned=[0.5], diverged={1})
    study = lrtune_study(storage, f"{TASK}:step", "step", kind="search")
    study.add_trial(
        create_trial(
            value=0.7, user_attrs={"epochs_run": 10, "seconds": 3.0}, intermediate_values=val_curve(0.7, 10)
        )
    )
    study.add_trial(create_trial(state=TrialState.FAIL))
    study.add_trial(create_trial(state=TrialState.RUNNING))
    budget = budget_table(load_trials(url)).set_index("family")
    assert budget.loc["cosine", ["trials", "complete", "pruned", "failed", "diverged"]].tolist() == [4, 3, 1, 0, 1]
    assert budget.loc["cosine", "epochs"] == 3 * 10 + 5
    assert budget.loc["cosine", "seconds"] == pytest.approx(2.0 * 35)
    assert budget.loc["step", ["trials", "complete", "failed", "running", "epochs"]].tolist() == [3, 1, 1, 1, 10]


def test_score_table_uses_complete_trials_only(full):
    df = load_trials(full)
    scores = score_table(df).set_index("family")
    cosine = df[(df["study"] == f"{TASK}:cosine") & (df["state"] == "COMPLETE")]
    values = cosine["value"].to_numpy()
    row = scores.loc["cosine"]
    assert row["n_complete"] == 8
    assert row["best_val"] == pytest.approx(values.max())
    assert row["best_val"] < 0.99  # the pruned trial's 0.99 is never a score
    assert row["median_val"] == pytest.approx(np.median(values))
    assert row["emax_1"] == pytest.approx(values.mean())
    assert row["emax_5"] == pytest.approx(stats.expected_max(values, 5))
    assert row["emax_wor_5"] == pytest.approx(stats.expected_max(values, 5, replace=False))
    assert np.isnan(row["emax_wor_10"])  # 10 > N = 8 without replacement
    assert row["emax_wor_N"] == pytest.approx(values.max())
    best = cosine.loc[cosine["value"].idxmax()]
    assert row["best_trial"] == best["number"]
    assert row["test_of_best"] == pytest.approx(best["test_score"])


def test_expected_max_curves(full):
    curves = expected_max_curves(load_trials(full))
    cosine = curves[curves["family"] == "cosine"]
    assert cosine["n"].tolist() == list(range(1, 9))
    assert np.all(np.diff(cosine["emax"]) >= 0)
    scores = score_table(load_trials(full)).set_index("family")
    assert cosine["emax_wor"].iloc[-1] == pytest.approx(scores.loc["cosine", "best_val"])


def test_best_so_far_is_monotone_in_cumulative_epochs(url, storage):
    add_search(storage, "cosine", [0.6, 0.8, 0.7], pruned=[0.95])
    bsf = best_so_far(load_trials(url))
    assert bsf["epochs_spent"].tolist() == [10, 20, 30, 35]
    assert bsf["best_val"].tolist() == [0.6, 0.8, 0.8, 0.8]  # the pruned 0.95 does not count
    assert bsf["trials_run"].tolist() == [1, 2, 3, 4]


def test_confirmation_table(full):
    conf = confirmation_table(load_trials(full)).set_index("family")
    assert conf.loc["cosine", ["runs", "complete", "seeds"]].tolist() == [8, 8, 8]


def test_markdown_table():
    frame = pd.DataFrame({"family": ["a|b", "c"], "n": [1, 22], "x": [0.5, float("nan")], "ok": [True, False]})
    assert markdown_table(frame, formats={"x": ".2f"}) == (
        "| family | n | x | ok |\n|---|---:|---:|---|\n| a\\|b | 1 | 0.50 | yes |\n| c | 22 | — | no |\n"
    )
