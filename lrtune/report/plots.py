"""The report's plots: one PNG per task, each drawn inside :func:`figure`.

:func:`figure` is the one skeleton every plot of :mod:`lrtune.report` shares (lrtune's studies,
users' own studies and the horizon check): a fresh 7 × 4.5 in axes, then the axis labels, the
title, a light grid and the legend, saved without a timestamp so the same storage draws the
same file. Colours come from :func:`family_colors` (the same family keeps its colour in every
plot); file names end in :func:`slug` of the task.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lrtune.core.schedules import Schedule
from lrtune.report.frame import (
    CONFIRM,
    best_row,
    complete_scores,
    metric_label,
    metric_of,
    params_of,
    rows_of_kind,
)
from lrtune.report.tables import best_so_far, expected_max_curves

__all__ = [
    "LEGEND",
    "LR_CURVE_STEPS",
    "family_colors",
    "figure",
    "plot_best_so_far",
    "plot_confirmations",
    "plot_expected_max",
    "plot_learning_curves",
    "plot_lr_curves",
    "score_labels",
    "slug",
    "strip_plot",
]

#: The legend every plot gets unless it asks for another (``figure(..., legend=...)``).
LEGEND: Mapping[str, Any] = {"fontsize": 8}

LR_CURVE_STEPS = 1000
"""Steps of an LR curve rebuilt from a trial's parameters (users' own studies store no curve;
schedules are defined on progress, so its x axis is the fraction of training)."""


def slug(text: str) -> str:
    """``text`` as a file-name part: runs of other characters than ``A-Za-z0-9._`` become ``-``."""
    return re.sub(r"[^A-Za-z0-9._]+", "-", text).strip("-") or "task"


def family_colors(families: Iterable[str]) -> dict[str, Any]:
    """{family: colour}: the sorted distinct families along tab10 (tab20 above ten)."""
    from matplotlib import colormaps  # matplotlib only when a plot is drawn

    names = sorted(set(families))
    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {f: cmap(i % cmap.N) for i, f in enumerate(names)}


@contextmanager
def figure(
    path: Path,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    integer_x: bool = False,
    grid_axis: str = "both",
    legend: Mapping[str, Any] | None = LEGEND,
    size: tuple[float, float] = (7.0, 4.5),
) -> Iterator[Any]:
    """Yield the axes of a new figure; when the block ends, label it and save it as PNG at ``path``.

    After the caller drew the data: x and y labels (integer x ticks with ``integer_x``), the
    title (font size 10), a grid (alpha 0.3, on ``grid_axis``), the legend with ``legend``'s
    keyword arguments (None: no legend); then a tight layout, saved at 100 dpi without the
    "Software" metadata (byte-identical for the same data).
    """
    from matplotlib.figure import Figure  # matplotlib only when a plot is drawn
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=size, dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    yield ax
    ax.set_xlabel(xlabel)
    if integer_x:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, axis=grid_axis)
    if legend is not None:
        ax.legend(**legend)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})


def score_labels(df: pd.DataFrame, task: str) -> tuple[str, str]:
    """How a task's validation and test scores are labelled: ``validation accuracy``/``test
    accuracy``, or its own metric, oriented (e.g. ``test loss (minimised, compared as −loss)``)."""
    metric, direction = metric_of(df[df["task"] == task])
    return metric_label(metric, direction, "validation"), metric_label(metric, direction, "test")


def plot_expected_max(df: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """One PNG per task: expected max validation score after n trials, one line per family.

    Solid: with replacement (Dodge et al.); dotted: without replacement (ends at the best).
    """
    curves = expected_max_curves(df)
    colors = family_colors(df["family"].dropna())
    paths = []
    for task, g in curves.groupby("task", sort=True):
        path = Path(out_dir) / f"expected_max_{slug(task)}.png"
        with figure(
            path,
            title=f"Expected max {score_labels(df, task)[0]} after n trials — {task}",
            xlabel="trials n",
            ylabel=f"expected max {score_labels(df, task)[0]}",
            integer_x=True,
            legend={**LEGEND, "title": "solid: with repl., dotted: without", "title_fontsize": 7},
        ) as ax:
            for family, c in g.groupby("family", sort=True):
                ax.plot(c["n"], c["emax"], color=colors[family], label=f"{family} (N={len(c)})")
                ax.plot(c["n"], c["emax_wor"], color=colors[family], linestyle=":", linewidth=1)
        paths.append(path)
    return paths


def plot_best_so_far(df: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """One PNG per task: best validation score so far against cumulative epochs spent.

    Against trials run instead when no finished trial tells its epochs (a user's own study
    whose objective reported nothing).
    """
    bsf = best_so_far(df)
    colors = family_colors(df["family"].dropna())
    paths = []
    for task, g in bsf.groupby("task", sort=True):
        by_epochs = bool((g["epochs"] > 0).any())
        x, xlabel = ("epochs_spent", "epochs spent") if by_epochs else ("trials_run", "trials run")
        path = Path(out_dir) / f"best_so_far_{slug(task)}.png"
        with figure(
            path,
            title=f"Best-so-far {score_labels(df, task)[0]} vs {xlabel} — {task}",
            xlabel=f"{xlabel} (all trials, pruned included)",
            ylabel=f"best {score_labels(df, task)[0]} so far",
            integer_x=not by_epochs,
        ) as ax:
            for family, c in g.groupby("family", sort=True):
                ax.step(c[x], c["best_val"], where="post", color=colors[family], label=family)
        paths.append(path)
    return paths


def _rebuilt_curve(best: pd.Series) -> list[float] | None:
    """The LR curve of a row's schedule rebuilt from its params (prefix: its LR parameter's)."""
    lr_param = best["lr_param"]
    if not isinstance(lr_param, str) or not lr_param.endswith("lr"):
        return None
    try:
        schedule = Schedule.from_params(params_of(best), family=best["family"], prefix=lr_param[: -len("lr")])
    except (ValueError, KeyError, TypeError):
        return None
    return list(schedule.curve(LR_CURVE_STEPS))


def plot_lr_curves(df: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """One PNG per task: the LR curve of each family's best trial.

    The realised curve (user attr ``lr_curve``, against optimizer steps) where trials stored
    one; else (users' own studies) the schedule rebuilt from the best trial's params against
    the fraction of training.
    """
    scored = complete_scores(df)
    colors = family_colors(df["family"].dropna())
    paths = []
    for task, g in scored.groupby("task", sort=True):
        bests = [(family, best_row(f)) for family, f in g.groupby("family", sort=True)]
        stored = [(f, b) for f, b in bests if isinstance(b["lr_curve"], (list, tuple)) and b["lr_curve"]]
        if stored:
            curves = [(f, b, list(b["lr_curve"]), b["lr_curve_steps"]) for f, b in stored]
            title = f"LR schedule of each family's best trial — {task}"
            xlabel = "optimizer step"
        else:
            rebuilt = [(f, b, _rebuilt_curve(b)) for f, b in bests]
            fraction = list(np.arange(LR_CURVE_STEPS) / LR_CURVE_STEPS)
            curves = [(f, b, c, fraction) for f, b, c in rebuilt if c]
            title = f"Best LR schedule of each family, rebuilt from its params — {task}"
            xlabel = "fraction of training (schedules are defined on progress)"
        if not curves:
            continue
        path = Path(out_dir) / f"lr_curves_{slug(task)}.png"
        with figure(path, title=title, xlabel=xlabel, ylabel="learning rate") as ax:
            for family, best, curve, steps in curves:
                x = steps if isinstance(steps, (list, tuple)) and len(steps) == len(curve) else range(len(curve))
                ax.plot(
                    list(x),
                    curve,
                    color=colors[family],
                    label=f"{family} (#{best['number']}, val {best['value']:.3f})",
                )
            peaks = [max(curve) for _, _, curve, _ in curves]
            if max(peaks) > 10 * min(peaks):  # e.g. schedule-free SGD's ~10x LR: a linear axis hides the rest
                ax.set_yscale("log")
        paths.append(path)
    return paths


def plot_learning_curves(df: pd.DataFrame, out_dir: str | Path, *, top: int = 3) -> list[Path]:
    """One PNG per task: validation score per epoch of each family's ``top`` best trials.

    The best trial of a family is drawn solid, the runners-up thin and faded.
    """
    scored = complete_scores(df)
    colors = family_colors(df["family"].dropna())
    paths = []
    for task, g in scored.groupby("task", sort=True):
        if not any(g["intermediate_values"]):  # a user's objective that reported nothing
            continue
        path = Path(out_dir) / f"learning_curves_{slug(task)}.png"
        with figure(
            path,
            title=f"Learning curves of the top {top} trials per family — {task}",
            xlabel="epoch",
            ylabel=score_labels(df, task)[0],
            integer_x=True,
        ) as ax:
            for family, f in g.groupby("family", sort=True):
                ranked = f.sort_values(
                    ["value", "study", "number"], ascending=[False, True, True], kind="stable"
                ).head(top)
                for rank, row in enumerate(ranked.itertuples(index=False)):
                    curve = row.intermediate_values or {}
                    if not curve:
                        continue
                    epochs, values = zip(*sorted(curve.items()))
                    ax.plot(
                        epochs,
                        values,
                        color=colors[family],
                        linewidth=2 if rank == 0 else 0.8,
                        alpha=1.0 if rank == 0 else 0.45,
                        label=family if rank == 0 else None,
                    )
        paths.append(path)
    return paths


def strip_plot(ax: Any, samples: Mapping[str, np.ndarray], colors: Mapping[str, Any]) -> None:
    """Each family's values as jittered dots at x = its position (sorted), its median as a bar.

    The jitter is seeded (0): the same values draw the same plot.
    """
    families = sorted(samples)
    rng = np.random.default_rng(0)
    for i, family in enumerate(families):
        y = samples[family]
        x = i + rng.uniform(-0.12, 0.12, size=y.size)
        ax.scatter(x, y, color=colors[family], s=28, alpha=0.85, zorder=3)
        ax.hlines(np.median(y), i - 0.3, i + 0.3, color="black", linewidth=1.5, zorder=4)
    ax.set_xticks(range(len(families)), families)
    ax.set_xlim(-0.6, len(families) - 0.4)


def plot_confirmations(df: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """One PNG per task: strip plot of the confirmed test scores per family (median as a bar)."""
    conf = rows_of_kind(df, CONFIRM)
    conf = conf[(conf["state"] == "COMPLETE") & np.isfinite(conf["test_score"])]
    colors = family_colors(df["family"].dropna())
    paths = []
    for task, g in conf.groupby("task", sort=True):
        samples = {f: s["test_score"].to_numpy() for f, s in g.groupby("family", sort=True)}
        n = ", ".join(str(len(samples[f])) for f in sorted(samples))
        path = Path(out_dir) / f"confirmations_{slug(task)}.png"
        with figure(
            path,
            title=f"Confirmed {score_labels(df, task)[1]} per family (runs: {n}) — {task}",
            xlabel="family (bar: median)",
            ylabel=score_labels(df, task)[1],
            grid_axis="y",
            legend=None,
        ) as ax:
            strip_plot(ax, samples, colors)
        paths.append(path)
    return paths
