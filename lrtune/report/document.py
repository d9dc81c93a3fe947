"""The report as a document: ``report.md`` (markdown), ``trials.csv`` and the plots.

:func:`write_report` writes ``report.md`` (deterministic: the same storage gives a
byte-identical file), ``trials.csv`` (:func:`write_trials_csv`) and PNG plots, and returns a
:class:`Report` of what it wrote and concluded. One document for lrtune's studies and for users'
own (:func:`lrtune.report.own_studies.load_own_trials` loads those into the same frame; pass
the recognised studies as ``own``): the same tables, plots, checks and verdict section. What a
user's study adds: which studies, direction, prefix and own parameters form a task; each
family's best schedule and own parameters beside the scores; and before ``lrtune.confirm`` ran,
a verdict on the search trials labelled as resting on search results only.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import pandas as pd

from lrtune import stats
from lrtune.report import horizon
from lrtune.report.checks import check_trials
from lrtune.report.frame import CONFIRM, OWN_METRIC, SEARCH, load_trials, metric_label, metric_of
from lrtune.report.own_studies import OwnStudy, best_schedules, own_tasks
from lrtune.report.plots import (
    plot_best_so_far,
    plot_confirmations,
    plot_expected_max,
    plot_learning_curves,
    plot_lr_curves,
    slug,
)
from lrtune.report.race import race_section
from lrtune.report.tables import budget_table, confirmation_table, markdown_table, score_table
from lrtune.report.verdicts import search_verdict, verdict_section, verdicts_by_task
from lrtune.tuning.storage import display_url

__all__ = ["SEARCH_ONLY", "Report", "write_own_report", "write_report", "write_trials_csv"]

SEARCH_ONLY = "search-only (no fresh seeds): "
"""How the verdict of a user's task that has no confirmation runs yet begins."""


@dataclass
class Report:
    """What :func:`write_report` wrote and concluded."""

    path: Path
    trials_csv: Path
    figures: list[Path]
    verdicts: dict[str, stats.Verdict | None]
    warnings: list[str]
    trials: pd.DataFrame = field(repr=False)
    horizon_verdicts: dict[int, dict[str, stats.Verdict | None]] = field(default_factory=dict)
    """{M: {task: verdict from the M× runs}} for every horizon check in the storage."""
    own_tasks: frozenset[str] = frozenset()
    """The tasks that are users' own studies (their verdict may be search-only; none means
    one family)."""

    def footer_lines(self) -> list[str]:
        """The terminal summary's last lines: how many warnings (and the first), where the report is."""
        lines = []
        if self.warnings:
            lines.append(f"{len(self.warnings)} warning(s), see the report; first: {self.warnings[0]}")
        lines.append(f"report: {self.path}")
        return lines


def _storage_label(storage: str | optuna.storages.BaseStorage) -> str:
    return display_url(storage) if isinstance(storage, str) else type(storage).__name__


_SCORE_COLS = ["family", "n_complete", "best_val", "median_val", "best_trial", "best_lr", "test_of_best"]


_EMAX_COLS = [
    "family",
    "n_complete",
    "emax_1",
    "emax_5",
    "emax_10",
    "emax_N",
    "emax_wor_5",
    "emax_wor_10",
    "emax_wor_N",
]


_BUDGET_COLS = ["family", "trials", "complete", "pruned", "failed", "running", "diverged", "epochs", "seconds"]


def _own_lines(group: Sequence[OwnStudy], task_df: pd.DataFrame) -> list[str]:
    """A user's task: its studies, direction, schedule prefix and space, the user's own parameters."""
    own, space = group[0], group[0].space
    families = ", ".join(sorted(task_df["family"].dropna().unique()))
    mine = sorted({p for o in group for p in o.own_params})
    kind = f"a joint space (`{space.prefix}family`)" if space.joint else "one family per study"
    return [
        f"Your own studies: {', '.join(f'`{o.name}`' for o in group)}, which **{own.direction}** "
        f"their objective; schedule parameters: prefix `{space.prefix}`, {kind}; families "
        f"{families}. Your own parameters (not part of the schedule): "
        f"{', '.join(f'`{p}`' for p in mine) or 'none'}.",
        "",
    ]


def _search_only_lines(v: stats.Verdict | None, n_families: int) -> list[str]:
    """A user's task without confirmation runs: the search-only verdict, or why there is none."""
    if v is None:
        return [
            "### Verdict",
            "",
            f"No verdict: {n_families} family in this comparison; compare at least two "
            "(a joint space, or one study per family named `<name>-<family>`).",
            "",
        ]
    return [
        "### Verdict",
        "",
        f"**{v.text}**",
        "",
        f"Budget: {v.budget}.",
        "",
        "This rests on search results only: it compares the families' COMPLETE search trials "
        "(how good a family's configurations were as searched), not the best configuration "
        "of each family re-run with fresh seeds. For the confirmed verdict run "
        "`lrtune.confirm(study, objective, seeds=5)` with your objective, then this command "
        "again.",
        "",
    ]


