"""Trials → one typed pandas frame: the stored-data contract read back, and the rows that count.

:func:`load_trials` reads every lrtune study of a storage (one study per schedule family, see
``docs/architecture.md`` for the stored-data contract) into one tidy frame, one row per trial;
every other function of :mod:`lrtune.report` takes that frame. The selectors here say which
rows count: :func:`rows_of_kind` (confirmations: only those of the currently confirmed trial),
:func:`complete_scores` (COMPLETE search trials with a finite value — a PRUNED trial's stored
value is its last intermediate value, kept apart as ``last_intermediate`` and never a score)
and :func:`best_row`.

A task whose metric is not accuracy (``metric``/``direction`` in its stored configuration, e.g.
a user task minimising its loss) is read as *oriented* scores, higher is better: ``value``,
``last_intermediate``, ``intermediate_values``, ``val_score`` and ``test_score`` hold
``sign · score`` of its metric (``sign`` = −1 when minimising), as for users' own studies; the
``metric`` and ``metric_direction`` columns beside them say which (:func:`metric_of`,
:func:`metric_label`). ``val_score``/``test_score`` are the stored ``val_accuracy``/
``test_accuracy`` attrs of an accuracy task, the ``val_score``/``test_score`` attrs otherwise.

Users' own studies (:mod:`lrtune.report.own_studies`) load into the same frame with the metric
:data:`OWN_METRIC` ("objective": the value their objective returned, no split of lrtune's).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
import pandas as pd

from lrtune.errors import LrtuneError
from lrtune.tuning import keys
from lrtune.tuning.storage import open_read_only

__all__ = [
    "CONFIRM",
    "CONTRACT_ATTRS",
    "OBJECT_COLUMNS",
    "OWN_METRIC",
    "SEARCH",
    "TRIAL_COLUMNS",
    "AnalysisError",
    "as_storage",
    "metric_label",
    "metric_of",
    "best_row",
    "complete_scores",
    "confirm_command",
    "is_lrtune_study",
    "load_trials",
    "params_of",
    "rows_of_kind",
    "study_info",
    "trial_epochs",
    "trial_row",
    "typed_frame",
]

#: Scalar trial columns from the stored-data contract's user attrs, with their dtype in the frame
#: (``val_score``/``test_score``: the task's metric, see :func:`trial_row`).
CONTRACT_ATTRS: dict[str, str] = {
    "val_score": "float64",
    "test_score": "float64",
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

#: The object columns, after ``params_*``.
OBJECT_COLUMNS = ["intermediate_values", "lr_curve", "lr_curve_steps"]
#: The ``kind`` column of search trials and of confirmation runs (the stored ``lrtune_kind``).
SEARCH, CONFIRM = keys.KIND_SEARCH, keys.KIND_CONFIRM
#: The ``metric`` of a user's own study: the objective value itself (lrtune knows no split of it).
OWN_METRIC = "objective"


class AnalysisError(LrtuneError, ValueError):
    """The storage cannot be analysed (no studies, no lrtune studies, unknown study name, ...)."""


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------


def as_storage(storage: str | optuna.storages.BaseStorage) -> optuna.storages.BaseStorage:
    """A storage object for a URL, opened read-only (:func:`lrtune.tuning.storage.open_read_only`), or
    the storage itself."""
    return open_read_only(storage) if isinstance(storage, str) else storage


def is_lrtune_study(user_attrs: dict[str, Any]) -> bool:
    """Whether a study was written by ``python -m lrtune.study``: it has ``lrtune_config`` or ``lrtune_family``."""
    return keys.CONFIG in user_attrs or keys.FAMILY in user_attrs


def _sampler_name(config: dict[str, Any]) -> str | None:
    sampler = config.get("sampler")
    if isinstance(sampler, dict):
        sampler = sampler.get("name") or sampler.get("type")
    return None if sampler is None else str(sampler)


def study_info(summary: optuna.study.StudySummary) -> dict[str, Any]:
    """Study-level columns from the study user attrs (lrtune_config/family/task/kind)."""
    attrs = summary.user_attrs
    config = attrs.get(keys.CONFIG) or {}
    if not isinstance(config, dict):
        config = {}
    name = summary.study_name
    kind = attrs.get(keys.KIND) or (CONFIRM if name.endswith(":confirm") else SEARCH)
    task = attrs.get(keys.TASK)
    if task is None and {"dataset", "model", "epochs", "optimizer"} <= set(config):
        task = f"{config['dataset']}/{config['model']}/{config['epochs']}ep/{config['optimizer']}"
    epochs = config.get("epochs")
    metric = str(config.get("metric") or "accuracy")
    direction = str(config.get("direction") or "maximize")  # stored with any metric but accuracy
    return {
        "study": name,
        "task": str(task) if task is not None else "unknown",
        "metric": metric,
        "metric_direction": direction,
        "sign": -1.0 if direction == "minimize" else 1.0,
        "kind": str(kind),
        "family": attrs.get(keys.FAMILY) or config.get("family"),
        "config_epochs": int(epochs) if isinstance(epochs, (int, float)) else None,
        "horizon": int(attrs.get(keys.HORIZON, 1)),
        "sampler": _sampler_name(config),
        "confirmed_trial": attrs.get(keys.CONFIRMED_TRIAL),
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


def trial_row(info: dict[str, Any], trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
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
    row["val_score"], row["test_score"] = attrs.get("val_accuracy"), attrs.get("test_accuracy")
    _orient(row, attrs, info.get("metric", "accuracy"), info.get("sign", 1.0))
    row.update(_lr_columns(trial))
    for name, param in trial.params.items():
        row[f"params_{name}"] = param
    return row


def _orient(row: dict[str, Any], attrs: dict[str, Any], metric: str, sign: float) -> None:
    """A task's own metric: val/test columns take its scores; all scores become ``sign · score``."""
    if metric != "accuracy":
        row["val_score"], row["test_score"] = attrs.get("val_score"), attrs.get("test_score")
    if sign == 1.0:
        return
    for key in ("value", "last_intermediate", "val_score", "test_score"):
        row[key] = None if row[key] is None else sign * float(row[key])
    row["intermediate_values"] = {k: sign * v for k, v in row["intermediate_values"].items()}


