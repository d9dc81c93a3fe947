"""The report of users' own studies: ``report.md``, ``trials.csv``, plots; the ``analyze`` summary.

Tables and plots show the objective as the study stores it and say which way is better; the
verdict is the confirmed one when ``lrtune.confirm`` ran, else a search-only one, labelled so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

from lrtune import stats
from lrtune.core.schedules import Schedule
from lrtune.report import notes, own_plots
from lrtune.report.checks import check_trials
from lrtune.report.document import Report, write_trials_csv
from lrtune.report.frame import CONFIRM, SEARCH, AnalysisError, rows_of_kind
from lrtune.report.own_studies import OwnStudy, load_own_trials, params_of
from lrtune.report.plots import slug
from lrtune.report.tables import budget_table, markdown_table, score_table
from lrtune.report.verdicts import search_verdict, verdict_from_confirmations
from lrtune.tuning.storage import open_storage

__all__ = ["analyze_own", "write_own_report"]


def _confirmed_verdict(df: pd.DataFrame, task: str, direction: str) -> stats.Verdict | None:
    try:
        return verdict_from_confirmations(df, task=task, metric="objective value")
    except AnalysisError:
        return None


def _raw(values: pd.Series | np.ndarray, sign: float) -> Any:
    return values * sign


def _score_section(task_df: pd.DataFrame, group: list[OwnStudy]) -> list[str]:
    own = group[0]
    by_study = {o.name: o for o in group}
    scores = score_table(task_df)
    if scores.empty:
        return []
    best_word = "lowest" if own.direction == "minimize" else "highest"
    out = scores[["family", "n_complete"]].copy()
    for col in (
        "best_val",
        "median_val",
        "emax_1",
        "emax_5",
        "emax_10",
        "emax_N",
        "emax_wor_5",
        "emax_wor_10",
        "emax_wor_N",
    ):
        out[col.replace("_val", "").replace("emax", "exp_best")] = _raw(scores[col], own.sign)
    out["best_trial"] = scores["best_trial"]
    described, own_params = [], []
    scored = task_df[(task_df["kind"] == SEARCH) & (task_df["state"] == "COMPLETE")]
    for row in scores.itertuples(index=False):
        match = scored[(scored["study"] == row.best_study) & (scored["number"] == row.best_trial)]
        params = params_of(match.iloc[0]) if len(match) else {}
        study_own = by_study.get(row.best_study, own)
        described.append(_describe(params, study_own, row.family) if params else "—")
        mine = study_own.space.own_params(params)
        own_params.append(", ".join(f"{k}={_fmt(v)}" for k, v in sorted(mine.items())) or "—")
    out["best schedule"] = described
    out["your parameters"] = own_params
    return [
        "### Search results",
        "",
        f"Objective values of COMPLETE trials ({best_word} is best; pruned trials are never "
        "scores). `exp_best_n`: expected best value after n trials (Dodge et al. 2019, with "
        "replacement; `exp_best_wor_n` without, `_N` = all trials). Curves can cross: a "
        "ranking holds only at its n.",
        "",
        markdown_table(out, formats={"best_lr": ".3g"}),
    ]


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v)


def _describe(params: dict[str, Any], own: OwnStudy, family: str) -> str:
    try:
        return Schedule.from_params(params, family=family, prefix=own.space.prefix).describe()
    except (ValueError, KeyError, TypeError) as exc:
        return f"(cannot rebuild: {exc})"


def _confirm_section(task_df: pd.DataFrame, own: OwnStudy) -> list[str]:
    conf = rows_of_kind(task_df, CONFIRM)
    if conf.empty:
        return []
    rows = []
    for family, g in conf.groupby("family", sort=True):
        done = g[(g["state"] == "COMPLETE") & np.isfinite(g["objective"])]
        v = done["objective"].to_numpy()
        rows.append(
            {
                "family": family,
                "runs": len(g),
                "complete": len(done),
                "seeds": int(done["seed"].dropna().nunique()),
                "source trial": ", ".join(f"#{int(s)}" for s in sorted(done["source_trial"].dropna().unique())),
                "median": float(np.median(v)) if v.size else np.nan,
                "min": float(v.min()) if v.size else np.nan,
                "max": float(v.max()) if v.size else np.nan,
            }
        )
    return [
        "### Confirmation runs",
        "",
        "Each family's best search trial re-run with fresh seeds through your objective "
        "(`lrtune.confirm`), never pruned; values are your objective's.",
        "",
        markdown_table(pd.DataFrame(rows)),
    ]


def _verdict_lines(
    conf_v: stats.Verdict | None, search_v: stats.Verdict | None, direction: str, n_families: int
) -> list[str]:
    if conf_v is not None:
        return [f"**Confirmed verdict: {conf_v.text}**", "", f"Budget: {conf_v.budget}.", ""]
    if search_v is None:
        return [
            f"No verdict: {n_families} family in this comparison; compare at least two "
            "(a joint space, or one study per family named `<name>-<family>`).",
            "",
        ]
    return [
        f"**Search-only verdict (no fresh seeds): {search_v.text}**",
        "",
        f"Budget: {search_v.budget}.",
        "",
        "This rests on search results only: it compares the families' COMPLETE search trials "
        "(how good a family's configurations were as searched), not the best configuration "
        "of each family re-run with fresh seeds. For the confirmed verdict run "
        "`lrtune.confirm(study, objective, seeds=5)` with your objective, then this command "
        "again.",
        "",
    ]


def _own_checks(df: pd.DataFrame) -> list[str]:
    out = []
    for w in check_trials(df):
        if "ran fewer epochs than configured" in w or "val_accuracy attr" in w:
            continue
        w = w.replace("(python -m lrtune.analyze --confirm 5)", "(lrtune.confirm(study, objective, seeds=5))")
        w = w.replace("validation accuracy", "objective value")
        w = w.replace(
            "no confirmation runs, so no verdict",
            "no confirmation runs, so the verdict rests on search results only",
        )
        out.append(w)
    return out


def write_own_report(df: pd.DataFrame, owns: list[OwnStudy], out_dir: str | Path, *, storage_label: str) -> Report:
    """Write report.md, trials.csv and PNGs for the user's studies; verdicts per task.

    ``Report.verdicts`` holds the confirmed verdict of a task, else its search-only verdict
    (its text starts with "search-only"), else None (one family).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    caveats = _own_checks(df)
    verdicts: dict[str, stats.Verdict | None] = {}
    figures: list[Path] = []
    by_task: dict[str, list[OwnStudy]] = {}
    for own in owns:
        by_task.setdefault(own.task, []).append(own)
    lines = [
        "# lrtune report — your own studies",
        "",
        f"Storage: `{storage_label}` — {len(owns)} stud{'y' if len(owns) == 1 else 'ies'} "
        "that used lrtune's search spaces (recognised from their parameter names), "
        f"{len(df)} trials.",
        "",
        "## Verdicts",
        "",
    ]
    sections: list[str] = []
    for task in sorted(by_task):
        group = by_task[task]
        own = group[0]
        task_df = df[df["task"] == task]
        conf_v = _confirmed_verdict(df, task, own.direction)
        search_v = search_verdict(df, task)
        verdict = conf_v or search_v
        if verdict is not None and conf_v is None:
            verdict = _relabel(verdict, "search-only (no fresh seeds): ")
        elif conf_v is not None:
            verdict = _relabel(conf_v, "confirmed: ")
        verdicts[task] = verdict
        lines.append(f"- `{task}`: " + (verdict.text if verdict else "no verdict (one family)"))
        families = sorted(task_df["family"].dropna().unique())
        space = own.space
        sections += [
            f"## `{task}`",
            "",
            f"Studies: {', '.join(f'`{o.name}`' for o in group)}. Direction: the "
            f"studies **{own.direction}** their objective "
            f"({'lower' if own.sign < 0 else 'higher'} is better). Schedule parameters: "
            f"prefix `{space.prefix}`, "
            f"{'a joint space (`' + space.prefix + 'family`)' if space.joint else 'one family per study'}"
            f"; families {', '.join(families)}. Your own parameters (not part of the "
            f"schedule): {', '.join(f'`{p}`' for p in sorted({p for o in group for p in o.own_params})) or 'none'}.",
            "",
            "### Verdict",
            "",
        ]
        sections += _verdict_lines(conf_v, search_v, own.direction, len(families))
        sections += _confirm_section(task_df, own)
        budget = budget_table(task_df)
        if not budget.empty:
            sections += [
                "### Search budget",
                "",
                markdown_table(budget.drop(columns=["task", "seconds"])),
            ]
        sections += _score_section(task_df, group)
        task_slug = slug(task)
        plots = []
        for key, plot, caption in (
            ("confirmations", own_plots.plot_confirmations, "Confirmation runs"),
            ("expected_best", own_plots.plot_expected_best, "Expected best objective after n trials"),
            ("best_so_far", own_plots.plot_best_so_far, "Best-so-far objective vs trials"),
            ("lr_curves", own_plots.plot_lr_curves, "Best LR schedule of each family"),
        ):
            path = plot(task_df, own, out / f"{key}_{task_slug}.png")
            if path is not None:
                figures.append(path)
                plots.append(f"![{caption}]({path.relative_to(out).as_posix()})\n")
        if plots:
            sections += ["### Plots", ""] + plots
    lines.append("")
    lines += sections
    lines += ["## Warnings", ""] + ([f"- {w}" for w in caveats] if caveats else ["None."])
    lines += [
        "",
        "## Files",
        "",
        "- [trials.csv](trials.csv): one row per trial; `objective` is "
        "the value as stored, `value` the score (negated when minimised), NaN unless "
        "COMPLETE.",
        "",
    ]
    csv_path = write_trials_csv(df, out / "trials.csv")
    report_path = out / "report.md"
    report_path.write_text("\n".join(lines), encoding="utf-8")
    return Report(
        path=report_path,
        trials_csv=csv_path,
        figures=sorted(figures),
        verdicts=verdicts,
        warnings=caveats,
        trials=df,
    )


