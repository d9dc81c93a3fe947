"""lrtune.analysis on synthetic storages written with optuna, following docs/architecture.md."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from lrtune import analysis, stats

optuna.logging.set_verbosity(optuna.logging.WARNING)

TASK = "mnist1d/cnn/10ep/sgd"
EPOCHS = 10
LR_RANGE = (1e-3, 1.0)


# --------------------------------------------------------------------------------------------
# synthetic storages
# --------------------------------------------------------------------------------------------


def _study(storage, name, family, *, kind, task=TASK, epochs=EPOCHS, sampler="random"):
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize")
    config = {
        "dataset": task.split("/")[0],
        "model": "cnn",
        "epochs": epochs,
        "optimizer": "sgd",
        "family": family,
        "sampler": sampler,
        "lr_range": list(LR_RANGE),
    }
    for key, value in {
        "lrtune_version": "0.1.0",
        "lrtune_config": config,
        "lrtune_family": family,
        "lrtune_task": task,
        "lrtune_kind": kind,
    }.items():
        study.set_user_attr(key, value)
    return study


def _curve(final, epochs):
    return {e: float(final * e / epochs) for e in range(1, epochs + 1)}


def add_search(
    storage,
    family,
    values,
    *,
    pruned=(),
    lrs=None,
    tests=None,
    task=TASK,
    epochs=EPOCHS,
    sampler="random",
    name=None,
    diverged=(),
    epochs_run=None,
):
    """A search study: COMPLETE trials with final val accuracy ``values``; then PRUNED trials
    that reported ``pruned`` (value = last intermediate, as Optuna stores it) after 5 epochs."""
    study = _study(
        storage, name or f"{task}:{family}", family, kind="search", task=task, epochs=epochs, sampler=sampler
    )
    dists = {
        "lr": FloatDistribution(*LR_RANGE, log=True),
        "warmup_frac": FloatDistribution(0.0, 0.1),
        f"{family}_final_ratio": FloatDistribution(1e-3, 0.5, log=True),
    }
    lrs = lrs if lrs is not None else np.geomspace(0.02, 0.2, len(values) + len(pruned))
    tests = tests if tests is not None else [v - 0.01 for v in values]
    steps = list(range(0, 1000, 10))
    for i, value in enumerate(list(values) + list(pruned)):
        is_pruned = i >= len(values)
        ran = 5 if is_pruned else (epochs_run[i] if epochs_run else epochs)
        lr = float(lrs[i])
        curve = [lr * (0.5 + 0.5 * np.cos(np.pi * s / 1000)) for s in steps]
        attrs = {
            "family": family,
            "val_accuracy": float(value),
            "test_accuracy": float(tests[i]) if not is_pruned else float(value) - 0.01,
            "epochs_run": ran,
            "seconds": 2.0 * ran,
            "diverged": i in diverged,
            "seed": i,
            "lr_curve": curve,
            "lr_curve_steps": steps,
            "steps_per_epoch": 100,
        }
        study.add_trial(
            create_trial(
                state=TrialState.PRUNED if is_pruned else TrialState.COMPLETE,
                value=float(value),
                params={"lr": lr, "warmup_frac": 0.05, f"{family}_final_ratio": 0.01},
                distributions=dists,
                user_attrs=attrs,
                intermediate_values=_curve(value, ran),
            )
        )
    return study


def add_confirm(
    storage, family, tests, *, vals=None, task=TASK, source_trial=0, states=None, seeds=None, epochs=EPOCHS
):
    """A confirmation study '<search>:confirm': one trial per seed with its test accuracy."""
    study = _study(storage, f"{task}:{family}:confirm", family, kind="confirm", task=task, epochs=epochs)
    vals = vals if vals is not None else [t + 0.005 for t in tests]
    for i, test in enumerate(tests):
        state = states[i] if states else TrialState.COMPLETE
        attrs = {
            "family": family,
            "seed": (seeds[i] if seeds else 1000 + i),
            "test_accuracy": float(test),
            "val_accuracy": float(vals[i]),
            "epochs_run": epochs,
            "seconds": 20.0,
            "diverged": False,
            "source_trial": source_trial,
        }
        study.add_trial(
            create_trial(
                state=state, value=float(vals[i]), user_attrs=attrs, intermediate_values=_curve(vals[i], epochs)
            )
        )
    return study


def spread(center, n=8, seed=0, width=0.002):
    return list(center + np.random.default_rng(seed).uniform(-width, width, n))


def fast_sqlite(path: Path) -> optuna.storages.RDBStorage:
    """An RDBStorage writing the SQLite file ``path`` without fsync (tests only: ~50× faster)."""

    def connect():
        con = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        con.execute("PRAGMA synchronous=OFF")
        return con

    return optuna.storages.RDBStorage("sqlite://", engine_kwargs={"creator": connect})


@pytest.fixture
def url(tmp_path):
    """The URL of a temporary SQLite file; tests write it through the ``storage`` fixture."""
    return f"sqlite:///{tmp_path / 'lrtune.db'}"


@pytest.fixture
def storage(tmp_path, url):
    return fast_sqlite(tmp_path / "lrtune.db")


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """Three families, 8 complete + 2 pruned trials each; cosine clearly wins the confirmation."""
    path = tmp_path_factory.mktemp("full") / "lrtune.db"
    storage = fast_sqlite(path)
    for family, base, seed in (("cosine", 0.88, 0), ("step", 0.84, 1), ("wsd", 0.86, 2)):
        add_search(storage, family, spread(base, 8, seed, 0.02), pruned=[0.99, 0.5])
        add_confirm(storage, family, spread(base - 0.01, 8, seed + 10), source_trial=None)
    other = optuna.create_study(storage=storage, study_name="not-lrtune")
    other.add_trial(create_trial(value=1.0))
    return f"sqlite:///{path}"


# --------------------------------------------------------------------------------------------
# load_trials
# --------------------------------------------------------------------------------------------


def test_load_trials_reads_every_lrtune_study_and_skips_others(full):
    df = analysis.load_trials(full)
    assert set(df["study"]) == {f"{TASK}:{f}" for f in ("cosine", "step", "wsd")} | {
        f"{TASK}:{f}:confirm" for f in ("cosine", "step", "wsd")
    }
    assert list(df.columns[: len(analysis.TRIAL_COLUMNS)]) == analysis.TRIAL_COLUMNS
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
    df = analysis.load_trials(full)
    pruned = df[df["state"] == "PRUNED"]
    assert len(pruned) == 6
    assert pruned["value"].isna().all()
    assert sorted(set(pruned["last_intermediate"].round(6))) == [0.5, 0.99]
    complete = df[df["state"] == "COMPLETE"]
    assert complete["value"].notna().all()


def test_load_trials_on_a_real_optimize_run_with_pruning(url):
    study = _study(url, "joint", "cosine", kind="search")  # plain sqlite:/// URL

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
    df = analysis.load_trials(url)
    pruned = df[df["state"] == "PRUNED"]
    assert len(pruned) and pruned["value"].isna().all()
    assert (pruned["last_intermediate"] == 0.3).all()


def test_load_trials_filters_studies_and_takes_their_confirmations(full):
    df = analysis.load_trials(full, studies=[f"{TASK}:cosine"])
    assert set(df["study"]) == {f"{TASK}:cosine", f"{TASK}:cosine:confirm"}
    with pytest.raises(analysis.AnalysisError, match="no lrtune study named 'nope'"):
        analysis.load_trials(full, studies=["nope"])


def test_load_trials_accepts_a_storage_object(full):
    storage = optuna.storages.RDBStorage(full)
    assert len(analysis.load_trials(storage)) == 54


def test_load_trials_errors(url, storage):
    with pytest.raises(analysis.AnalysisError, match="no studies"):
        analysis.load_trials(url)
    optuna.create_study(storage=storage, study_name="plain").add_trial(create_trial(value=1.0))
    with pytest.raises(analysis.AnalysisError, match="no lrtune studies.*plain"):
        analysis.load_trials(url)


def test_family_prefixed_lr_param_is_found(url, storage):
    study = _study(storage, "prefixed", "cosine", kind="search")
    dists = {
        "sched_lr": FloatDistribution(1e-4, 1e-1, log=True),
        "sched_cosine_final_ratio": FloatDistribution(1e-3, 0.5, log=True),
    }
    study.add_trial(
        create_trial(value=0.5, params={"sched_lr": 0.01, "sched_cosine_final_ratio": 0.1}, distributions=dists)
    )
    row = analysis.load_trials(url).iloc[0]
    assert row["lr_param"] == "sched_lr" and row["lr"] == 0.01 and row["lr_high"] == 0.1


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------


def test_budget_table_counts(url, storage):
    add_search(storage, "cosine", [0.8, 0.81, 0.82], pruned=[0.5], diverged={1})
    study = _study(storage, f"{TASK}:step", "step", kind="search")
    study.add_trial(
        create_trial(value=0.7, user_attrs={"epochs_run": 10, "seconds": 3.0}, intermediate_values=_curve(0.7, 10))
    )
    study.add_trial(create_trial(state=TrialState.FAIL))
    study.add_trial(create_trial(state=TrialState.RUNNING))
    budget = analysis.budget_table(analysis.load_trials(url)).set_index("family")
    assert budget.loc["cosine", ["trials", "complete", "pruned", "failed", "diverged"]].tolist() == [4, 3, 1, 0, 1]
    assert budget.loc["cosine", "epochs"] == 3 * 10 + 5
    assert budget.loc["cosine", "seconds"] == pytest.approx(2.0 * 35)
    assert budget.loc["step", ["trials", "complete", "failed", "running", "epochs"]].tolist() == [3, 1, 1, 1, 10]


def test_score_table_uses_complete_trials_only(full):
    df = analysis.load_trials(full)
    scores = analysis.score_table(df).set_index("family")
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
    assert row["test_of_best"] == pytest.approx(best["test_accuracy"])


def test_expected_max_curves(full):
    curves = analysis.expected_max_curves(analysis.load_trials(full))
    cosine = curves[curves["family"] == "cosine"]
    assert cosine["n"].tolist() == list(range(1, 9))
    assert np.all(np.diff(cosine["emax"]) >= 0)
    scores = analysis.score_table(analysis.load_trials(full)).set_index("family")
    assert cosine["emax_wor"].iloc[-1] == pytest.approx(scores.loc["cosine", "best_val"])


def test_best_so_far_is_monotone_in_cumulative_epochs(url, storage):
    add_search(storage, "cosine", [0.6, 0.8, 0.7], pruned=[0.95])
    bsf = analysis.best_so_far(analysis.load_trials(url))
    assert bsf["epochs_spent"].tolist() == [10, 20, 30, 35]
    assert bsf["best_val"].tolist() == [0.6, 0.8, 0.8, 0.8]  # the pruned 0.95 does not count
    assert bsf["trials_run"].tolist() == [1, 2, 3, 4]


def test_confirmation_table(full):
    conf = analysis.confirmation_table(analysis.load_trials(full)).set_index("family")
    assert conf.loc["cosine", ["runs", "complete", "seeds"]].tolist() == [8, 8, 8]


# --------------------------------------------------------------------------------------------
# warnings
# --------------------------------------------------------------------------------------------


def _warnings(url):
    return analysis.warnings(analysis.load_trials(url))


def test_clean_storage_has_only_the_expected_caveats(full):
    notes = _warnings(full)
    assert len(notes) == 1, notes  # the full storage prunes 2 of 10 trials per family
    assert "over COMPLETE trials only (pruned: cosine 2/10, step 2/10, wsd 2/10)" in notes[0]


def test_warns_about_unequal_budgets_and_few_complete_trials(url, storage):
    add_search(storage, "cosine", spread(0.8, 8))
    add_search(storage, "step", spread(0.8, 3))
    notes = " ".join(_warnings(url))
    assert "unequal budgets" in notes and "cosine 8, step 3" in notes
    assert "step has only 3 COMPLETE" in notes
    assert "epochs spent differ" in notes


def test_warns_about_best_lr_on_the_edge_of_its_range(url, storage):
    lrs = [0.05, 0.1, 0.9]  # 0.9 is within 10 % of the log-range of the upper bound 1.0
    add_search(storage, "cosine", [0.7, 0.75, 0.8], lrs=lrs)
    add_search(storage, "step", [0.7, 0.75, 0.8], lrs=[0.9, 0.5, 0.05])
    notes = _warnings(url)
    edge = [n for n in notes if "widen the LR range" in n]
    assert len(edge) == 1 and "cosine" in edge[0] and "upper bound" in edge[0]


def test_warns_about_few_confirmation_seeds_and_missing_confirmations(url, storage):
    for family in ("cosine", "step", "wsd"):
        add_search(storage, family, spread(0.8, 6))
    add_confirm(storage, "cosine", [0.8, 0.81, 0.82])
    add_confirm(storage, "step", [0.7, 0.71, 0.72, 0.73, 0.74])
    notes = " ".join(_warnings(url))
    assert "cosine has 3 confirmation seed(s), fewer than 5" in notes
    assert "step has" not in notes
    assert "without confirmation runs: wsd" in notes


def test_warns_when_there_are_no_confirmations(url, storage):
    add_search(storage, "cosine", spread(0.8, 6))
    add_search(storage, "step", spread(0.8, 6))
    assert any("no confirmation runs" in n for n in _warnings(url))


def test_warns_about_pruned_or_partial_values_used_as_scores(url, storage):
    add_search(storage, "cosine", spread(0.8, 6), epochs_run=[10, 10, 4, 10, 10, 10])
    add_search(storage, "step", spread(0.8, 6))
    add_confirm(storage, "cosine", spread(0.8, 5), states=[TrialState.COMPLETE] * 4 + [TrialState.PRUNED])
    add_confirm(storage, "step", spread(0.8, 5))
    notes = " ".join(_warnings(url))
    assert "1 cosine confirmation run(s) are PRUNED/FAIL" in notes
    assert "ran fewer epochs than configured" in notes and "(#2)" in notes


def test_warns_about_test_set_selection(url, storage):
    # trial 2 has the best validation accuracy, trial 0 the best test accuracy
    add_search(storage, "cosine", [0.80, 0.81, 0.85, 0.79, 0.78], tests=[0.90, 0.80, 0.82, 0.79, 0.78])
    add_search(storage, "step", [0.8, 0.81, 0.82, 0.79, 0.78])
    add_confirm(storage, "cosine", spread(0.8, 5), source_trial=0)
    add_confirm(storage, "step", spread(0.8, 5), source_trial=2)
    notes = [n for n in _warnings(url) if "test-set selection" in n]
    assert len(notes) == 1 and "cosine" in notes[0] and "#0" in notes[0]


def test_warns_when_the_objective_returns_test_accuracy(url, storage):
    vals = spread(0.8, 6)
    add_search(storage, "cosine", vals, tests=vals)  # values equal test accuracy
    add_search(storage, "step", spread(0.8, 6))
    assert any("select on the test set" in n and "cosine" in n for n in _warnings(url))


def test_warns_about_non_iid_sampler(url, storage):
    add_search(storage, "cosine", spread(0.8, 6), sampler="tpe")
    add_search(storage, "step", spread(0.8, 6), sampler="tpe")
    assert any("does not draw i.i.d." in n for n in _warnings(url))


# --------------------------------------------------------------------------------------------
# verdict
# --------------------------------------------------------------------------------------------


def test_verdict_from_confirmations_clear_winner(full):
    v = analysis.verdict_from_confirmations(analysis.load_trials(full))
    assert v.winner == "cosine"
    assert v.metric == "test accuracy"
    assert "cosine 8, step 8, wsd 8" in v.budget
    assert v.design == "paired"
    assert "cosine 10 trials / 90 epochs" in v.budget


def test_verdict_uses_test_accuracy_not_validation(url, storage):
    add_search(storage, "cosine", spread(0.8, 6))
    add_search(storage, "step", spread(0.8, 6))
    # cosine is better on validation, step on test: the verdict must follow test accuracy
    add_confirm(storage, "cosine", spread(0.80, 8), vals=spread(0.95, 8))
    add_confirm(storage, "step", spread(0.85, 8, seed=1), vals=spread(0.70, 8))
    v = analysis.verdict_from_confirmations(analysis.load_trials(url))
    assert v.winner == "step"


def test_verdict_inconclusive_between_indistinguishable_families(url, storage):
    same = np.linspace(0.80, 0.82, 16)
    add_confirm(storage, "cosine", list(same[0::2]))
    add_confirm(storage, "wsd", list(same[1::2][::-1]))  # per seed, wsd wins 4 and loses 4
    add_confirm(storage, "step", spread(0.70, 8))
    v = analysis.verdict_from_confirmations(analysis.load_trials(url))
    assert v.design == "paired" and v.winner is None
    assert v.leading_group == ["wsd", "cosine"]
    assert "inconclusive between wsd, cosine" in v.text


def test_verdict_ignores_pruned_confirmation_runs(url, storage):
    add_confirm(
        storage,
        "cosine",
        [0.9] * 5 + [0.1],
        states=[TrialState.COMPLETE] * 5 + [TrialState.PRUNED],
        seeds=list(range(6)),
    )
    add_confirm(storage, "step", spread(0.8, 5))
    v = analysis.verdict_from_confirmations(analysis.load_trials(url))
    assert v.comparisons.iloc[0]["n_leader"] == 5


def test_verdict_errors(url, storage):
    add_search(storage, "cosine", spread(0.8, 6))
    add_search(storage, "step", spread(0.8, 6))
    df = analysis.load_trials(url)
    with pytest.raises(analysis.AnalysisError, match="no COMPLETE confirmation runs"):
        analysis.verdict_from_confirmations(df)
    add_confirm(storage, "cosine", spread(0.8, 5))
    with pytest.raises(analysis.AnalysisError, match="at least two families"):
        analysis.verdict_from_confirmations(analysis.load_trials(url))
    add_confirm(storage, "cosine", spread(0.8, 5), task="digits/mlp/5ep/sgd")
    with pytest.raises(analysis.AnalysisError, match="several tasks"):
        analysis.verdict_from_confirmations(analysis.load_trials(url))
    assert analysis.verdicts_by_task(analysis.load_trials(url)) == {"digits/mlp/5ep/sgd": None, TASK: None}


# --------------------------------------------------------------------------------------------
# markdown, plots, report
# --------------------------------------------------------------------------------------------


def test_markdown_table():
    frame = pd.DataFrame({"family": ["a|b", "c"], "n": [1, 22], "x": [0.5, float("nan")], "ok": [True, False]})
    assert analysis.markdown_table(frame, formats={"x": ".2f"}) == (
        "| family | n | x | ok |\n|---|---:|---:|---|\n| a\\|b | 1 | 0.50 | yes |\n| c | 22 | — | no |\n"
    )


def _is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plots_are_pngs_with_content(full, tmp_path):
    import matplotlib.image

    df = analysis.load_trials(full)
    out = tmp_path / "plots"
    for plot in (
        analysis.plot_expected_max,
        analysis.plot_best_so_far,
        analysis.plot_lr_curves,
        analysis.plot_learning_curves,
        analysis.plot_confirmations,
    ):
        paths = plot(df, out)
        assert len(paths) == 1, plot.__name__
        path = paths[0]
        assert path.exists() and _is_png(path) and "mnist1d-cnn-10ep-sgd" in path.name
        pixels = matplotlib.image.imread(path)
        assert pixels.shape[0] > 300 and pixels[..., :3].std() > 0.05  # not a blank canvas


def test_write_report(full, tmp_path):
    out = tmp_path / "report"
    report = analysis.write_report(full, out)
    text = report.path.read_text()
    assert report.path == out / "report.md"
    assert text.startswith("# lrtune report")
    for needle in (
        f"## Task `{TASK}`",
        "**the best configuration found for cosine in 10 trials beats",
        "Budget: confirmation seeds per family",
        "### Search budget",
        "### Search scores",
        "### Expected maximum",
        "## Warnings",
        "[trials.csv](trials.csv)",
        "| family | trials | complete |",
    ):
        assert needle in text, needle
    for figure in report.figures:
        assert f"]({figure.name})" in text
        assert figure.parent == out
    assert len(report.figures) == 5
    assert report.verdicts[TASK].winner == "cosine"
    trials = pd.read_csv(report.trials_csv)
    assert len(trials) == 54 and "lr_curve" not in trials.columns
    assert trials["value"].isna().sum() == 6  # the pruned ones


def test_write_report_is_deterministic(full, tmp_path):
    first = analysis.write_report(full, tmp_path / "a")
    text, csv = first.path.read_bytes(), first.trials_csv.read_bytes()
    second = analysis.write_report(full, tmp_path / "a")
    assert second.path.read_bytes() == text
    assert second.trials_csv.read_bytes() == csv


def test_write_report_without_confirmations(url, storage, tmp_path):
    add_search(storage, "cosine", spread(0.85, 6))
    add_search(storage, "step", spread(0.80, 6))
    report = analysis.write_report(url, tmp_path / "r")
    text = report.path.read_text()
    assert report.verdicts == {TASK: None}
    assert (
        "No verdict" in text
        and "Search leader by best validation accuracy (not a verdict)" in text
        and "cosine" in text
    )
    assert any("no confirmation runs" in w for w in report.warnings)


def test_family_of_a_joint_study_comes_from_the_trial(url, storage):
    study = _study(storage, "joint", "any", kind="search")
    dists = {"family": optuna.distributions.CategoricalDistribution(["cosine", "step"])}
    study.add_trial(create_trial(value=0.5, params={"family": "step"}, distributions=dists))
    study.add_trial(
        create_trial(value=0.6, params={"family": "cosine"}, distributions=dists, user_attrs={"family": "cosine"})
    )
    assert analysis.load_trials(url)["family"].tolist() == ["cosine", "step"]
