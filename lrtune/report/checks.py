"""Checks: everything that weakens a conclusion, one sentence each (:func:`check_trials`)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from lrtune.report.frame import (
    CONFIRM,
    OWN_METRIC,
    SEARCH,
    best_row,
    complete_scores,
    confirm_command,
    metric_of,
    rows_of_kind,
    trial_epochs,
)
from lrtune.report.tables import budget_table, confirmation_table, score_table

__all__ = ["check_trials"]


def _edge_position(lr: float, low: float, high: float, log: bool) -> float:
    """Where lr sits in [low, high]: 0 at low, 1 at high, on the log scale when ``log``."""
    if log:
        lr, low, high = math.log(lr), math.log(low), math.log(high)
    return (lr - low) / (high - low) if high > low else 0.5


def _is_own(df: pd.DataFrame, task: str) -> bool:
    """Whether ``task`` is a user's own study (metric :data:`~lrtune.report.frame.OWN_METRIC`)."""
    return metric_of(df[df["task"] == task])[0] == OWN_METRIC


def _warn_budgets(df: pd.DataFrame, budget_tolerance: float) -> list[str]:
    out = []
    budget = budget_table(df)
    for task, g in budget.groupby("task", sort=True):
        if len(g) < 2:
            continue
        finished = g["trials"] - g["running"]
        if finished.nunique() > 1:
            detail = ", ".join(f"{f} {n}" for f, n in zip(g["family"], finished))
            out.append(
                f"{task}: unequal budgets — finished trials per family differ ({detail}); "
                "compare at equal budget (expected max at a common n, best-so-far per epoch)."
            )
        epochs = g["epochs"].astype(float)
        if epochs.min() > 0 and epochs.max() / epochs.min() > 1 + budget_tolerance:
            detail = ", ".join(f"{f} {int(e)}" for f, e in zip(g["family"], epochs))
            out.append(
                f"{task}: epochs spent differ by more than {budget_tolerance:.0%} across "
                f"families ({detail}); pruning spends epochs unevenly — read best-so-far "
                "against epochs."
            )
    for (task, family), g in budget.groupby(["task", "family"], sort=True):
        row = g.iloc[0]
        if "," in row["studies"]:
            out.append(f"{task}: family {family} has several search studies ({row['studies']}); they are pooled.")
        if row["running"]:
            out.append(
                f"{task}: {family} has {row['running']} trial(s) still RUNNING/WAITING "
                "(a killed worker leaves them until optimize() runs again); "
                "they are not counted."
            )
        if row["trials"] and row["diverged"] / row["trials"] > 0.25:
            out.append(
                f"{task}: {family} diverged in {row['diverged']} of {row['trials']} "
                "trials — the top of its LR range may be too high."
            )
    for task, g in budget.groupby("task", sort=True):
        if g["pruned"].sum():
            detail = ", ".join(f"{f} {p}/{t}" for f, p, t in zip(g["family"], g["pruned"], g["trials"]))
            out.append(
                f"{task}: median and expected max are over COMPLETE trials only "
                f"(pruned: {detail}); with pruning they are optimistic — compare "
                "families by best-so-far against epochs and by the confirmation runs."
            )
    search = rows_of_kind(df, SEARCH)
    for task, g in search.groupby("task", sort=True):
        samplers = sorted({s for s in g["sampler"].dropna()})
        if len(samplers) > 1:
            out.append(f"{task}: families were tuned with different samplers ({', '.join(samplers)}).")
        tuned = [s for s in samplers if s.lower().replace("sampler", "") not in ("random", "qmc")]
        if tuned:
            out.append(
                f"{task}: sampler {', '.join(tuned)} does not draw i.i.d. trials; the "
                "expected-max curves assume i.i.d. (Random/QMC) — read them as "
                "descriptive and judge the search by best-so-far against epochs."
            )
    return out