def _task_section(
    task: str,
    df: pd.DataFrame,
    v: stats.Verdict | None,
    figures: dict[str, dict[str, Path]],
    out_dir: Path,
    own: Sequence[OwnStudy] = (),
    search_only: bool = False,
) -> list[str]:
    task_df = df[df["task"] == task]
    lines = [f"## Task `{task}`", ""]
    name, direction = metric_of(task_df)
    metric_line = f"Metric: {name}, {direction}d"
    if direction == "minimize":
        metric_line += f"; scores below are −{name} (oriented: higher is better)"
    elif name not in ("accuracy", OWN_METRIC):
        metric_line += f"; `val_score`/`test_score` hold the {name}"
    lines += [metric_line + ".", ""]
    if own:
        lines += _own_lines(own, task_df)
    if own and (search_only or v is None):
        lines += _search_only_lines(v, task_df["family"].nunique())
    else:
        lines += verdict_section(v, task_df)
        lines += race_section(task, task_df, v, out_dir)
    val_label, test_label = metric_label(name, direction, "validation"), metric_label(name, direction)
    conf = confirmation_table(task_df)
    if own:  # a user's objective has no validation/test split, no seconds lrtune measured
        conf = conf.drop(columns="median_val")
    if not conf.empty:
        lines += [f"Confirmation runs ({test_label}):", "", markdown_table(conf.drop(columns="task"))]
    budget = budget_table(task_df)
    if not budget.empty:
        budget_cols = [c for c in _BUDGET_COLS if not (own and c == "seconds")]
        lines += ["### Search budget", "", markdown_table(budget[budget_cols], formats={"seconds": ".1f"})]
        scores = score_table(task_df)
        score_cols = list(_SCORE_COLS)
        if own:  # what the best trial of each family was, rebuilt from its params
            scores["best schedule"], scores["your parameters"] = best_schedules(scores, task_df, own)
            score_cols = [c for c in score_cols if c != "test_of_best"] + ["best schedule", "your parameters"]
        lines += [
            "### Search scores",
            "",
            f"{'The' if own else 'Final-epoch'} {val_label} of COMPLETE trials (pruned trials are never "
            "scores)" + ("." if own else "; `test_of_best` is reported only, never used to select."),
            "",
            markdown_table(scores[score_cols], formats={"best_lr": ".3g"}),
            f"### Expected maximum {val_label} after n trials",
            "",
            "`emax_n`: with replacement (Dodge et al. 2019); `emax_wor_n`: without "
            "replacement (`emax_wor_N` = best). Curves can cross: a ranking holds only at "
            "its budget n.",
            "",
            markdown_table(scores[_EMAX_COLS]),
        ]
    captions = {
        "confirmations": f"Confirmed {test_label} per family",
        "expected_max": f"Expected max {val_label} after n trials",
        "best_so_far": f"Best-so-far {val_label} vs epochs spent",
        "lr_curves": "LR curve of each family's best trial",
        "learning_curves": "Learning curves of the top trials",
    }
    plots = [
        f"![{captions[k]}]({figures[k][task].relative_to(out_dir).as_posix()})"
        for k in captions
        if task in figures.get(k, {})
    ]
    if plots:
        lines += ["### Plots", ""] + [p + "\n" for p in plots]
    return lines


def write_trials_csv(df: pd.DataFrame, path: Path) -> Path:
    """Write the frame without the LR curves; intermediate values as JSON {epoch: value}."""
    out = df.drop(columns=["lr_curve", "lr_curve_steps"]).copy()
    out["intermediate_values"] = [
        json.dumps({str(k): v for k, v in (d or {}).items()}) for d in out["intermediate_values"]
    ]
    out.to_csv(path, index=False, lineterminator="\n")
    return path


