"""The report as a document: ``report.md`` (markdown), ``trials.csv`` and the plots of lrtune's studies.

:func:`write_report` writes ``report.md`` (deterministic: the same storage gives a
byte-identical file), ``trials.csv`` (:func:`write_trials_csv`) and PNG plots, and returns a
:class:`Report` of what it wrote and concluded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import pandas as pd

from lrtune import stats
from lrtune.report import horizon
from lrtune.report.checks import check_trials
from lrtune.report.frame import CONFIRM, SEARCH, load_trials, metric_label, metric_of
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
from lrtune.report.verdicts import verdict_section, verdicts_by_task
from lrtune.tuning.storage import display_url

__all__ = ["Report", "write_report", "write_trials_csv"]


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


def _task_section(
    task: str, df: pd.DataFrame, v: stats.Verdict | None, figures: dict[str, dict[str, Path]], out_dir: Path
) -> list[str]:
    task_df = df[df["task"] == task]
    lines = [f"## Task `{task}`", ""]
    name, direction = metric_of(task_df)
    metric_line = f"Metric: {name}, {direction}d"
    if direction == "minimize":
        metric_line += f"; scores below are −{name} (oriented: higher is better)"
    elif name != "accuracy":
        metric_line += f"; `val_accuracy`/`test_accuracy` below hold the {name}"
    lines += [metric_line + ".", ""]
    lines += verdict_section(v, task_df)
    lines += race_section(task, task_df, v, out_dir)
    val_label, test_label = metric_label(name, direction, "validation"), metric_label(name, direction)
    conf = confirmation_table(task_df)
    if not conf.empty:
        lines += [f"Confirmation runs ({test_label}):", "", markdown_table(conf.drop(columns="task"))]
    budget = budget_table(task_df)
    if not budget.empty:
        lines += ["### Search budget", "", markdown_table(budget[_BUDGET_COLS], formats={"seconds": ".1f"})]
        scores = score_table(task_df)
        lines += [
            "### Search scores",
            "",
            f"Final-epoch {val_label} of COMPLETE trials (pruned trials are never "
            "scores); `test_of_best` is reported only, never used to select.",
            "",
            markdown_table(scores[_SCORE_COLS], formats={"best_lr": ".3g"}),
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
) -> Report:
    """Write ``report.md``, ``trials.csv`` and the PNG plots into ``out_dir``; return a :class:`Report`.

    ``trials`` reuses an already loaded :func:`load_trials` frame. report.md holds, per task,
    the verdict with the budget it rests on and the comparison table, confirmation runs, the
    search budget, scores and expected-max tables and links to the plots; then all warnings.
    It has no timestamps and sorts everything, so the same storage gives a byte-identical file.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    df = trials if trials is not None else load_trials(storage, studies=studies)
    verdicts = verdicts_by_task(df, alpha=alpha, min_effect=min_effect)
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
        "# lrtune report",
        "",
        f"Storage: `{label}` — {n_search} search stud{'y' if n_search == 1 else 'ies'}, "
        f"{n_confirm} confirmation stud{'y' if n_confirm == 1 else 'ies'}, "
        f"{len(df)} trials, {len(tasks)} task{'' if len(tasks) == 1 else 's'}.",
        "",
    ]
    lines += ["## Verdicts", ""]
    for task in tasks:
        v = verdicts[task]
        lines.append(f"- `{task}`: " + (v.text if v else "no verdict (no confirmation runs of two families)"))
    lines.append("")
    horizon_verdicts: dict[int, dict[str, stats.Verdict | None]] = {}
    for task in tasks:
        lines += _task_section(task, df, verdicts[task], figures, out)
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
    )


def _task_of(path: Path, key: str, df: pd.DataFrame) -> str:
    """Map a plot file back to its task (file names hold the task slug)."""
    stem = path.stem[len(key) + 1 :]
    for task in sorted(set(df["task"])):
        if slug(task) == stem:
            return task
    return stem