def metric_of(df: pd.DataFrame) -> tuple[str, str]:
    """``(metric, direction)`` of a task's rows; accuracy, maximize when unknown (users' own studies)."""
    if "metric" not in df.columns:
        return "accuracy", "maximize"
    pairs = df[["metric", "metric_direction"]].dropna().drop_duplicates()
    return (str(pairs.iloc[0, 0]), str(pairs.iloc[0, 1])) if len(pairs) else ("accuracy", "maximize")


def metric_label(metric: str, direction: str, split: str = "test") -> str:
    """``"test accuracy"``; otherwise the direction and that scores are oriented, e.g.
    ``"test loss (minimised, compared as −loss)"``. A user's own study (:data:`OWN_METRIC`)
    has no split: ``"objective (maximised)"``, ``"objective (minimised, compared as −objective)"``."""
    name = metric if metric == OWN_METRIC else f"{split} {metric}"
    if (metric, direction) == ("accuracy", "maximize"):
        return name
    if direction == "minimize":
        return f"{name} (minimised, compared as −{metric})"
    return f"{name} (maximised)"


def confirm_command(df: pd.DataFrame, seeds: str | int = 5) -> str:
    """How to confirm a task's families with ``seeds`` fresh seeds: ``python -m lrtune.analyze
    --confirm 5``, or for a user's own study (:data:`OWN_METRIC`) ``lrtune.confirm(study,
    objective, seeds=5)`` with their objective."""
    if metric_of(df)[0] == OWN_METRIC:
        return f"lrtune.confirm(study, objective, seeds={seeds if isinstance(seeds, int) else repr(seeds)})"
    return f"python -m lrtune.analyze --confirm {seeds}"


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
    wanted = set(names) | {keys.confirm_study_name(n) for n in names}
    # horizon checks (lrtune.tuning.confirmations, horizon=M): the name at M without its digits
    horizons = {keys.confirm_study_name(n, 2)[:-1] for n in names}
    return [s for s in summaries if s.study_name in wanted or re.sub(r"\d+$", "", s.study_name) in horizons]


