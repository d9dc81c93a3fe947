"""The horizon check: does the winner at the tuning horizon hold when training runs M× longer?

People tune short and train long; schedules that need the horizon (cosine, one-cycle) may rank
differently at M× the epochs than ones that don't (constant, WSD, schedule-free).
``python -m lrtune.analyze --confirm K --horizon M`` re-trains each family's best configuration
(found at the tuning epochs E) for M·E epochs with the K confirmation seeds
(:func:`lrtune.tuning.confirmations.run_confirmations` with ``horizon=M``; studies ``"<search>:confirm@xM"``,
``lrtune_kind = "horizon"``, column ``horizon`` = M in :func:`lrtune.report.load_trials`).
This module (report layer: reads the frame, never trains) turns those runs into

* the verdict at M× (:func:`horizon_verdicts`: the same rule as the tuning-horizon verdict,
  :func:`lrtune.report.verdict_from_confirmations`, on the M× runs),
* a table and a plot of each family's confirmed test accuracy against epochs (1×, M×, ...),
* a sentence that says plainly whether the winner (or, when inconclusive, the leader) changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lrtune import stats
from lrtune.report.frame import CONFIRM, SEARCH, rows_of_kind
from lrtune.report.plots import family_colors, figure, slug
from lrtune.report.tables import confirmation_table, markdown_table
from lrtune.report.verdicts import verdicts_by_task
from lrtune.tuning import keys

__all__ = [
    "HORIZON_KIND",
    "accuracy_by_horizon",
    "change_sentence",
    "horizon_frame",
    "horizon_verdicts",
    "horizons",
    "plot_horizons",
    "report_lines",
]

HORIZON_KIND = keys.KIND_HORIZON
"""``lrtune_kind`` of the M× confirmation studies."""


def horizons(df: pd.DataFrame) -> list[int]:
    """The multiples M ≥ 2 with stored horizon runs, ascending."""
    rows = df[df["kind"] == HORIZON_KIND]
    return sorted({int(h) for h in rows["horizon"].dropna()})


def horizon_frame(df: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """The search rows plus the M× runs relabelled as confirmations (``horizon=1``: the frame's own).

    Every confirmation function of :mod:`lrtune.report` then reads the M× runs.
    """
    if horizon == 1:
        return df[df["kind"] != HORIZON_KIND]
    runs = df[(df["kind"] == HORIZON_KIND) & (df["horizon"] == horizon)].copy()
    runs["kind"] = CONFIRM
    return pd.concat([df[df["kind"] == SEARCH], runs], ignore_index=True)


def horizon_verdicts(df: pd.DataFrame, horizon: int, **kwargs: Any) -> dict[str, stats.Verdict | None]:
    """{task: the verdict from the M× runs, or None without M× runs of two families}."""
    return verdicts_by_task(horizon_frame(df, horizon), **kwargs)


def accuracy_by_horizon(df: pd.DataFrame) -> pd.DataFrame:
    """Per task, family and horizon (1 and every stored M): epochs, runs, test-accuracy stats."""
    parts = []
    for h in [1, *horizons(df)]:
        table = confirmation_table(horizon_frame(df, h))
        if table.empty:
            continue
        epochs = df.groupby("task")["config_epochs"].first()
        table.insert(2, "horizon", h)
        table.insert(
            3, "epochs", [int(epochs[t]) * h if pd.notna(epochs.get(t)) else pd.NA for t in table["task"]]
        )
        parts.append(table)
    if not parts:
        return pd.DataFrame(
            columns=[
                "task",
                "family",
                "horizon",
                "epochs",
                "runs",
                "complete",
                "seeds",
                "median_test",
                "mean_test",
                "min_test",
                "max_test",
                "median_val",
            ]
        )
    return (
        pd.concat(parts, ignore_index=True)
        .sort_values(["task", "family", "horizon"], kind="stable")
        .reset_index(drop=True)
    )


def _leader(v: stats.Verdict | None) -> str | None:
    if v is None:
        return None
    group = getattr(v, "leading_group", None) or []
    return v.winner or (group[0] if group else None)


def change_sentence(
    v1: stats.Verdict | None, vm: stats.Verdict | None, *, epochs: int | None, horizon: int
) -> str:
    """One plain sentence: does the winner (or the leader) at E epochs hold at M·E epochs?"""
    at1 = f"{epochs} epochs" if epochs else "the tuning horizon"
    atm = f"{epochs * horizon} epochs" if epochs else f"{horizon}× the tuning horizon"
    if v1 is None or vm is None:
        missing = at1 if v1 is None else atm
        return f"No comparison: there is no verdict at {missing} (confirm at least two families)."
    w1, wm = v1.winner, vm.winner
    if w1 and wm:
        if w1 == wm:
            return f"The winner holds: {w1} wins at {at1} and at {atm}."
        return f"**The winner changes**: {w1} wins at {at1}, {wm} wins at {atm}."
    if w1:
        return (
            f"**{w1}'s win at {at1} does not hold at {atm}**: there the comparison is "
            f"inconclusive (leader {_leader(vm)})."
        )
    if wm:
        return f"Inconclusive at {at1} (leader {_leader(v1)}); at {atm} **{wm} wins**."
    l1, lm = _leader(v1), _leader(vm)
    if l1 == lm:
        return f"Inconclusive at both horizons; {l1} leads at {at1} and at {atm}."
    return f"Inconclusive at both horizons; **the leader changes** from {l1} at {at1} to {lm} at {atm}."


def plot_horizons(df: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """One PNG per task with horizon runs: confirmed test accuracy against training epochs.

    Dots: single runs (seeds); lines join each family's medians across horizons.
    """
    table = accuracy_by_horizon(df)
    paths: list[Path] = []
    if table.empty or not horizons(df):
        return paths
    colors = family_colors(df["family"].dropna())
    rng = np.random.default_rng(0)  # fixed jitter: the same storage draws the same plot
    for task, g in table.groupby("task", sort=True):
        if g["horizon"].nunique() < 2:
            continue
        xs = sorted(int(e) for e in g["epochs"].dropna().unique())
        span = (max(xs) - min(xs)) or 1
        path = Path(out_dir) / f"horizon_{slug(task)}.png"
        with figure(
            path,
            title=f"Confirmed test accuracy against horizon — {task}",
            xlabel="training epochs (tuning horizon and its multiples)",
            ylabel="confirmed test accuracy (line: median)",
            legend={"fontsize": 7, "ncol": 2},
            size=(7.5, 4.8),
        ) as ax:
            for family, f in g.groupby("family", sort=True):
                f = f.sort_values("horizon")
                ax.plot(
                    f["epochs"].astype(float),
                    f["median_test"],
                    color=colors[family],
                    marker="o",
                    linewidth=1.5,
                    label=family,
                )
                for h, epochs in zip(f["horizon"], f["epochs"]):
                    runs = rows_of_kind(horizon_frame(df[df["task"] == task], int(h)), CONFIRM)
                    y = (
                        runs.loc[(runs["family"] == family) & (runs["state"] == "COMPLETE"), "test_score"]
                        .dropna()
                        .to_numpy()
                    )
                    x = float(epochs) + rng.uniform(-0.015, 0.015, size=y.size) * span
                    ax.scatter(x, y, color=colors[family], s=10, alpha=0.45)
            ax.set_xticks(xs)
        paths.append(path)
    return paths


def report_lines(
    task: str, df: pd.DataFrame, verdict_1: stats.Verdict | None, out_dir: Path, figure: Path | None, **kwargs: Any
) -> tuple[list[str], dict[int, stats.Verdict | None]]:
    """The report's "Horizon check" section for ``task`` and its verdict per stored M (empty without)."""
    task_df = df[df["task"] == task]
    multiples = horizons(task_df)
    if not multiples:
        return [], {}
    epochs_col = task_df["config_epochs"].dropna()
    epochs = int(epochs_col.iloc[0]) if len(epochs_col) else None
    lines = [
        "### Horizon check",
        "",
        "Each family's best configuration (tuned at the tuning horizon) re-trained for M× the "
        "epochs with the same confirmation seeds, unpruned; the same verdict rule at each "
        "horizon.",
        "",
    ]
    at1 = f"{epochs} epochs" if epochs else "1×"
    lines.append(f"- At {at1} (tuning horizon): " + (verdict_1.text if verdict_1 else "no verdict"))
    verdicts: dict[int, stats.Verdict | None] = {}
    for m in multiples:
        vm = horizon_verdicts(task_df, m, **kwargs).get(task)
        verdicts[m] = vm
        atm = f"{epochs * m} epochs ({m}×)" if epochs else f"{m}×"
        lines.append(f"- At {atm}: " + (vm.text if vm else "no verdict (no runs of two families)"))
    table = accuracy_by_horizon(task_df)
    for m in multiples:
        missing = sorted(
            set(table.loc[table["horizon"] == 1, "family"]) - set(table.loc[table["horizon"] == m, "family"])
        )
        if missing:
            lines.append(f"- Not re-trained at {m}× (left out of that verdict): {', '.join(missing)}")
    lines.append("")
    for m in multiples:
        lines += [change_sentence(verdict_1, verdicts[m], epochs=epochs, horizon=m), ""]
    if not table.empty:
        lines += [
            markdown_table(
                table[["family", "horizon", "epochs", "seeds", "median_test", "mean_test", "min_test", "max_test"]]
            )
        ]
    if figure is not None:
        lines += [f"![Confirmed test accuracy against horizon]({figure.relative_to(out_dir).as_posix()})", ""]
    return lines, verdicts
