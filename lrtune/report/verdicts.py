"""Verdicts: the confirmation runs of each task → :func:`lrtune.stats.verdict`, and the report's verdict section.

:func:`verdict_from_confirmations` compares families on the ``test_score`` (the task's test metric) of their
confirmation runs (re-runs of each family's best configuration with fresh seeds, never pruned);
:func:`search_verdict` is the provisional one on COMPLETE search values (users' own studies
before they confirm).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lrtune import stats
from lrtune.report.frame import (
    CONFIRM,
    SEARCH,
    AnalysisError,
    confirm_command,
    metric_label,
    metric_of,
    rows_of_kind,
)
from lrtune.report.tables import budget_table, confirmation_table, markdown_table, score_table

__all__ = ["search_verdict", "verdict_from_confirmations", "verdict_section", "verdicts_by_task"]


def _budget_text(
    df: pd.DataFrame, task: str, samples: dict[str, np.ndarray], metric: str = "test accuracy"
) -> str:
    conf = confirmation_table(df)
    conf = conf[conf["task"] == task].set_index("family")
    seeds = ", ".join(f"{f} {int(conf.loc[f, 'seeds'])}" for f in sorted(samples))
    text = f"confirmation seeds per family: {seeds} ({metric}, unpruned re-runs)"
    budget = budget_table(df)
    budget = budget[budget["task"] == task].set_index("family")
    families = [f for f in sorted(samples) if f in budget.index]
    if families:
        search = ", ".join(
            f"{f} {int(budget.loc[f, 'trials'])} trials / {int(budget.loc[f, 'epochs'])} epochs" for f in families
        )
        text += f"; search budget: {search}"
    return text


def verdict_from_confirmations(
    df: pd.DataFrame,
    *,
    task: str | None = None,
    alpha: float = 0.05,
    min_effect: float = 0.75,
    center: str = "median",
    metric: str | None = None,
) -> stats.Verdict:
    """The verdict for one task from its confirmation runs (``kind == "confirm"``).

    Uses the ``test_score`` of COMPLETE confirmation trials, one sample per family, and
    :func:`lrtune.stats.verdict` (anytime-valid betting evidence on the per-seed differences of
    the seeds families share, in run order; a family wins once every other one is beaten),
    worded with each family's search trials. ``metric`` names the score in the
    text (users' own studies: their objective, oriented so higher is better); default: the task's
    metric (:func:`lrtune.report.frame.metric_label`), read as percentage points only for accuracy.
    ``task`` may be omitted when the frame holds one task. Raises :class:`AnalysisError` when
    there are no confirmation runs, or fewer than two confirmed families.
    """
    conf = rows_of_kind(df, CONFIRM)
    conf = conf[(conf["state"] == "COMPLETE") & np.isfinite(conf["test_score"])]
    tasks = sorted(set(conf["task"]))
    if task is None:
        if len(tasks) > 1:
            raise AnalysisError(f"confirmations cover several tasks ({', '.join(tasks)}); pass task=")
        if not tasks:
            raise AnalysisError(
                "no COMPLETE confirmation runs (kind 'confirm') with a test_score; run the confirmation first"
            )
        task = tasks[0]
    conf = conf[conf["task"] == task]
    if metric is None:
        metric = metric_label(*metric_of(conf))
    samples = {f: g["test_score"].to_numpy() for f, g in conf.groupby("family", sort=True)}
    if len(samples) < 2:
        raise AnalysisError(
            f"{task}: a verdict needs confirmation runs of at least two "
            f"families, but got {sorted(samples) or 'none'}"
        )
    seeds = None
    if conf["seed"].notna().all():  # paired on the seeds families share, in run order
        conf = conf.sort_values(["family", "number"] if "number" in conf.columns else ["family"], kind="stable")
        samples = {f: g["test_score"].to_numpy() for f, g in conf.groupby("family", sort=True)}
        seeds = {f: [int(s) for s in g["seed"]] for f, g in conf.groupby("family", sort=True)}
    budget = budget_table(df)
    budget = budget[budget["task"] == task].set_index("family")
    trials = {f: int(budget.loc[f, "trials"]) for f in samples if f in budget.index} or None
    accuracy = metric.endswith("accuracy")  # accuracies read as percentage points; a user's metric as is
    return stats.verdict(
        samples,
        seeds=seeds,
        alpha=alpha,
        min_effect=min_effect,
        center=center,
        metric=metric,
        budget=_budget_text(df, task, samples, metric),
        trials=trials,
        unit_scale=100.0 if accuracy else 1.0,
        unit="points" if accuracy else "",
    )


def verdicts_by_task(df: pd.DataFrame, **kwargs: Any) -> dict[str, stats.Verdict | None]:
    """{task: Verdict, or None when the task lacks confirmations of two families}, sorted."""
    out: dict[str, stats.Verdict | None] = {}
    for task in sorted(set(df["task"])):
        try:
            out[task] = verdict_from_confirmations(df, task=task, **kwargs)
        except AnalysisError:
            out[task] = None
    return out


def search_verdict(df: pd.DataFrame, task: str) -> stats.Verdict | None:
    """The provisional verdict on the COMPLETE search trials' values (scores, higher = better) of
    ``task``, labelled as resting on search results only; None with fewer than two families."""
    search = df[
        (df["task"] == task) & (df["kind"] == SEARCH) & (df["state"] == "COMPLETE") & np.isfinite(df["value"])
    ]
    samples = {f: g["value"].to_numpy() for f, g in search.groupby("family", sort=True)}
    if len(samples) < 2:
        return None
    n = ", ".join(f"{f} {len(v)}" for f, v in samples.items())
    return stats.verdict(
        samples,
        metric="search objective value",
        budget=f"COMPLETE search trials per family: {n} (search results only, no fresh seeds)",
    )


# --------------------------------------------------------------------------------------------
# the report's verdict section
# --------------------------------------------------------------------------------------------


def verdict_section(v: stats.Verdict | None, task_df: pd.DataFrame) -> list[str]:
    """The report's "Verdict" lines for one task: the verdict, its budget and rule, the comparison
    table; without a verdict, how to get one and the search leader (not a verdict)."""
    lines = ["### Verdict", ""]
    name, direction = metric_of(task_df)
    points = v is None or v.metric.endswith("accuracy")  # accuracies in percentage points
    if v is None:
        lines += [
            "No verdict: this task lacks confirmation runs of at least two families "
            "(re-train each family's best configuration with fresh seeds: "
            "`python -m lrtune.analyze --confirm auto`).",
            "",
        ]
        scores = score_table(task_df)
        scores = scores[scores["n_complete"] > 0]
        if len(scores) > 1:
            top = scores.sort_values(["best_val", "family"], ascending=[False, True], kind="stable").iloc[0]
            lines += [
                f"Search leader by best {metric_label(name, direction, 'validation')} (not a verdict): "
                f"{top['family']} ({top['best_val']:.4f}).",
                "",
            ]
        return lines
    paired = v.design == "paired"
    effect_name = "median paired difference" if paired else "median difference in run order"
    k = len(v.comparisons) + 1
    lines += [
        f"**{v.text}**",
        "",
        f"Budget: {v.budget}.",
        "",
        f"Rule ({stats.design_text(paired, v.alpha, k)}): every family carries one betting wealth "
        'against "this family is the best", staked seed by seed on the per-seed difference with its '
        "strongest challenger so far (the stake grows with the size of the difference); a family is "
        f"beaten once that wealth reaches 2/α = {v.threshold:g}, and a family wins once every other "
        "one is beaten. **Guarantee: however often this verdict "
        "is recomputed as seeds are added (`--confirm auto`, or `--confirm 5` then 8 then 12), the "
        f"chance that it ever names a family that is not truly better than all the others is ≤ {v.alpha:g}** "
        "(simulated: docs/verdict.md). The claim is about the best configuration each search found, "
        "re-trained on fresh seeds; the expected-maximum curves below are the family-level view.",
        "",
    ]
    if not v.reachable:
        lines += [
            f"With these seeds no outcome could reach the threshold: {k} families need at least "
            f"{v.seeds_needed} {'paired ' if paired else ''}seeds (`{confirm_command(task_df, 'auto')}` "
            "adds seeds until the verdict is decided).",
            "",
        ]
    comp = v.comparisons.copy()
    effect_col = "effect (points)" if points else "effect"
    comp[effect_col] = [
        stats.format_effect(row, unit_scale=100.0 if points else 1.0) for _, row in comp.iterrows()
    ]
    center_cols = [c for c in comp.columns if c.endswith("_leader") and c != "n_leader" and c != "leader"] + [
        c for c in comp.columns if c.endswith("_other") and c != "n_other"
    ]
    table = comp[
        [
            "leader",
            "other",
            "n_pairs",
            *center_cols,
            effect_col,
            "p_superiority",
            "evidence",
            "evidence_against",
            "separated",
        ]
    ]
    table = table.rename(
        columns={
            "p_superiority": "P(leader>other)",
            "n_pairs": "paired seeds",
            "evidence": "evidence other not best",
            "evidence_against": "evidence leader not best",
            "separated": "other beaten",
        }
    )
    lines += [
        f"Effect: {effect_name} of the leader over the other, "
        f"in {'accuracy points' if points else ('−' if direction == 'minimize' else '') + name}, with "
        "its distribution-free interval (coverage achieved in brackets); P(leader>other): the share "
        "of paired seeds on which the leader scored higher; evidence … not best: the largest e-value "
        f'(betting wealth) reached against "this family is the best" (beaten at ≥ {v.threshold:g}).',
        "",
    ]
    lines.append(
        markdown_table(
            table,
            formats={
                "P(leader>other)": ".2f",
                "evidence other not best": ".3g",
                "evidence leader not best": ".3g",
            },
        )
    )
    return lines
