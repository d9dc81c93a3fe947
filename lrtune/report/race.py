"""The race behind a verdict: per family the seeds it ran, when and by whom it was beaten, the
evidence; the runs spent against a fixed design; a plot of the evidence over the seeds.

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
from lrtune.report.frame import CONFIRM, rows_of_kind
from lrtune.report.plots import family_colors, figure, slug
from lrtune.report.tables import markdown_table

__all__ = ["plot_race", "race_note_lines", "race_section", "race_table", "runs_text"]


def race_table(v: stats.Verdict) -> pd.DataFrame:
    """One row per family: seeds run, beaten at which seed (of the run order) and by whom, the
    strongest evidence against it (an e-value; beaten at ≥ K/α)."""
    race = v.race
    if race.empty:
        return race
    out = pd.DataFrame(
        {
            "family": race["family"],
            "seeds run": race["runs"],
            "beaten at seed": ["—" if pd.isna(a) else str(int(a)) for a in race["beaten_at"]],
            "beaten by": race["beaten_by"],
            "evidence against": race["evidence_against"],
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


def _evidence_paths(task_df: pd.DataFrame, v: stats.Verdict) -> dict[str, np.ndarray]:
    """{other: log10 E_{leader>other} after each shared seed} from the stored confirmation runs."""
    conf = rows_of_kind(task_df, CONFIRM)
    conf = conf[(conf["state"] == "COMPLETE") & np.isfinite(conf["test_score"]) & conf["seed"].notna()]
    groups = {f: g for f, g in conf.groupby("family", sort=True)}
    leader = v.leading_group[0]
    if leader not in groups:
        return {}
    lead = dict(zip(groups[leader]["seed"].astype(int), groups[leader]["test_score"]))
    out = {}
    for other, g in groups.items():
        if other == leader:
            continue
        pairs = [(lead[s], b) for s, b in zip(g["seed"].astype(int), g["test_score"]) if s in lead]
        if pairs:
            d = np.array([a - b for a, b in pairs])
            out[other] = stats.log_evidence(d) / math.log(10)
    return out


def plot_race(task: str, task_df: pd.DataFrame, v: stats.Verdict, out_dir: str | Path) -> Path | None:
    """PNG: log10 of the leader's evidence against each family over the seeds they share, with
    the threshold K/α as a line; None without paired confirmation runs."""
    paths = _evidence_paths(task_df, v)
    if not paths:
        return None
    colors = family_colors(task_df["family"].dropna())
    path = Path(out_dir) / f"race_{slug(task)}.png"
    leader = v.leading_group[0]
    with figure(
        path,
        title=f"Evidence that {leader} beats each family (beaten at e ≥ {v.threshold:g}) — {task}",
        xlabel="paired seeds (run order)",
        ylabel=f"log10 evidence {leader} > family",
        integer_x=True,
    ) as ax:
        for other, y in sorted(paths.items()):
            ax.plot(np.arange(1, y.size + 1), y, marker="o", color=colors.get(other), label=other)
        ax.axhline(math.log10(v.threshold), color="black", linestyle="--", linewidth=1, label="threshold K/α")
    return path


def race_section(task: str, task_df: pd.DataFrame, v: stats.Verdict | None, out_dir: str | Path) -> list[str]:
    """The report's "Race" lines for one task (empty without a verdict)."""
    if v is None or v.race.empty:
        return []
    lines = [
        "### The race",
        "",
        f"Runs: {runs_text(v)}. A family stops receiving seeds under `--confirm auto` once the leader, or "
        "every family nobody has beaten, has beaten it.",
        "",
        markdown_table(race_table(v), formats={"evidence against": ".3g"}),
        "",
    ]
    path = plot_race(task, task_df, v, out_dir)
    if path is not None:
        lines += [f"![The race: evidence over seeds]({path.relative_to(Path(out_dir)).as_posix()})", ""]
    return lines


def race_note_lines(v: stats.Verdict) -> list[str]:
    """A few lines for a study's dashboard note: who ran how many seeds, who beat whom, the runs."""
    if v.race.empty:
        return []
    table = race_table(v)
    parts = []
    for _, row in table.iterrows():
        if row["outcome"] == "beaten":
            parts.append(
                f"{row['family']} {row['seeds run']} seeds, beaten by {row['beaten by']} at seed {row['beaten at seed']}"
            )
        else:
            parts.append(f"{row['family']} {row['seeds run']} seeds ({row['outcome']})")
    return ["Race: " + "; ".join(parts) + ".", f"{runs_text(v)}."]
