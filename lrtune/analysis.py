"""Analysis: an Optuna storage full of lrtune studies → pandas frames → verdict, plots, report.

Pandas in, pandas out. :func:`load_trials` reads every lrtune study of a storage (one study per
schedule family, see ``docs/architecture.md`` for the stored-data contract) into one tidy frame,
one row per trial; every other function takes that frame.

* Search studies (``lrtune_kind = "search"``) are summarised by the final-epoch validation
  accuracy of their COMPLETE trials (:func:`score_table`, :func:`expected_max_curves`,
  :func:`best_so_far`). A PRUNED trial's stored value is its last intermediate value; it is kept
  apart (``last_intermediate``) and never used as a score.
* Confirmation studies (``lrtune_kind = "confirm"``, named ``"<search study>:confirm"``) hold
  re-runs of each family's best configuration with fresh seeds, no pruning;
  :func:`verdict_from_confirmations` compares families on their ``test_accuracy``
  (:func:`lrtune.stats.verdict`).
* :func:`write_report` writes ``report.md`` (deterministic: the same storage gives a
  byte-identical file), ``trials.csv`` and PNG plots.
* A task whose metric is not accuracy (``metric``/``direction`` in its stored configuration,
  e.g. a user task minimising its loss) is analysed on *oriented* scores, higher is better:
  ``value``, ``last_intermediate``, ``intermediate_values``, ``val_accuracy`` and
  ``test_accuracy`` hold ``sign · score`` of its metric (``sign`` = −1 when minimising), as for
  users' own studies; the ``metric`` and ``metric_direction`` columns say which.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

from lrtune import stats
from lrtune.metrics import natural_direction

__all__ = [
    "AnalysisError",
    "Report",
    "TRIAL_COLUMNS",
    "load_trials",
    "budget_table",
    "score_table",
    "expected_max_curves",
    "best_so_far",
    "warnings",
    "confirmation_table",
    "verdict_from_confirmations",
    "verdicts_by_task",
    "markdown_table",
    "plot_expected_max",
    "plot_best_so_far",
    "plot_lr_curves",
    "plot_learning_curves",
    "plot_confirmations",
    "write_report",
]

#: Scalar trial user attrs of the stored-data contract, with the dtype they get in the frame.
CONTRACT_ATTRS: dict[str, str] = {
    "val_accuracy": "float64",
    "test_accuracy": "float64",
    "epochs_run": "Int64",
    "seconds": "float64",
    "diverged": "boolean",
    "seed": "Int64",
    "steps_per_epoch": "Int64",
}

#: Columns every frame from :func:`load_trials` has, in this order (then ``params_*``, then the
#: object columns ``intermediate_values``, ``lr_curve``, ``lr_curve_steps``).
TRIAL_COLUMNS: list[str] = [
    "study",
    "task",
    "metric",
    "metric_direction",
    "kind",
    "family",
    "number",
    "state",
    "value",
    "last_intermediate",
    *CONTRACT_ATTRS,
    "source_trial",
    "confirmed_trial",
    "n_reported",
    "config_epochs",
    "horizon",
    "sampler",
    "lr_param",
    "lr",
    "lr_low",
    "lr_high",
    "lr_log",
    "datetime_start",
    "datetime_complete",
]
_OBJECT_COLUMNS = ["intermediate_values", "lr_curve", "lr_curve_steps"]
_FINISHED = ("COMPLETE", "PRUNED", "FAIL")
_SEARCH, _CONFIRM = "search", "confirm"


class AnalysisError(ValueError):
    """The storage cannot be analysed (no studies, no lrtune studies, unknown study name, ...)."""


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------


def _as_storage(storage: str | optuna.storages.BaseStorage) -> optuna.storages.BaseStorage:
    if isinstance(storage, str):
        return optuna.storages.get_storage(storage)
    return storage


def _is_lrtune(user_attrs: dict[str, Any]) -> bool:
    return "lrtune_config" in user_attrs or "lrtune_family" in user_attrs


def _sampler_name(config: dict[str, Any]) -> str | None:
    sampler = config.get("sampler")
    if isinstance(sampler, dict):
        sampler = sampler.get("name") or sampler.get("type")
    return None if sampler is None else str(sampler)


def _study_info(summary: optuna.study.StudySummary) -> dict[str, Any]:
    """Study-level columns from the study user attrs (lrtune_config/family/task/kind)."""
    attrs = summary.user_attrs
    config = attrs.get("lrtune_config") or {}
    if not isinstance(config, dict):
        config = {}
    name = summary.study_name
    kind = attrs.get("lrtune_kind") or (_CONFIRM if name.endswith(":confirm") else _SEARCH)
    task = attrs.get("lrtune_task")
    if task is None and {"dataset", "model", "epochs", "optimizer"} <= set(config):
        task = f"{config['dataset']}/{config['model']}/{config['epochs']}ep/{config['optimizer']}"
    epochs = config.get("epochs")
    metric = str(config.get("metric") or "accuracy")
    direction = str(config.get("direction") or natural_direction(metric) or "maximize")
    return {
        "study": name,
        "task": str(task) if task is not None else "unknown",
        "metric": metric,
        "metric_direction": direction,
        "sign": -1.0 if direction == "minimize" else 1.0,
        "kind": str(kind),
        "family": attrs.get("lrtune_family") or config.get("family"),
        "config_epochs": int(epochs) if isinstance(epochs, (int, float)) else None,
        "horizon": int(attrs.get("lrtune_horizon", 1)),
        "sampler": _sampler_name(config),
        "confirmed_trial": attrs.get("lrtune_confirmed_trial"),
    }


def _find_lr_param(distributions: dict[str, optuna.distributions.BaseDistribution]) -> str | None:
    """The shared peak-LR parameter: ``lr``, else the shortest name ending in ``<sep>lr``."""
    if "lr" in distributions:
        return "lr"
    candidates = [n for n in distributions if re.search(r"[_./:\-]lr$", n)]
    return min(candidates, key=lambda n: (len(n), n)) if candidates else None


def _lr_columns(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    name = _find_lr_param(trial.distributions)
    out: dict[str, Any] = {"lr_param": name, "lr": np.nan, "lr_low": np.nan, "lr_high": np.nan}
    out["lr_log"] = None
    if name is None:
        return out
    dist = trial.distributions[name]
    out["lr"] = float(trial.params[name])
    if isinstance(dist, (optuna.distributions.FloatDistribution, optuna.distributions.IntDistribution)):
        out.update(lr_low=float(dist.low), lr_high=float(dist.high), lr_log=bool(dist.log))
    return out


def _float_or_nan(x: Any) -> float:
    try:
        return float(x) if x is not None else np.nan
    except (TypeError, ValueError):
        return np.nan


def _trial_family(trial: optuna.trial.FrozenTrial, study_family: str | None) -> str:
    """The trial attr ``family``, else a categorical ``family`` param (joint "any family"
    spaces), else the study's ``lrtune_family``, else "unknown"."""
    family = trial.user_attrs.get("family")
    if family is None:
        family = next((v for k, v in sorted(trial.params.items()) if k == "family" or k.endswith("_family")), None)
    return str(family or study_family or "unknown")