def _warn_complete(df: pd.DataFrame, min_complete: int) -> list[str]:
    out = []
    scores = score_table(df)
    for row in scores.itertuples(index=False):
        if row.n_complete < min_complete:
            out.append(
                f"{row.task}: {row.family} has only {row.n_complete} COMPLETE trial(s) "
                f"(fewer than {min_complete}); its scores and expected max are unreliable."
            )
    return out


def _warn_lr_edge(df: pd.DataFrame, edge_frac: float) -> list[str]:
    out = []
    scored = complete_scores(df)
    for (task, family), g in scored.groupby(["task", "family"], sort=True):
        best = best_row(g)
        if best is None or not np.isfinite(best["lr"]) or not np.isfinite(best["lr_low"]):
            continue
        pos = _edge_position(best["lr"], best["lr_low"], best["lr_high"], bool(best["lr_log"]))
        if pos <= edge_frac or pos >= 1 - edge_frac:
            side = "lower" if pos <= edge_frac else "upper"
            scale = "log-range" if best["lr_log"] else "range"
            out.append(
                f"{task}: the best {family} trial (#{best['number']}) has {best['lr_param']} = "
                f"{best['lr']:.3g}, within {edge_frac:.0%} of the {scale} of the {side} bound "
                f"[{best['lr_low']:.3g}, {best['lr_high']:.3g}] — widen the LR range."
            )
    return out


def _warn_confirmations(df: pd.DataFrame, min_seeds: int) -> list[str]:
    out = []
    conf = confirmation_table(df)
    search_families = rows_of_kind(df, SEARCH).groupby("task")["family"].unique()
    for task in sorted(set(df["task"])):
        confirmed = conf[conf["task"] == task]
        families = sorted(search_families.get(task, []))
        if confirmed.empty:
            if len(families) > 1:
                why = "the verdict rests on search results only" if _is_own(df, task) else "no verdict"
                out.append(
                    f"{task}: no confirmation runs, so {why} — re-train each "
                    "family's best configuration with fresh seeds "
                    f"({confirm_command(df[df['task'] == task])})."
                )
            continue
        missing = sorted(set(families) - set(confirmed["family"]))
        if missing:
            out.append(
                f"{task}: families without confirmation runs: {', '.join(missing)}; "
                "the verdict covers only the confirmed ones."
            )
        for row in confirmed.itertuples(index=False):
            if row.seeds < min_seeds:
                out.append(
                    f"{task}: {row.family} has {row.seeds} confirmation seed(s), fewer "
                    f"than {min_seeds}; the exact test can hardly separate families."
                )
    return out


def _warn_pruned_scores(df: pd.DataFrame) -> list[str]:
    out = []
    conf = rows_of_kind(df, CONFIRM)
    for (task, family), g in conf.groupby(["task", "family"], sort=True):
        bad = g[g["state"].isin(["PRUNED", "FAIL"])]
        if len(bad):
            out.append(
                f"{task}: {len(bad)} {family} confirmation run(s) are PRUNED/FAIL; "
                "confirmations must run unpruned — they are left out of the verdict."
            )
    for kind in (SEARCH, CONFIRM):
        sub = rows_of_kind(df, kind)
        done = sub[(sub["state"] == "COMPLETE") & sub["config_epochs"].notna()]
        short = done[
            (trial_epochs(done) < done["config_epochs"].astype(float))
            & ~done["diverged"].fillna(False).astype(bool)
        ]
        for (task, family), g in short.groupby(["task", "family"], sort=True):
            out.append(
                f"{task}: {len(g)} COMPLETE {kind} trial(s) of {family} ran fewer epochs "
                f"than configured without diverging (#{', #'.join(map(str, g['number']))})"
                " — a pruned or partial value is being used as a final score."
            )
    return out


