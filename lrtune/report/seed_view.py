"""The seed view: each family's confirmation seeds side by side, as a plotly figure in optuna-dashboard.

A confirmation re-trains each family's best configuration with the same K fresh seeds; the verdict
compares those scores. optuna-dashboard shows them only as separate trials. The seed view puts them
in one figure, stored in every confirmation study of the task
(``optuna_dashboard.save_plotly_graph_object``, id :data:`GRAPH_ID`, replaced on every run) so it
appears on the study's page in the dashboard:

* x: the families (sorted by median score, best first); y: the confirmed score (test accuracy, or
  the task's / user objective's score as the verdict compares it, oriented higher = better);
* one grey line per seed joining its scores across families (the seeds are paired: seed j of
  every family is the same initialisation and batch-order seed), a dot per run;
* per family the median (black diamond) and the distribution-free interval for the median
  ``[x_(c), x_(n−c+1)]`` (the sign-test interval of
  :func:`lrtune.stats.rank_tests.median_difference_interval` against 0), at the coverage the
  number of seeds allows — 95 % needs 6 seeds; with 3 it is [min, max] at 75 %, said in the legend.

Only the confirmation runs of the currently confirmed search trial count (as for the verdict).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import optuna
import pandas as pd

from lrtune.report.frame import CONFIRM, OWN_METRIC, metric_label, metric_of, rows_of_kind
from lrtune.stats.rank_tests import median_difference_interval

__all__ = ["GRAPH_ID", "median_interval", "score_label", "seed_table", "seed_view_figure", "write_seed_views"]

GRAPH_ID = "lrtune-seed-view"
"""The dashboard id of the figure: a new analysis replaces it rather than adding another."""

LEVEL = 0.95


def seed_table(df: pd.DataFrame, task: str) -> pd.DataFrame:
    """One row per family × seed (``family``, ``seed``, ``score``) of the task's COMPLETE
    confirmation runs (the scores the verdict compares: ``test_score`` in the frame)."""
    conf = rows_of_kind(df, CONFIRM)
    conf = conf[(conf["task"] == task) & (conf["state"] == "COMPLETE") & np.isfinite(conf["test_score"])]
    table = conf[["family", "seed", "test_score"]].rename(columns={"test_score": "score"})
    return table.drop_duplicates(["family", "seed"], keep="last").sort_values(["family", "seed"])


def median_interval(scores: Iterable[float], level: float = LEVEL) -> tuple[float, float, float, float]:
    """(median, low, high, coverage) of ``scores``: the distribution-free interval for the median."""
    values = np.asarray(list(scores), dtype=float)
    return median_difference_interval(values, np.zeros_like(values), level=level)


def score_label(df: pd.DataFrame, task: str, metric_name: str | None = None) -> str:
    """What the confirmed scores are: lrtune's ``test accuracy`` (or the task's metric, oriented);
    for a user's own study (metric :data:`~lrtune.report.frame.OWN_METRIC`) ``metric_name`` (the
    confirmation study's metric name) or "objective", marked when minimised (the scores are then
    negated)."""
    metric, direction = metric_of(df[df["task"] == task])
    if metric == OWN_METRIC:  # users' own studies: the score is their objective, oriented
        name = metric_name or "objective"
        return f"−{name} (minimised, shown negated)" if direction == "minimize" else name
    return metric_label(metric, direction, "test")


def seed_view_figure(df: pd.DataFrame, task: str, *, metric_name: str | None = None, title: str | None = None):
    """The plotly figure of one task's confirmation seeds (see the module docstring)."""
    import plotly.graph_objects as go

    table = seed_table(df, task)
    label = score_label(df, task, metric_name)
    summary = {f: median_interval(g["score"]) for f, g in table.groupby("family")}
    families = sorted(summary, key=lambda f: (-summary[f][0], f))
    fig = go.Figure()
    seeds = sorted(table["seed"].unique())
    for j, seed in enumerate(seeds):
        rows = table[table["seed"] == seed].set_index("family")
        xs = [f for f in families if f in rows.index]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=[float(rows.loc[f, "score"]) for f in xs],
                mode="lines+markers",
                name=f"seed {j + 1}",
                legendgroup="seeds",
                line={"color": "rgba(120,120,120,0.55)", "width": 1},
                marker={"size": 7},
                hovertemplate=f"seed {int(seed)}<br>%{{x}}: %{{y:.4g}}<extra></extra>",
            )
        )
    coverages = sorted({round(summary[f][3], 4) for f in families})
    fig.add_trace(
        go.Scatter(
            x=families,
            y=[summary[f][0] for f in families],
            mode="markers",
            name="median, interval (" + "/".join(f"{c:.0%}" for c in coverages) + " coverage, order statistics)",
            marker={"symbol": "diamond", "size": 13, "color": "black"},
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [summary[f][2] - summary[f][0] for f in families],
                "arrayminus": [summary[f][0] - summary[f][1] for f in families],
                "thickness": 2,
                "width": 10,
                "color": "black",
            },
            customdata=[[summary[f][1], summary[f][2], summary[f][3]] for f in families],
            hovertemplate="%{x}: median %{y:.4g}<br>interval [%{customdata[0]:.4g}, "
            "%{customdata[1]:.4g}] (%{customdata[2]:.0%})<extra></extra>",
        )
    )
    n = ", ".join(f"{f} {int((table['family'] == f).sum())}" for f in families)
    fig.update_layout(
        title=title or f"Seed view: {label} per confirmation seed<br><sup>{task} — runs: {n}</sup>",
        xaxis_title="family (best median first)",
        yaxis_title=label,
        template="plotly_white",
        legend={"orientation": "h", "y": -0.2},
        margin={"l": 60, "r": 20, "t": 60, "b": 40},
    )
    return fig


def write_seed_views(storage: optuna.storages.BaseStorage | str, df: pd.DataFrame) -> list[str]:
    """Store each task's seed view in every confirmation study of that task; returns their names.

    Tasks without COMPLETE confirmation runs are skipped. ``df``: :func:`lrtune.report.load_trials`
    or :func:`lrtune.report.load_own_trials`'s frame.
    """
    from optuna_dashboard import save_plotly_graph_object

    written = []
    conf = rows_of_kind(df, CONFIRM)
    for task in sorted(set(conf["task"].dropna())):
        if seed_table(df, task).empty:
            continue
        studies = [
            optuna.load_study(study_name=name, storage=storage)
            for name in sorted(set(conf.loc[conf["task"] == task, "study"]))
        ]
        figure = seed_view_figure(df, task, metric_name=(studies[0].metric_names or [None])[0])
        for study in studies:
            save_plotly_graph_object(study, figure, graph_object_id=GRAPH_ID)
            written.append(study.study_name)
    return written
