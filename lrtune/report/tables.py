"""The frame summarised: budget, scores, expected-max curves, best so far, confirmations; markdown tables.

Search studies are summarised by the final-epoch validation accuracy of their COMPLETE trials
(:func:`score_table`, :func:`expected_max_curves`, :func:`best_so_far`); confirmation runs by
their test accuracy (:func:`confirmation_table`). :func:`markdown_table` prints any of them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from lrtune import stats
from lrtune.report.frame import (
    CONFIRM,
    SEARCH,
    best_row,
    complete_scores,
    rows_of_kind,
    trial_epochs,
)
from lrtune.tuning import keys

__all__ = [
    "best_so_far",
    "budget_table",
    "confirmation_table",
    "expected_max_curves",
    "markdown_table",
    "n_seeds",
    "score_table",
]


def budget_table(df: pd.DataFrame, *, kind: str = SEARCH) -> pd.DataFrame:
    """Per task and family: trials (all), complete, pruned, failed, running, diverged, epochs, seconds.

    ``running`` counts RUNNING/WAITING trials (a killed worker leaves RUNNING behind); epochs
    is Σ epochs_run over finished trials (pruned trials included: they spent budget too).
    """
    sub = rows_of_kind(df, kind).copy()
    cols = [
        "task",
        "family",
        "studies",
        "trials",
        "complete",
        "pruned",
        "failed",
        "running",
        "diverged",
        "epochs",
        "seconds",
    ]
    if sub.empty:
        return pd.DataFrame(columns=cols)
    sub["epochs_spent"] = trial_epochs(sub).where(sub["state"].isin(keys.SPENT_STATE_NAMES), 0.0).fillna(0.0)
    sub["is_diverged"] = sub["diverged"].fillna(False).astype(bool)
    rows = []
    for (task, family), g in sub.groupby(["task", "family"], sort=True):
        state = g["state"]
        rows.append(
            {
                "task": task,
                "family": family,
                "studies": ", ".join(sorted(g["study"].unique())),
                "trials": len(g),
                "complete": int((state == "COMPLETE").sum()),
                "pruned": int((state == "PRUNED").sum()),
                "failed": int((state == "FAIL").sum()),
                "running": int(state.isin(["RUNNING", "WAITING"]).sum()),
                "diverged": int(g["is_diverged"].sum()),
                "epochs": int(g["epochs_spent"].sum()),
                "seconds": float(g["seconds"].fillna(0.0).sum()),
            }
        )
    return pd.DataFrame(rows, columns=cols)


_EMAX_NS = (1, 5, 10)


def _emax_or_nan(values: np.ndarray, n: int, replace: bool) -> float:
    if values.size == 0 or (not replace and n > values.size):
        return np.nan
    return stats.expected_max(values, n, replace=replace)


def score_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per task and family, from COMPLETE search trials (final-epoch validation accuracy):

    n_complete; best_val, median_val; emax_<n> = expected max after n trials with replacement
    and emax_wor_<n> without (n = 1, 5, 10 and N = n_complete; NaN where undefined, see
    :func:`lrtune.stats.expected_max`); best_trial/best_study, the best trial's lr and
    test_of_best, its test accuracy (reported only, never used to select).
    """
    budget = budget_table(df)
    scored = complete_scores(df)
    rows = []
    for task, family in zip(budget["task"], budget["family"]):
        g = scored[(scored["task"] == task) & (scored["family"] == family)]
        values = g["value"].to_numpy()
        row: dict[str, Any] = {"task": task, "family": family, "n_complete": int(values.size)}
        row["best_val"] = float(values.max()) if values.size else np.nan
        row["median_val"] = float(np.median(values)) if values.size else np.nan
        for replace, prefix in ((True, "emax"), (False, "emax_wor")):
            for n in _EMAX_NS:
                row[f"{prefix}_{n}"] = _emax_or_nan(values, n, replace)
            row[f"{prefix}_N"] = _emax_or_nan(values, max(values.size, 1), replace)
        best = best_row(g)
        row["best_study"] = None if best is None else best["study"]
        row["best_trial"] = None if best is None else int(best["number"])
        row["best_lr"] = np.nan if best is None else float(best["lr"])
        row["test_of_best"] = np.nan if best is None else float(best["test_score"])
        rows.append(row)
    out = pd.DataFrame(rows)
    if not out.empty:
        out["best_trial"] = out["best_trial"].astype("Int64")
    return out