def _relabel(v: stats.Verdict, label: str) -> stats.Verdict:
    return dataclasses.replace(v, text=label + v.text)


def analyze_own(
    storage,
    *,
    url: str,
    studies: Sequence[str] | None,
    prefix: str | None,
    out_dir: Path,
    label: str,
    write_notes: bool,
) -> tuple[Report, list[str]]:
    """``python -m lrtune.analyze`` for users' own studies: report + terminal lines."""
    df, owns = load_own_trials(storage, studies=studies, prefix=prefix)
    report = write_own_report(df, owns, out_dir, storage_label=label)
    if write_notes:
        _write_notes(url, report, owns)
    search = df[df["kind"] == SEARCH]
    states = search["state"].value_counts()
    lines = [
        f"lrtune.analyze: {len(owns)} of your own stud{'y' if len(owns) == 1 else 'ies'} "
        f"({', '.join(o.name for o in owns)}), {search['family'].nunique()} families, "
        f"{len(search)} search trials ({int(states.get('COMPLETE', 0))} complete, "
        f"{int(states.get('PRUNED', 0))} pruned), "
        f"{int((df['kind'] == CONFIRM).sum())} confirmation runs"
    ]
    for task, v in report.verdicts.items():
        direction = next(o.direction for o in owns if o.task == task)
        lines.append(f"  {task} ({direction}s its objective): " + (v.text if v else "no verdict (one family)"))
    lines.extend(report.footer_lines())
    return report, lines


def _write_notes(url: str, report: Report, owns: list[OwnStudy]) -> None:
    storage = open_storage(url, heartbeat=False)
    for own in owns:
        v = report.verdicts.get(own.task)
        text = f"**{v.text}**\n\n{v.budget}" if v else "No verdict (one family)."
        text += f"\n\nFull report: `{report.path}`"
        notes.append_verdict_to_note(optuna.load_study(study_name=own.name, storage=storage), text)