def write_report(
    storage: str | optuna.storages.BaseStorage,
    out_dir: str | Path,
    *,
    studies: list[str] | None = None,
    trials: pd.DataFrame | None = None,
    alpha: float = 0.05,
    min_effect: float = 0.75,
    min_seeds: int = 5,
    storage_label: str | None = None,
    own: Sequence[OwnStudy] = (),
) -> Report:
    """Write ``report.md``, ``trials.csv`` and the PNG plots into ``out_dir``; return a :class:`Report`.

    ``trials`` reuses an already loaded frame (:func:`load_trials`, or
    :func:`~lrtune.report.own_studies.load_own_trials` with its studies as ``own``: a user's
    task without confirmation runs then gets the search-only verdict, its text starting with
    :data:`SEARCH_ONLY`). report.md holds, per task,
    the verdict with the budget it rests on and the comparison table, confirmation runs, the
    search budget, scores and expected-max tables and links to the plots; then all warnings.
    It has no timestamps and sorts everything, so the same storage gives a byte-identical file.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    df = trials if trials is not None else load_trials(storage, studies=studies)
    verdicts = verdicts_by_task(df, alpha=alpha, min_effect=min_effect)
    owned = own_tasks(own)
    search_only = {task for task in owned if verdicts.get(task) is None}
    for task in search_only:
        v = search_verdict(df, task)
        verdicts[task] = None if v is None else dataclasses.replace(v, text=SEARCH_ONLY + v.text)
    notes = check_trials(df, min_seeds=min_seeds)
    figures: dict[str, dict[str, Path]] = {}
    for key, plot in (
        ("confirmations", plot_confirmations),
        ("expected_max", plot_expected_max),
        ("best_so_far", plot_best_so_far),
        ("lr_curves", plot_lr_curves),
        ("learning_curves", plot_learning_curves),
    ):
        paths = plot(df, out)
        figures[key] = {_task_of(p, key, df): p for p in paths}
    figures["horizon"] = {_task_of(p, "horizon", df): p for p in horizon.plot_horizons(df, out)}
    csv_path = write_trials_csv(df, out / "trials.csv")

    n_search = df.loc[df["kind"] == SEARCH, "study"].nunique()
    n_confirm = df.loc[df["kind"] == CONFIRM, "study"].nunique()
    tasks = sorted(set(df["task"]))
    label = storage_label or _storage_label(storage)
    lines = [
        "# lrtune report — your own studies" if owned else "# lrtune report",
        "",
        f"Storage: `{label}` — {n_search} search stud{'y' if n_search == 1 else 'ies'}, "
        f"{n_confirm} confirmation stud{'y' if n_confirm == 1 else 'ies'}, "
        f"{len(df)} trials, {len(tasks)} task{'' if len(tasks) == 1 else 's'}.",
        "",
    ]
    if owned:
        lines += [
            "Studies written with plain Optuna that used lrtune's search spaces, recognised from "
            "their parameter names.",
            "",
        ]
    lines += ["## Verdicts", ""]
    for task in tasks:
        v = verdicts[task]
        lines.append(f"- `{task}`: " + (v.text if v else _no_verdict(task in owned)))
    lines.append("")
    horizon_verdicts: dict[int, dict[str, stats.Verdict | None]] = {}
    for task in tasks:
        lines += _task_section(task, df, verdicts[task], figures, out, owned.get(task, ()), task in search_only)
        section, by_m = horizon.report_lines(
            task, df, verdicts[task], out, figures["horizon"].get(task), alpha=alpha, min_effect=min_effect
        )
        lines += section
        for m, v in by_m.items():
            horizon_verdicts.setdefault(m, {})[task] = v
    lines += ["## Warnings", ""]
    lines += [f"- {w}" for w in notes] if notes else ["None."]
    lines += [
        "",
        "## Files",
        "",
        "- [trials.csv](trials.csv): one row per trial (all states; `value` is NaN unless "
        "COMPLETE, `last_intermediate` holds what a PRUNED trial reported last).",
        "",
    ]
    report_path = out / "report.md"
    report_path.write_text("\n".join(lines), encoding="utf-8")
    all_figures = sorted(p for by_task in figures.values() for p in by_task.values())
    return Report(
        path=report_path,
        trials_csv=csv_path,
        figures=all_figures,
        verdicts=verdicts,
        warnings=notes,
        trials=df,
        horizon_verdicts=horizon_verdicts,
        own_tasks=frozenset(owned),
    )


def _no_verdict(own: bool) -> str:
    return "no verdict (one family)" if own else "no verdict (no confirmation runs of two families)"


def write_own_report(
    df: pd.DataFrame, owns: Sequence[OwnStudy], out_dir: str | Path, *, storage_label: str
) -> Report:
    """:func:`write_report` of users' own studies loaded by
    :func:`~lrtune.report.own_studies.load_own_trials` (kept for callers of the former name)."""
    return write_report(None, out_dir, trials=df, storage_label=storage_label, own=owns)


def _task_of(path: Path, key: str, df: pd.DataFrame) -> str:
    """Map a plot file back to its task (file names hold the task slug)."""
    stem = path.stem[len(key) + 1 :]
    for task in sorted(set(df["task"])):
        if slug(task) == stem:
            return task
    return stem