def expected_max_curves(df: pd.DataFrame) -> pd.DataFrame:
    """Long frame (task, family, n, emax, emax_wor): E_n for n = 1..N per task and family.

    emax uses sampling with replacement, emax_wor without (E_N = best); both from the COMPLETE
    search trials. They assume i.i.d. trials (Random/QMC samplers); with TPE read them as
    descriptive.
    """
    scored = complete_scores(df)
    parts = []
    for (task, family), g in scored.groupby(["task", "family"], sort=True):
        values = g["value"].to_numpy()
        n = np.arange(1, values.size + 1)
        parts.append(
            pd.DataFrame(
                {
                    "task": task,
                    "family": family,
                    "n": n,
                    "emax": stats.expected_max_curve(values, replace=True),
                    "emax_wor": stats.expected_max_curve(values, replace=False),
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=["task", "family", "n", "emax", "emax_wor"])
    return pd.concat(parts, ignore_index=True)


def best_so_far(df: pd.DataFrame) -> pd.DataFrame:
    """Best validation accuracy so far against cumulative epochs spent, in trial order.

    Per task and family, finished search trials ordered by start time then number:
    epochs_spent = Σ epochs of the trials so far (pruned ones included), trials_run = their
    count, best_val = max over the COMPLETE ones so far (NaN until the first completes).
    """
    search = rows_of_kind(df, SEARCH)
    finished = search[search["state"].isin(keys.SPENT_STATE_NAMES)].copy()
    cols = ["task", "family", "study", "number", "state", "epochs", "epochs_spent", "trials_run", "best_val"]
    if finished.empty:
        return pd.DataFrame(columns=cols)
    finished["epochs"] = trial_epochs(finished).fillna(0.0)
    finished = finished.sort_values(
        ["task", "family", "datetime_start", "number", "study"], kind="stable", na_position="last"
    )
    parts = []
    for _, g in finished.groupby(["task", "family"], sort=True):
        g = g.copy()
        g["epochs_spent"] = g["epochs"].cumsum()
        g["trials_run"] = np.arange(1, len(g) + 1)
        score = g["value"].where(g["state"] == "COMPLETE").fillna(-np.inf)
        g["best_val"] = score.cummax().replace(-np.inf, np.nan)
        parts.append(g[cols])
    return pd.concat(parts, ignore_index=True)


def confirmation_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per task and family of the confirmation runs: runs, complete, seeds, test accuracy stats."""
    conf = rows_of_kind(df, CONFIRM)
    rows = []
    for (task, family), g in conf.groupby(["task", "family"], sort=True):
        done = g[(g["state"] == "COMPLETE") & np.isfinite(g["test_score"])]
        test = done["test_score"].to_numpy()
        rows.append(
            {
                "task": task,
                "family": family,
                "runs": len(g),
                "complete": len(done),
                "seeds": n_seeds(done),
                "median_test": float(np.median(test)) if test.size else np.nan,
                "mean_test": float(np.mean(test)) if test.size else np.nan,
                "min_test": float(test.min()) if test.size else np.nan,
                "max_test": float(test.max()) if test.size else np.nan,
                "median_val": float(done["val_score"].median()) if len(done) else np.nan,
            }
        )
    cols = [
        "task",
        "family",
        "runs",
        "complete",
        "seeds",
        "median_test",
        "mean_test",
        "min_test",
        "max_test",
        "median_val",
    ]
    return pd.DataFrame(rows, columns=cols)


def n_seeds(g: pd.DataFrame) -> int:
    """Distinct seeds among the rows (rows without a seed attr count once each)."""
    seeds = g["seed"]
    return int(seeds.dropna().nunique() + seeds.isna().sum())


# --------------------------------------------------------------------------------------------
# markdown
# --------------------------------------------------------------------------------------------


def _cell(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return format(float(value), fmt)
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(
    frame: pd.DataFrame, *, formats: dict[str, str] | None = None, float_format: str = ".4f"
) -> str:
    """A GitHub-flavoured markdown table of ``frame`` (no ``tabulate`` needed).

    Floats use ``formats[column]`` or ``float_format``; NaN/None/NA print as "—", booleans as
    yes/no; numeric columns are right-aligned. Ends with a newline.
    """
    formats = formats or {}
    header = [str(c) for c in frame.columns]
    align = [
        "---:" if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]) else "---"
        for c in frame.columns
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    for row in frame.itertuples(index=False):
        cells = [_cell(v, formats.get(c, float_format)) for c, v in zip(frame.columns, row)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
