"""The race behind a verdict: per family the seeds it ran, when it was beaten and on which
comparison, the evidence that it is not the best; the runs spent against a fixed design; a plot
of that evidence over the seeds.

All of it is recomputed from the stored confirmation runs with :mod:`lrtune.stats` (the same
rule as the verdict), so it reads the same whether the runs came from ``--confirm auto`` (beaten
families stopped receiving seeds) or from a fixed ``--confirm K``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from lrtune import stats
from lrtune.report.plots import family_colors, figure, slug
from lrtune.report.tables import markdown_table

__all__ = ["plot_race", "race_note_lines", "race_section", "race_table", "runs_text"]


def race_table(v: stats.Verdict) -> pd.DataFrame:
    """One row per family: seeds run, beaten at which seed (of the run order) and on which
    comparison (the challenger its wealth M_b bet on at that seed), the evidence that it is not
    the best (the largest M_b, an e-value; beaten at ≥ 2/α)."""
    race = v.race
    if race.empty:
        return race
    out = pd.DataFrame(
        {
            "family": race["family"],
            "seeds run": race["runs"],
            "beaten at seed": ["—" if pd.isna(a) else str(int(a)) for a in race["beaten_at"]],
            "beaten on the comparison with": race["beaten_by"],
            "evidence not best": race["evidence_against"],
            "outcome": [
                "winner" if won else ("beaten" if isinstance(by, str) else "still racing")
                for won, by in zip(race["won"], race["beaten_by"])
            ],
        }
    )
    return out.sort_values(["seeds run", "family"], ascending=[False, True], kind="stable").reset_index(drop=True)


def runs_text(v: stats.Verdict) -> str:
    """ "58 runs; a fixed design with every family at 16 seeds: 64" (the race's saving)."""
    if v.race.empty:
        return ""
    runs = int(v.race["runs"].sum())
    longest = int(v.race["runs"].max())
    return f"{runs} confirmation runs; every family at {longest} seeds (a fixed design) would be {len(v.race) * longest}"


def _evidence_paths(v: stats.Verdict) -> dict[str, np.ndarray]:
    """{family: log10 M_b after each seed it ran (run order)} from the verdict's replay."""
    paths = v.evidence_paths
    if paths.empty or v.design != "paired":
        return {}
    runs = dict(zip(v.race["family"], v.race["runs"]))
    return {f: paths[f].to_numpy()[: int(runs.get(f, 0))] for f in paths.columns if runs.get(f, 0)}


def plot_race(task: str, task_df: pd.DataFrame, v: stats.Verdict, out_dir: str | Path) -> Path | None:
    """PNG: log10 of each family's evidence that it is not the best (its wealth M_b) over the
    seeds of the run order, with the threshold 2/α as a line; None without paired confirmation
    runs."""
    paths = _evidence_paths(v)
    if not paths:
        return None
    colors = family_colors(task_df["family"].dropna())
    path = Path(out_dir) / f"race_{slug(task)}.png"
    leader = v.leading_group[0]
    with figure(
        path,
        title=f"Evidence that a family is not the best (beaten at e ≥ {v.threshold:g}; leader {leader}) — {task}",
        xlabel="paired seeds (run order)",
        ylabel="log10 evidence family is not the best",
        integer_x=True,
    ) as ax:
        for other, y in sorted(paths.items()):
            ax.plot(np.arange(1, y.size + 1), y, marker="o", color=colors.get(other), label=other)
        ax.axhline(math.log10(v.threshold), color="black", linestyle="--", linewidth=1, label="threshold 2/α")
    return path


def race_section(task: str, task_df: pd.DataFrame, v: stats.Verdict | None, out_dir: str | Path) -> list[str]:
    """The report's "Race" lines for one task (empty without a verdict)."""
    if v is None or v.race.empty:
        return []
    lines = [
        "### The race",
        "",
        f'Runs: {runs_text(v)}. Each family carries one betting wealth against "it is the best", staked '
        "seed by seed on its strongest challenger so far; it is beaten, and stops receiving seeds under "
        f"`--confirm auto`, once that wealth reaches 2/α = {v.threshold:g}.",
        "",
        markdown_table(race_table(v), formats={"evidence not best": ".3g"}),
        "",
    ]
    path = plot_race(task, task_df, v, out_dir)
    if path is not None:
        lines += [f"![The race: evidence over seeds]({path.relative_to(Path(out_dir)).as_posix()})", ""]
    return lines


def race_note_lines(v: stats.Verdict) -> list[str]:
    """A few lines for a study's dashboard note: who ran how many seeds, who was beaten when and on
    which comparison, the runs."""
    if v.race.empty:
        return []
    table = race_table(v)
    parts = []
    for _, row in table.iterrows():
        if row["outcome"] == "beaten":
            parts.append(
                f"{row['family']} {row['seeds run']} seeds, beaten at seed {row['beaten at seed']} "
                f"(against {row['beaten on the comparison with']})"
            )
        else:
            parts.append(f"{row['family']} {row['seeds run']} seeds ({row['outcome']})")
    return ["Race: " + "; ".join(parts) + ".", f"{runs_text(v)}."]
