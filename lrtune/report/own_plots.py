"""The plots of users' own studies: the objective as stored (lower or higher is better, as the
study says), one PNG per comparison, each drawn in :func:`lrtune.report.plots.figure`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lrtune.core.schedules import Schedule
from lrtune.report.frame import CONFIRM, best_row, complete_scores, rows_of_kind
from lrtune.report.own_studies import OwnStudy, params_of
from lrtune.report.plots import LEGEND, family_colors, figure, strip_plot
from lrtune.report.tables import best_so_far, expected_max_curves

__all__ = ["LR_CURVE_STEPS", "plot_best_so_far", "plot_confirmations", "plot_expected_best", "plot_lr_curves"]

LR_CURVE_STEPS = 1000
"""Steps of the rebuilt LR curves; schedules are defined on progress, so the x axis is the
fraction of training (the study does not store how many steps the user trained)."""


def _better(own: OwnStudy) -> str:
    return "lower" if own.sign < 0 else "higher"


def plot_expected_best(task_df: pd.DataFrame, own: OwnStudy, path: Path) -> Path | None:
    """Expected best objective after n trials per family (solid: with replacement, dotted:
    without); None without COMPLETE search trials."""
    curves = expected_max_curves(task_df)
    if curves.empty:
        return None
    colors = family_colors(task_df["family"].dropna())
    with figure(
        path,
        title=f"Expected best objective after n trials — {own.task}",
        xlabel="trials n",
        ylabel=f"expected best objective ({_better(own)} is better)",
        integer_x=True,
        legend={**LEGEND, "title": "solid: with repl., dotted: without", "title_fontsize": 7},
    ) as ax:
        for family, c in curves.groupby("family", sort=True):
            ax.plot(c["n"], own.sign * c["emax"], color=colors[family], label=f"{family} (N={len(c)})")
            ax.plot(c["n"], own.sign * c["emax_wor"], color=colors[family], linestyle=":", linewidth=1)
    return path


def plot_best_so_far(task_df: pd.DataFrame, own: OwnStudy, path: Path) -> Path | None:
    """Best objective so far against trials run (pruned included); None without finished trials."""
    bsf = best_so_far(task_df)
    if bsf.empty:
        return None
    colors = family_colors(task_df["family"].dropna())
    with figure(
        path,
        title=f"Best-so-far objective vs trials — {own.task}",
        xlabel="trials run (pruned included)",
        ylabel="best objective so far",
        integer_x=True,
    ) as ax:
        for family, c in bsf.groupby("family", sort=True):
            ax.step(c["trials_run"], own.sign * c["best_val"], where="post", color=colors[family], label=family)
    return path


def plot_lr_curves(task_df: pd.DataFrame, own: OwnStudy, path: Path) -> Path | None:
    """Each family's best schedule rebuilt from its params, against the fraction of training."""
    scored = complete_scores(task_df)
    if scored.empty:
        return None
    colors = family_colors(task_df["family"].dropna())
    x = np.arange(LR_CURVE_STEPS) / LR_CURVE_STEPS
    with figure(
        path,
        title=f"Best LR schedule of each family, rebuilt from its params — {own.task}",
        xlabel="fraction of training (schedules are defined on progress)",
        ylabel="learning rate",
    ) as ax:
        for family, g in scored.groupby("family", sort=True):
            best = best_row(g)
            try:
                schedule = Schedule.from_params(params_of(best), family=family, prefix=own.space.prefix)
            except (ValueError, KeyError, TypeError):
                continue
            ax.plot(
                x,
                schedule.curve(LR_CURVE_STEPS),
                color=colors[family],
                label=f"{family} (#{best['number']}, {best['objective']:.4g})",
            )
        ax.set_yscale("log")
    return path


def plot_confirmations(task_df: pd.DataFrame, own: OwnStudy, path: Path) -> Path | None:
    """Strip plot of the confirmation runs' objective per family (median as a bar)."""
    conf = rows_of_kind(task_df, CONFIRM)
    conf = conf[(conf["state"] == "COMPLETE") & np.isfinite(conf["objective"])]
    if conf.empty:
        return None
    samples = {f: g["objective"].to_numpy() for f, g in conf.groupby("family", sort=True)}
    with figure(
        path,
        title=f"Confirmation runs (fresh seeds) — {own.task}",
        xlabel="family (bar: median)",
        ylabel=f"objective ({_better(own)} is better)",
        grid_axis="y",
        legend=None,
    ) as ax:
        strip_plot(ax, samples, family_colors(task_df["family"].dropna()))
    return path