def _trial_row(info: dict[str, Any], trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """One row: the study columns, the trial's state/value, contract user attrs, params."""
    attrs = trial.user_attrs
    state = trial.state.name
    value = trial.values[0] if (state == "COMPLETE" and trial.values) else np.nan
    last_step = trial.last_step
    row: dict[str, Any] = dict(info)
    row.update(
        family=_trial_family(trial, info["family"]),
        number=trial.number,
        state=state,
        value=float(value),
        last_intermediate=(float(trial.intermediate_values[last_step]) if last_step is not None else np.nan),
        source_trial=attrs.get("source_trial"),
        n_reported=len(trial.intermediate_values),
        datetime_start=trial.datetime_start,
        datetime_complete=trial.datetime_complete,
        intermediate_values=dict(sorted(trial.intermediate_values.items())),
        lr_curve=attrs.get("lr_curve"),
        lr_curve_steps=attrs.get("lr_curve_steps"),
    )
    for name in CONTRACT_ATTRS:
        row[name] = attrs.get(name)
    _orient(row, attrs, info.get("metric", "accuracy"), info.get("sign", 1.0))
    row.update(_lr_columns(trial))
    for name, param in trial.params.items():
        row[f"params_{name}"] = param
    return row


def _orient(row: dict[str, Any], attrs: dict[str, Any], metric: str, sign: float) -> None:
    """A task's own metric: val/test columns take its scores; all scores become ``sign · score``."""
    if metric != "accuracy":
        row["val_accuracy"], row["test_accuracy"] = attrs.get("val_score"), attrs.get("test_score")
    if sign == 1.0:
        return
    for key in ("value", "last_intermediate", "val_accuracy", "test_accuracy"):
        row[key] = None if row[key] is None else sign * float(row[key])
    row["intermediate_values"] = {k: sign * v for k, v in row["intermediate_values"].items()}


def _metric_of(df: pd.DataFrame) -> tuple[str, str]:
    """(metric, direction) of a task's rows; accuracy, maximize when unknown (users' own studies)."""
    if "metric" not in df.columns:
        return "accuracy", "maximize"
    pairs = df[["metric", "metric_direction"]].dropna().drop_duplicates()
    return (str(pairs.iloc[0, 0]), str(pairs.iloc[0, 1])) if len(pairs) else ("accuracy", "maximize")


def metric_label(metric: str, direction: str, split: str = "test") -> str:
    """``"test accuracy"``; otherwise says the direction and that scores are oriented, e.g.
    ``"test loss (minimised, compared as −loss)"``."""
    if (metric, direction) == ("accuracy", "maximize"):
        return f"{split} {metric}"
    if direction == "minimize":
        return f"{split} {metric} (minimised, compared as −{metric})"
    return f"{split} {metric} (maximised)"


def _select_studies(
    summaries: list[optuna.study.StudySummary], names: Sequence[str] | None
) -> list[optuna.study.StudySummary]:
    """The named studies plus their ``:confirm`` and ``:confirm@xM`` companions; all when ``names`` is None."""
    if names is None:
        return summaries
    by_name = {s.study_name: s for s in summaries}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise AnalysisError(
            f"no lrtune study named {', '.join(map(repr, unknown))}; the storage has {', '.join(sorted(by_name))}"
        )
    wanted = set(names) | {f"{n}:confirm" for n in names}
    horizons = {f"{n}:confirm@x" for n in names}  # horizon checks (lrtune.confirm, horizon=M)
    return [s for s in summaries if s.study_name in wanted or re.sub(r"\d+$", "", s.study_name) in horizons]


def _typed_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    param_cols = sorted(c for c in frame.columns if c.startswith("params_"))
    for col in TRIAL_COLUMNS + _OBJECT_COLUMNS:
        if col not in frame.columns:
            frame[col] = pd.Series([None] * len(frame), dtype=object)
    frame = frame[TRIAL_COLUMNS + param_cols + _OBJECT_COLUMNS].copy()
    for col, dtype in CONTRACT_ATTRS.items():
        if dtype == "float64":
            frame[col] = frame[col].map(_float_or_nan).astype("float64")
        else:
            frame[col] = pd.array([None if pd.isna(v) else v for v in frame[col]], dtype=dtype)
    for col in ("number", "n_reported"):
        frame[col] = frame[col].astype("int64")
    for col in ("source_trial", "config_epochs", "horizon"):
        frame[col] = pd.array([None if pd.isna(v) else int(v) for v in frame[col]], dtype="Int64")
    for col in ("value", "last_intermediate", "lr", "lr_low", "lr_high"):
        frame[col] = frame[col].astype("float64")
    for col in ("datetime_start", "datetime_complete"):
        frame[col] = pd.to_datetime(frame[col])
    frame = frame.sort_values(["task", "kind", "family", "study", "number"], kind="stable")
    return frame.reset_index(drop=True)


def load_trials(storage: str | optuna.storages.BaseStorage, *, studies: list[str] | None = None) -> pd.DataFrame:
    """Every trial of every lrtune study in ``storage`` as one tidy frame, one row per trial.

    A study is lrtune's when it has the study user attr ``lrtune_config`` or ``lrtune_family``;
    other studies are skipped. ``studies`` restricts to those names (and their
    ``"<name>:confirm"`` studies). Columns (see :data:`TRIAL_COLUMNS`): study, task, kind
    (search/confirm), family (the trial attr ``family``, else the study's), number, state
    (COMPLETE/PRUNED/FAIL/RUNNING/WAITING), value (the objective value of COMPLETE trials only,
    NaN otherwise), last_intermediate (the last reported value — for a PRUNED trial that is what
    Optuna stores as its value, kept here and never used as a score), the contract user attrs,
    the peak-LR parameter and its search range, datetimes, ``params_<name>`` per parameter and
    the object columns intermediate_values (dict epoch → val accuracy), lr_curve, lr_curve_steps.
    Sorted by task, kind, family, study, number. Raises :class:`AnalysisError` when the storage
    has no studies, no lrtune studies, or a named study is missing.
    """
    storage = _as_storage(storage)
    summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
    if not summaries:
        raise AnalysisError("the storage holds no studies")
    lrtune_summaries = [s for s in summaries if _is_lrtune(s.user_attrs)]
    if not lrtune_summaries:
        names = ", ".join(sorted(s.study_name for s in summaries))
        raise AnalysisError(
            f"the storage holds no lrtune studies (none has the study user attr "
            f"'lrtune_config' or 'lrtune_family'); it has: {names}"
        )
    selected = _select_studies(lrtune_summaries, studies)
    rows = []
    for summary in sorted(selected, key=lambda s: s.study_name):
        info = _study_info(summary)
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        rows.extend(_trial_row(info, t) for t in study.get_trials(deepcopy=False))
    return _typed_frame(rows)


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------


def _kind(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Rows of one kind; for confirmations only those of the currently confirmed search trial.

    ``lrtune.confirm`` re-confirms when the search found a new best; runs of the older best stay
    stored (and in trials.csv) but no longer speak for the family.
    """
    rows = df[df["kind"] == kind]
    if kind == _CONFIRM and "confirmed_trial" in rows.columns:
        current = rows["confirmed_trial"].isna() | (rows["source_trial"] == rows["confirmed_trial"])
        rows = rows[current]
    return rows


def _complete_scores(df: pd.DataFrame) -> pd.DataFrame:
    """COMPLETE search trials with a finite value: the only rows that count as scores."""
    search = _kind(df, _SEARCH)
    return search[(search["state"] == "COMPLETE") & np.isfinite(search["value"])]


def _epochs(df: pd.DataFrame) -> pd.Series:
    """Epochs a trial spent: the ``epochs_run`` attr, else the number of reported epochs."""
    reported = df["n_reported"].astype("float64")
    return df["epochs_run"].astype("float64").fillna(reported)


def budget_table(df: pd.DataFrame, *, kind: str = _SEARCH) -> pd.DataFrame:
    """Per task and family: trials (all), complete, pruned, failed, running, diverged, epochs, seconds.

    ``running`` counts RUNNING/WAITING trials (a killed worker leaves RUNNING behind); epochs
    is Σ epochs_run over finished trials (pruned trials included: they spent budget too).
    """
    sub = _kind(df, kind).copy()
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
    sub["epochs_spent"] = _epochs(sub).where(sub["state"].isin(_FINISHED), 0.0).fillna(0.0)
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
    scored = _complete_scores(df)
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
        best = _best_row(g)
        row["best_study"] = None if best is None else best["study"]
        row["best_trial"] = None if best is None else int(best["number"])
        row["best_lr"] = np.nan if best is None else float(best["lr"])
        row["test_of_best"] = np.nan if best is None else float(best["test_accuracy"])
        rows.append(row)
    out = pd.DataFrame(rows)
    if not out.empty:
        out["best_trial"] = out["best_trial"].astype("Int64")
    return out


def _best_row(g: pd.DataFrame) -> pd.Series | None:
    """The highest-value row; ties go to the earliest (study, number): deterministic."""
    if g.empty:
        return None
    ordered = g.sort_values(["value", "study", "number"], ascending=[False, True, True], kind="stable")
    return ordered.iloc[0]


def expected_max_curves(df: pd.DataFrame) -> pd.DataFrame:
    """Long frame (task, family, n, emax, emax_wor): E_n for n = 1..N per task and family.

    emax uses sampling with replacement, emax_wor without (E_N = best); both from the COMPLETE
    search trials. They assume i.i.d. trials (Random/QMC samplers); with TPE read them as
    descriptive.
    """
    scored = _complete_scores(df)
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
    search = _kind(df, _SEARCH)
    finished = search[search["state"].isin(_FINISHED)].copy()
    cols = ["task", "family", "study", "number", "state", "epochs", "epochs_spent", "trials_run", "best_val"]
    if finished.empty:
        return pd.DataFrame(columns=cols)
    finished["epochs"] = _epochs(finished).fillna(0.0)
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
    conf = _kind(df, _CONFIRM)
    rows = []
    for (task, family), g in conf.groupby(["task", "family"], sort=True):
        done = g[(g["state"] == "COMPLETE") & np.isfinite(g["test_accuracy"])]
        test = done["test_accuracy"].to_numpy()
        rows.append(
            {
                "task": task,
                "family": family,
                "runs": len(g),
                "complete": len(done),
                "seeds": _n_seeds(done),
                "median_test": float(np.median(test)) if test.size else np.nan,
                "mean_test": float(np.mean(test)) if test.size else np.nan,
                "min_test": float(test.min()) if test.size else np.nan,
                "max_test": float(test.max()) if test.size else np.nan,
                "median_val": float(done["val_accuracy"].median()) if len(done) else np.nan,
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


def _n_seeds(g: pd.DataFrame) -> int:
    """Distinct seeds among the rows (rows without a seed attr count once each)."""
    seeds = g["seed"]
    return int(seeds.dropna().nunique() + seeds.isna().sum())


# --------------------------------------------------------------------------------------------
# warnings
# --------------------------------------------------------------------------------------------


def _edge_position(lr: float, low: float, high: float, log: bool) -> float:
    """Where lr sits in [low, high]: 0 at low, 1 at high, on the log scale when ``log``."""
    if log:
        lr, low, high = math.log(lr), math.log(low), math.log(high)
    return (lr - low) / (high - low) if high > low else 0.5


def _warn_budgets(df: pd.DataFrame, budget_tolerance: float) -> list[str]:
    out = []
    budget = budget_table(df)
    for task, g in budget.groupby("task", sort=True):
        if len(g) < 2:
            continue
        finished = g["trials"] - g["running"]
        if finished.nunique() > 1:
            detail = ", ".join(f"{f} {n}" for f, n in zip(g["family"], finished))
            out.append(
                f"{task}: unequal budgets — finished trials per family differ ({detail}); "
                "compare at equal budget (expected max at a common n, best-so-far per epoch)."
            )
        epochs = g["epochs"].astype(float)
        if epochs.min() > 0 and epochs.max() / epochs.min() > 1 + budget_tolerance:
            detail = ", ".join(f"{f} {int(e)}" for f, e in zip(g["family"], epochs))
            out.append(
                f"{task}: epochs spent differ by more than {budget_tolerance:.0%} across "
                f"families ({detail}); pruning spends epochs unevenly — read best-so-far "
                "against epochs."
            )
    for (task, family), g in budget.groupby(["task", "family"], sort=True):
        row = g.iloc[0]
        if "," in row["studies"]:
            out.append(f"{task}: family {family} has several search studies ({row['studies']}); they are pooled.")
        if row["running"]:
            out.append(
                f"{task}: {family} has {row['running']} trial(s) still RUNNING/WAITING "
                "(a killed worker leaves them until optimize() runs again); "
                "they are not counted."
            )
        if row["trials"] and row["diverged"] / row["trials"] > 0.25:
            out.append(
                f"{task}: {family} diverged in {row['diverged']} of {row['trials']} "
                "trials — the top of its LR range may be too high."
            )
    for task, g in budget.groupby("task", sort=True):
        if g["pruned"].sum():
            detail = ", ".join(f"{f} {p}/{t}" for f, p, t in zip(g["family"], g["pruned"], g["trials"]))
            out.append(
                f"{task}: median and expected max are over COMPLETE trials only "
                f"(pruned: {detail}); with pruning they are optimistic — compare "
                "families by best-so-far against epochs and by the confirmation runs."
            )
    search = _kind(df, _SEARCH)
    for task, g in search.groupby("task", sort=True):
        samplers = sorted({s for s in g["sampler"].dropna()})
        if len(samplers) > 1:
            out.append(f"{task}: families were tuned with different samplers ({', '.join(samplers)}).")
        tuned = [s for s in samplers if s.lower().replace("sampler", "") not in ("random", "qmc")]
        if tuned:
            out.append(
                f"{task}: sampler {', '.join(tuned)} does not draw i.i.d. trials; the "
                "expected-max curves assume i.i.d. (Random/QMC) — read them as "
                "descriptive and judge the search by best-so-far against epochs."
            )
    return out


def _warn_complete(df: pd.DataFrame, min_complete: int) -> list[str]:
    out = []
    scores = score_table(df)
    for row in scores.itertuples(index=False):
        if row.n_complete < min_complete:
            out.append(
                f"{row.task}: {row.family} has only {row.n_complete} COMPLETE trial(s) "
                f"(fewer than {min_complete}); its scores and expected max are unreliable."
            )
    return out


def _warn_lr_edge(df: pd.DataFrame, edge_frac: float) -> list[str]:
    out = []
    scored = _complete_scores(df)
    for (task, family), g in scored.groupby(["task", "family"], sort=True):
        best = _best_row(g)
        if best is None or not np.isfinite(best["lr"]) or not np.isfinite(best["lr_low"]):
            continue
        pos = _edge_position(best["lr"], best["lr_low"], best["lr_high"], bool(best["lr_log"]))
        if pos <= edge_frac or pos >= 1 - edge_frac:
            side = "lower" if pos <= edge_frac else "upper"
            scale = "log-range" if best["lr_log"] else "range"
            out.append(
                f"{task}: the best {family} trial (#{best['number']}) has {best['lr_param']} = "
                f"{best['lr']:.3g}, within {edge_frac:.0%} of the {scale} of the {side} bound "
                f"[{best['lr_low']:.3g}, {best['lr_high']:.3g}] — widen the LR range."
            )
    return out


def _warn_confirmations(df: pd.DataFrame, min_seeds: int) -> list[str]:
    out = []
    conf = confirmation_table(df)
    search_families = _kind(df, _SEARCH).groupby("task")["family"].unique()
    for task in sorted(set(df["task"])):
        confirmed = conf[conf["task"] == task]
        families = sorted(search_families.get(task, []))
        if confirmed.empty:
            if len(families) > 1:
                out.append(
                    f"{task}: no confirmation runs, so no verdict — re-train each "
                    "family's best configuration with fresh seeds "
                    "(python -m lrtune.analyze --confirm 5)."
                )
            continue
        missing = sorted(set(families) - set(confirmed["family"]))
        if missing:
            out.append(
                f"{task}: families without confirmation runs: {', '.join(missing)}; "
                "the verdict covers only the confirmed ones."
            )
        for row in confirmed.itertuples(index=False):
            if row.seeds < min_seeds:
                out.append(
                    f"{task}: {row.family} has {row.seeds} confirmation seed(s), fewer "
                    f"than {min_seeds}; the exact test can hardly separate families."
                )
    return out


def _warn_pruned_scores(df: pd.DataFrame) -> list[str]:
    out = []
    conf = _kind(df, _CONFIRM)
    for (task, family), g in conf.groupby(["task", "family"], sort=True):
        bad = g[g["state"].isin(["PRUNED", "FAIL"])]
        if len(bad):
            out.append(
                f"{task}: {len(bad)} {family} confirmation run(s) are PRUNED/FAIL; "
                "confirmations must run unpruned — they are left out of the verdict."
            )
    for kind in (_SEARCH, _CONFIRM):
        sub = _kind(df, kind)
        done = sub[(sub["state"] == "COMPLETE") & sub["config_epochs"].notna()]
        short = done[
            (_epochs(done) < done["config_epochs"].astype(float)) & ~done["diverged"].fillna(False).astype(bool)
        ]
        for (task, family), g in short.groupby(["task", "family"], sort=True):
            out.append(
                f"{task}: {len(g)} COMPLETE {kind} trial(s) of {family} ran fewer epochs "
                f"than configured without diverging (#{', #'.join(map(str, g['number']))})"
                " — a pruned or partial value is being used as a final score."
            )
    return out


def _matching_search_trials(search: pd.DataFrame, confirm: pd.DataFrame) -> list[int]:
    """Search trial numbers a confirmation ran: ``source_trial`` attrs, else equal params."""
    sources = confirm["source_trial"].dropna()
    if len(sources):
        return sorted({int(s) for s in sources})
    param_cols = [c for c in confirm.columns if c.startswith("params_") and confirm[c].notna().any()]
    if not param_cols:
        return []
    first = confirm.iloc[0]
    match = pd.Series(True, index=search.index)
    for col in param_cols:
        if col not in search.columns:
            return []
        target = first[col]
        if isinstance(target, (float, np.floating)):
            match &= np.isclose(search[col].astype(float), float(target), rtol=1e-12, atol=0)
        else:
            match &= search[col] == target
    return sorted(int(n) for n in search.loc[match, "number"])


def _warn_test_selection(df: pd.DataFrame) -> list[str]:
    out = []
    scored = _complete_scores(df)
    for (task, family), g in scored.groupby(["task", "family"], sort=True):
        with_val = g.dropna(subset=["val_accuracy"])
        off = ~np.isclose(with_val["value"], with_val["val_accuracy"], rtol=1e-9, atol=1e-12)
        if off.any():
            out.append(
                f"{task}: {int(off.sum())} {family} trial value(s) differ from their "
                "val_accuracy attr — the objective must return validation accuracy."
            )
        with_test = g.dropna(subset=["test_accuracy"])
        as_test = np.isclose(with_test["value"], with_test["test_accuracy"], rtol=1e-9, atol=1e-12)
        if len(with_test) and as_test.mean() > 0.5:
            out.append(
                f"{task}: {int(as_test.sum())} of {len(with_test)} {family} trial values "
                "equal their test_accuracy — the search seems to select on the test set."
            )
    conf = _kind(df, _CONFIRM)
    for (task, family), c in conf.groupby(["task", "family"], sort=True):
        g = scored[(scored["task"] == task) & (scored["family"] == family)]
        if g.empty:
            continue
        sources = _matching_search_trials(g, c)
        best_val = int(_best_row(g)["number"])
        if not sources or best_val in sources:
            continue
        ranked_test = g.dropna(subset=["test_accuracy"]).sort_values(
            ["test_accuracy", "number"], ascending=[False, True], kind="stable"
        )
        best_test = int(ranked_test.iloc[0]["number"]) if len(ranked_test) else None
        if best_test in sources:
            out.append(
                f"{task}: the confirmed {family} configuration is search trial "
                f"#{best_test}, the best by TEST accuracy, not #{best_val} (best by "
                "validation accuracy) — test-set selection."
            )
        else:
            out.append(
                f"{task}: the confirmed {family} configuration (search trial(s) "
                f"#{', #'.join(map(str, sources))}) is not the best by validation accuracy "
                f"(#{best_val})."
            )
    return out


def warnings(
    df: pd.DataFrame,
    *,
    min_seeds: int = 5,
    min_complete: int = 5,
    edge_frac: float = 0.1,
    budget_tolerance: float = 0.2,
) -> list[str]:
    """Everything that weakens a conclusion, one sentence each, prefixed with the task.

    Unequal budgets across the families of a task (finished trials; epochs off by more than
    ``budget_tolerance``; different or non-i.i.d. samplers; leftover RUNNING trials; many
    divergences); the best trial's peak LR within ``edge_frac`` of either end of its search
    range (position (log lr − log low)/(log high − log low) for a log range, read from the
    trial's distribution); fewer than ``min_complete`` COMPLETE trials; no or fewer than
    ``min_seeds`` confirmation seeds; pruned or partial values used as scores; hints of
    test-set selection (values equal to test accuracy, a confirmed configuration that is not
    the best by validation accuracy). Deterministic order.
    """
    return (
        _warn_budgets(df, budget_tolerance)
        + _warn_complete(df, min_complete)
        + _warn_lr_edge(df, edge_frac)
        + _warn_confirmations(df, min_seeds)
        + _warn_pruned_scores(df)
        + _warn_test_selection(df)
    )


# --------------------------------------------------------------------------------------------
# verdict
# --------------------------------------------------------------------------------------------


def _budget_text(
    df: pd.DataFrame, task: str, samples: dict[str, np.ndarray], metric: str = "test accuracy"
) -> str:
    conf = confirmation_table(df)
    conf = conf[conf["task"] == task].set_index("family")
    seeds = ", ".join(f"{f} {int(conf.loc[f, 'seeds'])}" for f in sorted(samples))
    text = f"confirmation seeds per family: {seeds} ({metric}, unpruned re-runs)"
    budget = budget_table(df)
    budget = budget[budget["task"] == task].set_index("family")
    families = [f for f in sorted(samples) if f in budget.index]
    if families:
        search = ", ".join(
            f"{f} {int(budget.loc[f, 'trials'])} trials / {int(budget.loc[f, 'epochs'])} epochs" for f in families
        )
        text += f"; search budget: {search}"
    return text


def verdict_from_confirmations(
    df: pd.DataFrame,
    *,
    task: str | None = None,
    alpha: float = 0.05,
    min_effect: float = 0.75,
    center: str = "median",
    metric: str | None = None,
) -> stats.Verdict:
    """The verdict for one task from its confirmation runs (``kind == "confirm"``).

    Uses the ``test_accuracy`` of COMPLETE confirmation trials, one sample per family, and
    :func:`lrtune.stats.verdict` (leader by median; two-sided tests, paired on per-seed
    differences when every family ran the same seeds, Holm; wins only if every other family is
    separated, with P̂(leader > other) ≥ ``min_effect``), worded with each family's search trials. ``metric`` names the score in the
    text (users' own studies: their objective, oriented so higher is better); default: the task's
    metric (:func:`metric_label`), read as percentage points only for accuracy.
    ``task`` may be omitted when the frame holds one task. Raises :class:`AnalysisError` when
    there are no confirmation runs, or fewer than two confirmed families.
    """
    conf = _kind(df, _CONFIRM)
    conf = conf[(conf["state"] == "COMPLETE") & np.isfinite(conf["test_accuracy"])]
    tasks = sorted(set(conf["task"]))
    if task is None:
        if len(tasks) > 1:
            raise AnalysisError(f"confirmations cover several tasks ({', '.join(tasks)}); pass task=")
        if not tasks:
            raise AnalysisError(
                "no COMPLETE confirmation runs (kind 'confirm') with a test_accuracy; run the confirmation first"
            )
        task = tasks[0]
    conf = conf[conf["task"] == task]
    if metric is None:
        metric = metric_label(*_metric_of(conf))
    samples = {f: g["test_accuracy"].to_numpy() for f, g in conf.groupby("family", sort=True)}
    if len(samples) < 2:
        raise AnalysisError(
            f"{task}: a verdict needs confirmation runs of at least two "
            f"families, but got {sorted(samples) or 'none'}"
        )
    seeds = None
    if conf["seed"].notna().all():  # paired when every family ran the same seeds (stats decides)
        seeds = {f: [int(s) for s in g["seed"]] for f, g in conf.groupby("family", sort=True)}
    budget = budget_table(df)
    budget = budget[budget["task"] == task].set_index("family")
    trials = {f: int(budget.loc[f, "trials"]) for f in samples if f in budget.index} or None
    accuracy = metric.endswith("accuracy")  # accuracies read as percentage points; a user's metric as is
    return stats.verdict(
        samples,
        seeds=seeds,
        alpha=alpha,
        min_effect=min_effect,
        center=center,
        metric=metric,
        budget=_budget_text(df, task, samples, metric),
        trials=trials,
        unit_scale=100.0 if accuracy else 1.0,
        unit="points" if accuracy else "",
    )


def verdicts_by_task(df: pd.DataFrame, **kwargs: Any) -> dict[str, stats.Verdict | None]:
    """{task: Verdict, or None when the task lacks confirmations of two families}, sorted."""
    out: dict[str, stats.Verdict | None] = {}
    for task in sorted(set(df["task"])):
        try:
            out[task] = verdict_from_confirmations(df, task=task, **kwargs)
        except AnalysisError:
            out[task] = None
    return out


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


# --------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._]+", "-", text).strip("-") or "task"


def _colors(families: Iterable[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    names = sorted(set(families))
    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {f: cmap(i % cmap.N) for i, f in enumerate(names)}


def _integer_ticks(axis: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _new_figure(width: float = 7.0, height: float = 4.5):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    return fig, fig.add_subplot(1, 1, 1)


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})
    return path


def plot_expected_max(df: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """One PNG per task: expected max validation accuracy after n trials, one line per family.

    Solid: with replacement (Dodge et al.); dotted: without replacement (ends at the best).
    """
    curves = expected_max_curves(df)
    colors = _colors(df["family"].dropna())
    paths = []
    for task, g in curves.groupby("task", sort=True):
        fig, ax = _new_figure()
        for family, c in g.groupby("family", sort=True):
            ax.plot(c["n"], c["emax"], color=colors[family], label=f"{family} (N={len(c)})")
            ax.plot(c["n"], c["emax_wor"], color=colors[family], linestyle=":", linewidth=1)
        ax.set_xlabel("trials n")
        _integer_ticks(ax.xaxis)
        ax.set_ylabel("expected max validation accuracy")
        ax.set_title(f"Expected max validation accuracy after n trials — {task}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, title="solid: with repl., dotted: without", title_fontsize=7)
        paths.append(_save(fig, Path(out_dir) / f"expected_max_{_slug(task)}.png"))
    return paths


def plot_best_so_far(df: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """One PNG per task: best validation accuracy so far against cumulative epochs spent."""
    bsf = best_so_far(df)
    colors = _colors(df["family"].dropna())
    paths = []
    for task, g in bsf.groupby("task", sort=True):
        fig, ax = _new_figure()
        for family, c in g.groupby("family", sort=True):
            ax.step(c["epochs_spent"], c["best_val"], where="post", color=colors[family], label=family)
        ax.set_xlabel("epochs spent (all trials, pruned included)")
        ax.set_ylabel("best validation accuracy so far")
        ax.set_title(f"Best-so-far validation accuracy vs epochs spent — {task}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        paths.append(_save(fig, Path(out_dir) / f"best_so_far_{_slug(task)}.png"))
    return paths


def plot_lr_curves(df: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """One PNG per task: the realised LR curve (user attr ``lr_curve``) of each family's best trial."""
    scored = _complete_scores(df)
    colors = _colors(df["family"].dropna())
    paths = []
    for task, g in scored.groupby("task", sort=True):
        fig, ax = _new_figure()
        drawn = 0
        peaks: list[float] = []
        for family, f in g.groupby("family", sort=True):
            best = _best_row(f)
            curve, steps = best["lr_curve"], best["lr_curve_steps"]
            if not isinstance(curve, (list, tuple)) or not curve:
                continue
            peaks.append(max(curve))
            x = steps if isinstance(steps, (list, tuple)) and len(steps) == len(curve) else range(len(curve))
            ax.plot(
                list(x),
                list(curve),
                color=colors[family],
                label=f"{family} (#{best['number']}, val {best['value']:.3f})",
            )
            drawn += 1
        if not drawn:
            continue
        if max(peaks) > 10 * min(peaks):  # e.g. schedule-free SGD's ~10x LR: a linear axis hides the rest
            ax.set_yscale("log")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("learning rate")
        ax.set_title(f"LR schedule of each family's best trial — {task}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        paths.append(_save(fig, Path(out_dir) / f"lr_curves_{_slug(task)}.png"))
    return paths


def plot_learning_curves(df: pd.DataFrame, out_dir: str | Path, *, top: int = 3) -> list[Path]:
    """One PNG per task: validation accuracy per epoch of each family's ``top`` best trials.

    The best trial of a family is drawn solid, the runners-up thin and faded.
    """
    scored = _complete_scores(df)
    colors = _colors(df["family"].dropna())
    paths = []
    for task, g in scored.groupby("task", sort=True):
        fig, ax = _new_figure()
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
        ax.set_xlabel("epoch")
        _integer_ticks(ax.xaxis)
        ax.set_ylabel("validation accuracy")
        ax.set_title(f"Learning curves of the top {top} trials per family — {task}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        paths.append(_save(fig, Path(out_dir) / f"learning_curves_{_slug(task)}.png"))
    return paths


def plot_confirmations(df: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """One PNG per task: strip plot of confirmed test accuracies per family (median as a bar)."""
    conf = _kind(df, _CONFIRM)
    conf = conf[(conf["state"] == "COMPLETE") & np.isfinite(conf["test_accuracy"])]
    colors = _colors(df["family"].dropna())
    paths = []
    for task, g in conf.groupby("task", sort=True):
        fig, ax = _new_figure()
        families = sorted(g["family"].unique())
        rng = np.random.default_rng(0)  # fixed jitter: the same storage draws the same plot
        for i, family in enumerate(families):
            y = g.loc[g["family"] == family, "test_accuracy"].to_numpy()
            x = i + rng.uniform(-0.12, 0.12, size=y.size)
            ax.scatter(x, y, color=colors[family], s=28, alpha=0.85, zorder=3)
            ax.hlines(np.median(y), i - 0.3, i + 0.3, color="black", linewidth=1.5, zorder=4)
        ax.set_xticks(range(len(families)), families)
        ax.set_xlim(-0.6, len(families) - 0.4)
        ax.set_xlabel("family (bar: median)")
        ax.set_ylabel("test accuracy")
        n = ", ".join(str(int((g["family"] == f).sum())) for f in families)
        ax.set_title(f"Confirmed test accuracy per family (runs: {n}) — {task}", fontsize=10)
        ax.grid(alpha=0.3, axis="y")
        paths.append(_save(fig, Path(out_dir) / f"confirmations_{_slug(task)}.png"))
    return paths


# --------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------


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
    if isinstance(storage, str):
        try:
            from sqlalchemy.engine import make_url

            return make_url(storage).render_as_string(hide_password=True)
        except Exception:  # not an SQLAlchemy URL: show as given
            return storage
    return type(storage).__name__


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


def _verdict_section(v: stats.Verdict | None, task_df: pd.DataFrame) -> list[str]:
    lines = ["### Verdict", ""]
    name, direction = _metric_of(task_df)
    points = v is None or v.metric.endswith("accuracy")  # accuracies in percentage points
    if v is None:
        lines += [
            "No verdict: this task lacks confirmation runs of at least two families "
            "(re-train each family's best configuration with fresh seeds: "
            "`python -m lrtune.analyze --confirm 5`).",
            "",
        ]
        scores = score_table(task_df)
        scores = scores[scores["n_complete"] > 0]
        if len(scores) > 1:
            top = scores.sort_values(["best_val", "family"], ascending=[False, True], kind="stable").iloc[0]
            lines += [
                f"Search leader by best {metric_label(name, direction, 'validation')} (not a verdict): "
                f"{top['family']} ({top['best_val']:.4f}).",
                "",
            ]
        return lines
    paired = v.design == "paired"
    effect_name = "median paired difference" if paired else "Hodges–Lehmann shift"
    lines += [
        f"**{v.text}**",
        "",
        f"Budget: {v.budget}.",
        "",
        f"Rule ({stats.design_text(paired, v.alpha)}): the leader is the family with the "
        f"best median {v.metric}; because it is chosen from the data its tests are "
        f"two-sided, and it wins only if every other family is separated from it (Holm p ≤ "
        f"{v.alpha:g} and P(leader > other) ≥ {v.min_effect:g}). With all families equal "
        "this names a winner at most 5 % of the time (simulated: docs/verdict.md). The "
        "claim is about the best configuration each search found, re-trained on fresh "
        "seeds; the expected-maximum curves below are the family-level view.",
        "",
    ]
    if not v.reachable:
        lines += [
            f"With these seeds no outcome could clear the rule: {len(v.comparisons) + 1} "
            f"families need at least {v.seeds_needed} {'paired ' if paired else ''}seeds "
            "(`python -m lrtune.analyze --confirm K` adds the missing ones).",
            "",
        ]
    comp = v.comparisons.copy()
    effect_col = "effect (points)" if points else "effect"
    comp[effect_col] = [
        stats.format_effect(row, unit_scale=100.0 if points else 1.0) for _, row in comp.iterrows()
    ]
    center_cols = [c for c in comp.columns if c.endswith("_leader") and c != "n_leader" and c != "leader"] + [
        c for c in comp.columns if c.endswith("_other") and c != "n_other"
    ]
    table = comp[
        [
            "leader",
            "other",
            "n_leader",
            "n_other",
            *center_cols,
            effect_col,
            "p_superiority",
            "p_value",
            "p_holm",
            "separated",
        ]
    ]
    table = table.rename(
        columns={"p_superiority": "P(leader>other)", "p_value": "p (two-sided)", "p_holm": "p (Holm)"}
    )
    lines += [
        f"Effect: {effect_name} of the leader over the other, "
        f"in {'accuracy points' if points else ('−' if direction == 'minimize' else '') + name}, with "
        "its distribution-free interval (coverage achieved in brackets); P(leader>other): "
        + (
            "the share of seeds on which the leader scored higher."
            if paired
            else "U/(n·m), the chance a run of the leader beats a run of the other."
        ),
        "",
    ]
    lines.append(
        markdown_table(table, formats={"P(leader>other)": ".2f", "p (two-sided)": ".4f", "p (Holm)": ".4f"})
    )
    return lines


def _task_section(
    task: str, df: pd.DataFrame, v: stats.Verdict | None, figures: dict[str, dict[str, Path]], out_dir: Path
) -> list[str]:
    task_df = df[df["task"] == task]
    lines = [f"## Task `{task}`", ""]
    name, direction = _metric_of(task_df)
    metric_line = f"Metric: {name}, {direction}d"
    if direction == "minimize":
        metric_line += f"; scores below are −{name} (oriented: higher is better)"
    elif name != "accuracy":
        metric_line += f"; `val_accuracy`/`test_accuracy` below hold the {name}"
    lines += [metric_line + ".", ""]
    lines += _verdict_section(v, task_df)
    conf = confirmation_table(task_df)
    if not conf.empty:
        lines += [
            f"Confirmation runs ({metric_label(name, direction)}):",
            "",
            markdown_table(conf.drop(columns="task")),
        ]
    budget = budget_table(task_df)
    if not budget.empty:
        lines += ["### Search budget", "", markdown_table(budget[_BUDGET_COLS], formats={"seconds": ".1f"})]
        scores = score_table(task_df)
        lines += [
            "### Search scores",
            "",
            f"Final-epoch {metric_label(name, direction, 'validation')} of COMPLETE trials (pruned trials are never "
            "scores); `test_of_best` is reported only, never used to select.",
            "",
            markdown_table(scores[_SCORE_COLS], formats={"best_lr": ".3g"}),
            "### Expected maximum validation accuracy after n trials",
            "",
            "`emax_n`: with replacement (Dodge et al. 2019); `emax_wor_n`: without "
            "replacement (`emax_wor_N` = best). Curves can cross: a ranking holds only at "
            "its budget n.",
            "",
            markdown_table(scores[_EMAX_COLS]),
        ]
    captions = {
        "confirmations": "Confirmed test accuracy per family",
        "expected_max": "Expected max validation accuracy after n trials",
        "best_so_far": "Best-so-far validation accuracy vs epochs spent",
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


def _trials_csv(df: pd.DataFrame, path: Path) -> Path:
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
    notes = warnings(df, min_seeds=min_seeds)
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
    from lrtune import horizon

    figures["horizon"] = {_task_of(p, "horizon", df): p for p in horizon.plot_horizons(df, out)}
    csv_path = _trials_csv(df, out / "trials.csv")

    n_search = df.loc[df["kind"] == _SEARCH, "study"].nunique()
    n_confirm = df.loc[df["kind"] == _CONFIRM, "study"].nunique()
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
        if _slug(task) == stem:
            return task
    return stem