def typed_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows of :func:`trial_row` → the frame: :data:`TRIAL_COLUMNS`, ``params_*``, object columns, typed and sorted."""
    frame = pd.DataFrame(rows)
    param_cols = sorted(c for c in frame.columns if c.startswith("params_"))
    for col in TRIAL_COLUMNS + OBJECT_COLUMNS:
        if col not in frame.columns:
            frame[col] = pd.Series([None] * len(frame), dtype=object)
    frame = frame[TRIAL_COLUMNS + param_cols + OBJECT_COLUMNS].copy()
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
    the object columns intermediate_values (dict epoch → validation score), lr_curve, lr_curve_steps.
    Sorted by task, kind, family, study, number. Raises :class:`AnalysisError` when the storage
    has no studies, no lrtune studies, or a named study is missing.
    """
    storage = as_storage(storage)
    summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
    if not summaries:
        raise AnalysisError("the storage holds no studies")
    lrtune_summaries = [s for s in summaries if is_lrtune_study(s.user_attrs)]
    if not lrtune_summaries:
        names = ", ".join(sorted(s.study_name for s in summaries))
        raise AnalysisError(
            f"the storage holds no lrtune studies (none has the study user attr "
            f"'lrtune_config' or 'lrtune_family'); it has: {names}"
        )
    selected = _select_studies(lrtune_summaries, studies)
    rows = []
    for summary in sorted(selected, key=lambda s: s.study_name):
        info = study_info(summary)
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        rows.extend(trial_row(info, t) for t in study.get_trials(deepcopy=False))
    return typed_frame(rows)


# --------------------------------------------------------------------------------------------
# the rows that count
# --------------------------------------------------------------------------------------------


def rows_of_kind(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Rows of one kind; for confirmations only those of the currently confirmed search trial.

    ``lrtune.confirm`` re-confirms when the search found a new best; runs of the older best stay
    stored (and in trials.csv) but no longer speak for the family.
    """
    rows = df[df["kind"] == kind]
    if kind == CONFIRM and "confirmed_trial" in rows.columns:
        current = rows["confirmed_trial"].isna() | (rows["source_trial"] == rows["confirmed_trial"])
        rows = rows[current]
    return rows


def complete_scores(df: pd.DataFrame) -> pd.DataFrame:
    """COMPLETE search trials with a finite value: the only rows that count as scores."""
    search = rows_of_kind(df, SEARCH)
    return search[(search["state"] == "COMPLETE") & np.isfinite(search["value"])]


def best_row(g: pd.DataFrame) -> pd.Series | None:
    """The highest-value row; ties go to the earliest (study, number): deterministic."""
    if g.empty:
        return None
    ordered = g.sort_values(["value", "study", "number"], ascending=[False, True, True], kind="stable")
    return ordered.iloc[0]


def trial_epochs(df: pd.DataFrame) -> pd.Series:
    """Epochs a trial spent: the ``epochs_run`` attr, else the number of reported epochs."""
    reported = df["n_reported"].astype("float64")
    return df["epochs_run"].astype("float64").fillna(reported)


def params_of(row: pd.Series) -> dict[str, Any]:
    """{name: value} of a frame row's set ``params_<name>`` columns (NaN/None/NA left out)."""
    return {
        c[len("params_") :]: v
        for c, v in row.items()
        if c.startswith("params_")
        and not (isinstance(v, float) and np.isnan(v))
        and v is not None
        and v is not pd.NA
    }