def _matching_search_trials(search: pd.DataFrame, confirm: pd.DataFrame) -> list[int]:
    """Search trial numbers a confirmation ran: ``source_trial`` attrs, else equal params."""
    sources = confirm["source_trial"].dropna()
    if len(sources):
        return sorted({int(s) for s in sources})
    param_cols = [c for c in confirm.columns if c.startswith("params_") and confirm[c].notna().any()]
    if not param_cols:
        return []
    first = confirm.iloc[0]
    match = pd.Series(True, index=search.index)
    for col in param_cols:
        if col not in search.columns:
            return []
        target = first[col]
        if isinstance(target, (float, np.floating)):
            match &= np.isclose(search[col].astype(float), float(target), rtol=1e-12, atol=0)
        else:
            match &= search[col] == target
    return sorted(int(n) for n in search.loc[match, "number"])


def _warn_test_selection(df: pd.DataFrame) -> list[str]:
    out = []
    scored = complete_scores(df)
    for (task, family), g in scored.groupby(["task", "family"], sort=True):
        with_val = g.dropna(subset=["val_score"])
        off = ~np.isclose(with_val["value"], with_val["val_score"], rtol=1e-9, atol=1e-12)
        if off.any():
            out.append(
                f"{task}: {int(off.sum())} {family} trial value(s) differ from their "
                "val_accuracy attr — the objective must return validation accuracy."
            )
        with_test = g.dropna(subset=["test_score"])
        as_test = np.isclose(with_test["value"], with_test["test_score"], rtol=1e-9, atol=1e-12)
        if len(with_test) and as_test.mean() > 0.5:
            out.append(
                f"{task}: {int(as_test.sum())} of {len(with_test)} {family} trial values "
                "equal their test_accuracy — the search seems to select on the test set."
            )
    conf = rows_of_kind(df, CONFIRM)
    for (task, family), c in conf.groupby(["task", "family"], sort=True):
        g = scored[(scored["task"] == task) & (scored["family"] == family)]
        if g.empty:
            continue
        sources = _matching_search_trials(g, c)
        best_val = int(best_row(g)["number"])
        if not sources or best_val in sources:
            continue
        ranked_test = g.dropna(subset=["test_score"]).sort_values(
            ["test_score", "number"], ascending=[False, True], kind="stable"
        )
        best_test = int(ranked_test.iloc[0]["number"]) if len(ranked_test) else None
        if best_test in sources:
            out.append(
                f"{task}: the confirmed {family} configuration is search trial "
                f"#{best_test}, the best by TEST accuracy, not #{best_val} (best by "
                "validation accuracy) — test-set selection."
            )
        else:
            by = "objective value" if _is_own(df, task) else "validation accuracy"
            out.append(
                f"{task}: the confirmed {family} configuration (search trial(s) "
                f"#{', #'.join(map(str, sources))}) is not the best by {by} "
                f"(#{best_val})."
            )
    return out


def check_trials(
    df: pd.DataFrame,
    *,
    min_seeds: int = 5,
    min_complete: int = 5,
    edge_frac: float = 0.1,
    budget_tolerance: float = 0.2,
) -> list[str]:
    """Everything that weakens a conclusion, one sentence each, prefixed with the task.

    Unequal budgets across the families of a task (finished trials; epochs off by more than
    ``budget_tolerance``; different or non-i.i.d. samplers; leftover RUNNING trials; many
    divergences); the best trial's peak LR within ``edge_frac`` of either end of its search
    range (position (log lr − log low)/(log high − log low) for a log range, read from the
    trial's distribution); fewer than ``min_complete`` COMPLETE trials; no or fewer than
    ``min_seeds`` confirmation seeds; pruned or partial values used as scores; hints of
    test-set selection (values equal to test accuracy, a confirmed configuration that is not
    the best by validation accuracy). Deterministic order.
    """
    return (
        _warn_budgets(df, budget_tolerance)
        + _warn_complete(df, min_complete)
        + _warn_lr_edge(df, edge_frac)
        + _warn_confirmations(df, min_seeds)
        + _warn_pruned_scores(df)
        + _warn_test_selection(df)
    )
