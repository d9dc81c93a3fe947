"""Analyse *your own* Optuna study: any study whose objective used ``lrtune.suggest_schedule``.

lrtune's own studies carry study user attrs (``lrtune_config``, ``lrtune_family``); a study
written with plain Optuna has none, only the parameter names of lrtune's spaces. This module
recognises them (:func:`lrtune.recognize.recognize_space`: joint or one-family space, any
prefix, next to the caller's own parameters), loads the trials into the same frame as
:func:`lrtune.analysis.load_trials` and writes a report with the same building blocks.

* **Direction.** The study's direction is read from the storage. Internally every value is a
  *score*, higher is better: ``score = objective`` when the study maximises,
  ``score = −objective`` when it minimises (a loss). Tables and plots show the objective itself,
  and the report says which way is better.
* **Comparison unit** (the report's "task"). A joint-space study is compared within itself. One-
  family studies whose names differ only by the family name (``mytask-cosine``,
  ``mytask-step``: lrtune's own naming) and share the prefix and direction form one task
  ``mytask-*``; a study user attr ``lrtune_task`` overrides this.
* **Verdict.** With confirmation runs (``lrtune.confirm(study, objective, seeds=5)`` writes them
  into ``"<study>:confirm"``) the verdict is :func:`lrtune.analysis.verdict_from_confirmations`
  on the confirmation runs' objective values (fresh seeds, never pruned). Without them, a
  provisional verdict on the COMPLETE search trials' values is given and labelled as resting
  on search results only (best values are optimistic; no fresh seeds).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

from lrtune import analysis, stats
from lrtune.recognize import LOOKED_FOR, ScheduleSpace, recognize_space
from lrtune.schedules import Schedule

__all__ = [
    "OwnStudy",
    "find_own_studies",
    "analyze_own",
    "has_lrtune_studies",
    "wants_own_analysis",
    "load_own_trials",
    "write_own_report",
    "LR_CURVE_STEPS",
]

LR_CURVE_STEPS = 1000
"""Steps of the rebuilt LR curves; schedules are defined on progress, so the x axis is the
fraction of training (the study does not store how many steps the user trained)."""

_SEARCH, _CONFIRM = "search", "confirm"


@dataclass(frozen=True)
class OwnStudy:
    """A user's study with an lrtune space: its name, direction, space and comparison unit."""

    name: str
    direction: str  # "maximize" or "minimize"
    space: ScheduleSpace
    task: str
    own_params: tuple[str, ...]
    confirm_study: str | None

    @property
    def sign(self) -> float:
        return -1.0 if self.direction == "minimize" else 1.0


def has_lrtune_studies(storage: optuna.storages.BaseStorage) -> bool:
    """Whether the storage holds studies written by ``python -m lrtune.study``."""
    return any(
        analysis._is_lrtune(s.user_attrs)  # noqa: SLF001 — one rule, defined there
        for s in optuna.get_all_study_summaries(storage, include_best_trial=False)
    )


def wants_own_analysis(
    storage: optuna.storages.BaseStorage, names: Sequence[str] | None, prefix: str | None
) -> bool:
    """Analyse users' own studies: asked for (``prefix``), a named study is not lrtune's, or
    the storage holds no lrtune studies at all."""
    if prefix is not None:
        return True
    summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
    lrtune_names = {s.study_name for s in summaries if analysis._is_lrtune(s.user_attrs)}  # noqa: SLF001
    if names:
        all_names = {s.study_name for s in summaries}
        return any(n in all_names and n not in lrtune_names for n in names)
    return bool(summaries) and not lrtune_names


def _union_distributions(storage, study_id: int) -> dict[str, Any]:
    union: dict[str, Any] = {}
    for t in storage.get_all_trials(study_id, deepcopy=False):
        union.update(t.distributions)
    return union


def _task_name(name: str, space: ScheduleSpace, attrs: dict[str, Any]) -> str:
    if attrs.get("lrtune_task"):
        return str(attrs["lrtune_task"])
    if space.joint:
        return name
    family = space.families[0]
    pattern = rf"(?<![A-Za-z0-9]){re.escape(family)}(?![A-Za-z0-9])"
    stripped = re.sub(pattern, "*", name)
    return stripped if stripped != name else name


def find_own_studies(
    storage: optuna.storages.BaseStorage,
    names: Sequence[str] | None = None,
    *,
    prefix: str | None = None,
) -> list[OwnStudy]:
    """The storage's studies that used an lrtune space (or the named ones), sorted by name.

    Studies written by lrtune itself and ``:confirm`` studies are not listed. Raises
    :class:`lrtune.analysis.AnalysisError` when a named study is missing or none was recognised
    (the message names what was looked for), or when a study holds several spaces and
    ``prefix`` is None.
    """
    summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
    if not summaries:
        raise analysis.AnalysisError("the storage holds no studies")
    by_name = {s.study_name: s for s in summaries}
    if names:
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise analysis.AnalysisError(
                f"no study named {', '.join(map(repr, unknown))}; the storage has {', '.join(sorted(by_name))}"
            )
        candidates = [by_name[n] for n in names]
    else:
        candidates = [
            s for s in summaries if not s.study_name.endswith(":confirm") and not analysis._is_lrtune(s.user_attrs)
        ]  # noqa: SLF001
    found, problems = [], []
    for summary in sorted(candidates, key=lambda s: s.study_name):
        if len(summary.directions) != 1:
            problems.append(f"{summary.study_name}: multi-objective")
            continue
        study_id = storage.get_study_id_from_name(summary.study_name)
        distributions = _union_distributions(storage, study_id)
        try:
            space = recognize_space(distributions, prefix=prefix)
        except ValueError as exc:
            problems.append(f"{summary.study_name}: {exc}")
            continue
        confirm = f"{summary.study_name}:confirm"
        found.append(
            OwnStudy(
                name=summary.study_name,
                direction=summary.directions[0].name.lower(),
                space=space,
                task=_task_name(summary.study_name, space, summary.user_attrs),
                own_params=tuple(sorted(n for n in distributions if n not in space.names)),
                confirm_study=confirm if confirm in by_name else None,
            )
        )
    # studies compared together must agree on direction and prefix; otherwise each stands alone
    for task in {o.task for o in found}:
        group = [o for o in found if o.task == task]
        if len({(o.direction, o.space.prefix) for o in group}) > 1:
            found = [dataclasses.replace(o, task=o.name) if o.task == task else o for o in found]
    if not found:
        several = [p for p in problems if "several lrtune schedule spaces" in p]
        if several:
            raise analysis.AnalysisError(several[0])
        where = ", ".join(sorted(s.study_name for s in candidates)) or "none"
        looked = LOOKED_FOR if prefix is None else LOOKED_FOR.replace("<prefix>", prefix)
        raise analysis.AnalysisError(
            f"no study used lrtune's search spaces (looked for {looked}; studies: {where})"
        )
    return found


def _rows(storage, own: OwnStudy, study_name: str, kind: str) -> list[dict[str, Any]]:
    study = optuna.load_study(study_name=study_name, storage=storage)
    confirmed = study.user_attrs.get("lrtune_confirmed_trials") or {}
    info = {
        "study": study_name,
        "task": own.task,
        "kind": kind,
        "family": None,
        "config_epochs": None,
        "sampler": None,
        "confirmed_trial": None,
    }
    lr_name = f"{own.space.prefix}lr"
    rows = []
    for trial in study.get_trials(deepcopy=False):
        row = analysis._trial_row(info, trial)  # noqa: SLF001 — the same row layout
        family = trial.user_attrs.get("family") or own.space.family_of(trial.params)
        objective = trial.values[0] if (trial.state.name == "COMPLETE" and trial.values) else np.nan
        row.update(
            family=family or "unknown",
            value=own.sign * float(objective),
            objective=float(objective),
            direction=own.direction,
        )
        row["last_intermediate"] = own.sign * row["last_intermediate"]
        if kind == _CONFIRM:
            # the verdict compares the re-runs' objective values (as scores, higher = better)
            row["test_accuracy"] = row["value"]
            row["confirmed_trial"] = confirmed.get(row["family"])
        row.update(lr_param=None, lr=np.nan, lr_low=np.nan, lr_high=np.nan, lr_log=None)
        if lr_name in trial.params:
            dist = trial.distributions[lr_name]
            row.update(lr_param=lr_name, lr=float(trial.params[lr_name]))
            if hasattr(dist, "low"):
                row.update(lr_low=float(dist.low), lr_high=float(dist.high), lr_log=bool(dist.log))
        rows.append(row)
    return rows


def load_own_trials(
    storage: optuna.storages.BaseStorage,
    *,
    studies: Sequence[str] | None = None,
    prefix: str | None = None,
) -> tuple[pd.DataFrame, list[OwnStudy]]:
    """The trials of the user's studies (and their ``:confirm`` studies) as one frame.

    Columns as :func:`lrtune.analysis.load_trials`, with ``value`` the *score* (the objective,
    negated for a minimised study; NaN unless COMPLETE), plus ``objective`` (the value as the
    study stores it) and ``direction``. Confirmation runs carry their score in
    ``test_accuracy`` (what :func:`lrtune.analysis.verdict_from_confirmations` compares).
    """
    owns = find_own_studies(storage, studies, prefix=prefix)
    rows: list[dict[str, Any]] = []
    for own in owns:
        rows += _rows(storage, own, own.name, _SEARCH)
        if own.confirm_study:
            rows += _rows(storage, own, own.confirm_study, _CONFIRM)
    if not rows:
        raise analysis.AnalysisError(f"the studies {', '.join(o.name for o in owns)} hold no trials yet")
    extra = pd.DataFrame([{k: r[k] for k in ("study", "number", "objective", "direction")} for r in rows])
    frame = analysis._typed_frame(rows)  # noqa: SLF001 — the same columns and dtypes
    frame = frame.merge(extra, on=["study", "number"], how="left", validate="one_to_one")
    return frame, owns


# --------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------


def _metric(direction: str) -> str:
    return (
        "objective value (minimised: lower is better)"
        if direction == "minimize"
        else "objective value (maximised: higher is better)"
    )


def _search_verdict(df: pd.DataFrame, task: str, direction: str) -> stats.Verdict | None:
    search = df[
        (df["task"] == task) & (df["kind"] == _SEARCH) & (df["state"] == "COMPLETE") & np.isfinite(df["value"])
    ]
    samples = {f: g["value"].to_numpy() for f, g in search.groupby("family", sort=True)}
    if len(samples) < 2:
        return None
    n = ", ".join(f"{f} {len(v)}" for f, v in samples.items())
    return stats.verdict(
        samples,
        metric="search objective value",
        budget=f"COMPLETE search trials per family: {n} (search results only, no fresh seeds)",
    )


def _confirmed_verdict(df: pd.DataFrame, task: str, direction: str) -> stats.Verdict | None:
    try:
        return analysis.verdict_from_confirmations(df, task=task, metric="objective value")
    except analysis.AnalysisError:
        return None


def _raw(values: pd.Series | np.ndarray, sign: float) -> Any:
    return values * sign


def _score_section(task_df: pd.DataFrame, group: list[OwnStudy]) -> list[str]:
    own = group[0]
    by_study = {o.name: o for o in group}
    scores = analysis.score_table(task_df)
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
    scored = task_df[(task_df["kind"] == _SEARCH) & (task_df["state"] == "COMPLETE")]
    for row in scores.itertuples(index=False):
        match = scored[(scored["study"] == row.best_study) & (scored["number"] == row.best_trial)]
        params = _params_of(match.iloc[0]) if len(match) else {}
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
        analysis.markdown_table(out, formats={"best_lr": ".3g"}),
    ]


def _params_of(row: pd.Series) -> dict[str, Any]:
    return {
        c[len("params_") :]: v
        for c, v in row.items()
        if c.startswith("params_")
        and not (isinstance(v, float) and np.isnan(v))
        and v is not None
        and v is not pd.NA
    }


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v)


def _describe(params: dict[str, Any], own: OwnStudy, family: str) -> str:
    try:
        return Schedule.from_params(params, family=family, prefix=own.space.prefix).describe()
    except (ValueError, KeyError, TypeError) as exc:
        return f"(cannot rebuild: {exc})"


def _confirm_section(task_df: pd.DataFrame, own: OwnStudy) -> list[str]:
    conf = analysis._kind(task_df, _CONFIRM)  # noqa: SLF001 — runs of the current best only
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
        analysis.markdown_table(pd.DataFrame(rows)),
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


def _warnings(df: pd.DataFrame) -> list[str]:
    out = []
    for w in analysis.warnings(df):
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


# plots ------------------------------------------------------------------------------------


def _plot_expected_best(task_df: pd.DataFrame, own: OwnStudy, path: Path) -> Path | None:
    curves = analysis.expected_max_curves(task_df)
    if curves.empty:
        return None
    colors = analysis._colors(task_df["family"].dropna())  # noqa: SLF001
    fig, ax = analysis._new_figure()  # noqa: SLF001
    for family, c in curves.groupby("family", sort=True):
        ax.plot(c["n"], own.sign * c["emax"], color=colors[family], label=f"{family} (N={len(c)})")
        ax.plot(c["n"], own.sign * c["emax_wor"], color=colors[family], linestyle=":", linewidth=1)
    ax.set_xlabel("trials n")
    analysis._integer_ticks(ax.xaxis)  # noqa: SLF001
    ax.set_ylabel(f"expected best objective ({'lower' if own.sign < 0 else 'higher'} is better)")
    ax.set_title(f"Expected best objective after n trials — {own.task}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title="solid: with repl., dotted: without", title_fontsize=7)
    return analysis._save(fig, path)  # noqa: SLF001


def _plot_best_so_far(task_df: pd.DataFrame, own: OwnStudy, path: Path) -> Path | None:
    bsf = analysis.best_so_far(task_df)
    if bsf.empty:
        return None
    colors = analysis._colors(task_df["family"].dropna())  # noqa: SLF001
    fig, ax = analysis._new_figure()  # noqa: SLF001
    for family, c in bsf.groupby("family", sort=True):
        ax.step(c["trials_run"], own.sign * c["best_val"], where="post", color=colors[family], label=family)
    ax.set_xlabel("trials run (pruned included)")
    analysis._integer_ticks(ax.xaxis)  # noqa: SLF001
    ax.set_ylabel("best objective so far")
    ax.set_title(f"Best-so-far objective vs trials — {own.task}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return analysis._save(fig, path)  # noqa: SLF001


def _plot_lr_curves(task_df: pd.DataFrame, own: OwnStudy, path: Path) -> Path | None:
    scored = analysis._complete_scores(task_df)  # noqa: SLF001
    if scored.empty:
        return None
    colors = analysis._colors(task_df["family"].dropna())  # noqa: SLF001
    fig, ax = analysis._new_figure()  # noqa: SLF001
    x = np.arange(LR_CURVE_STEPS) / LR_CURVE_STEPS
    for family, g in scored.groupby("family", sort=True):
        best = analysis._best_row(g)  # noqa: SLF001
        try:
            schedule = Schedule.from_params(_params_of(best), family=family, prefix=own.space.prefix)
        except (ValueError, KeyError, TypeError):
            continue
        ax.plot(
            x,
            schedule.curve(LR_CURVE_STEPS),
            color=colors[family],
            label=f"{family} (#{best['number']}, {best['objective']:.4g})",
        )
    ax.set_xlabel("fraction of training (schedules are defined on progress)")
    ax.set_ylabel("learning rate")
    ax.set_yscale("log")
    ax.set_title(f"Best LR schedule of each family, rebuilt from its params — {own.task}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return analysis._save(fig, path)  # noqa: SLF001


def _plot_confirmations(task_df: pd.DataFrame, own: OwnStudy, path: Path) -> Path | None:
    conf = analysis._kind(task_df, _CONFIRM)  # noqa: SLF001
    conf = conf[(conf["state"] == "COMPLETE") & np.isfinite(conf["objective"])]
    if conf.empty:
        return None
    colors = analysis._colors(task_df["family"].dropna())  # noqa: SLF001
    fig, ax = analysis._new_figure()  # noqa: SLF001
    families = sorted(conf["family"].unique())
    rng = np.random.default_rng(0)
    for i, family in enumerate(families):
        y = conf.loc[conf["family"] == family, "objective"].to_numpy()
        ax.scatter(i + rng.uniform(-0.12, 0.12, size=y.size), y, color=colors[family], s=28, alpha=0.85, zorder=3)
        ax.hlines(np.median(y), i - 0.3, i + 0.3, color="black", linewidth=1.5, zorder=4)
    ax.set_xticks(range(len(families)), families)
    ax.set_xlim(-0.6, len(families) - 0.4)
    ax.set_xlabel("family (bar: median)")
    ax.set_ylabel(f"objective ({'lower' if own.sign < 0 else 'higher'} is better)")
    ax.set_title(f"Confirmation runs (fresh seeds) — {own.task}", fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    return analysis._save(fig, path)  # noqa: SLF001


def write_own_report(
    df: pd.DataFrame, owns: list[OwnStudy], out_dir: str | Path, *, storage_label: str
) -> analysis.Report:
    """Write report.md, trials.csv and PNGs for the user's studies; verdicts per task.

    ``Report.verdicts`` holds the confirmed verdict of a task, else its search-only verdict
    (its text starts with "search-only"), else None (one family).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    notes = _warnings(df)
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
        search_v = _search_verdict(df, task, own.direction)
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
        budget = analysis.budget_table(task_df)
        if not budget.empty:
            sections += [
                "### Search budget",
                "",
                analysis.markdown_table(budget.drop(columns=["task", "seconds"])),
            ]
        sections += _score_section(task_df, group)
        slug = analysis._slug(task)  # noqa: SLF001
        plots = []
        for key, plot, caption in (
            ("confirmations", _plot_confirmations, "Confirmation runs"),
            ("expected_best", _plot_expected_best, "Expected best objective after n trials"),
            ("best_so_far", _plot_best_so_far, "Best-so-far objective vs trials"),
            ("lr_curves", _plot_lr_curves, "Best LR schedule of each family"),
        ):
            path = plot(task_df, own, out / f"{key}_{slug}.png")
            if path is not None:
                figures.append(path)
                plots.append(f"![{caption}]({path.relative_to(out).as_posix()})\n")
        if plots:
            sections += ["### Plots", ""] + plots
    lines.append("")
    lines += sections
    lines += ["## Warnings", ""] + ([f"- {w}" for w in notes] if notes else ["None."])
    lines += [
        "",
        "## Files",
        "",
        "- [trials.csv](trials.csv): one row per trial; `objective` is "
        "the value as stored, `value` the score (negated when minimised), NaN unless "
        "COMPLETE.",
        "",
    ]
    csv_path = analysis._trials_csv(df, out / "trials.csv")  # noqa: SLF001
    report_path = out / "report.md"
    report_path.write_text("\n".join(lines), encoding="utf-8")
    return analysis.Report(
        path=report_path,
        trials_csv=csv_path,
        figures=sorted(figures),
        verdicts=verdicts,
        warnings=notes,
        trials=df,
    )


def _relabel(v: stats.Verdict, label: str) -> stats.Verdict:
    from dataclasses import replace

    return replace(v, text=label + v.text)


# CLI ----------------------------------------------------------------------------------------


def analyze_own(
    storage,
    *,
    url: str,
    studies: Sequence[str] | None,
    prefix: str | None,
    out_dir: Path,
    label: str,
    write_notes: bool,
) -> tuple[analysis.Report, list[str]]:
    """``python -m lrtune.analyze`` for users' own studies: report + terminal lines."""
    df, owns = load_own_trials(storage, studies=studies, prefix=prefix)
    report = write_own_report(df, owns, out_dir, storage_label=label)
    if write_notes:
        _write_notes(url, report, owns)
    search = df[df["kind"] == _SEARCH]
    states = search["state"].value_counts()
    lines = [
        f"lrtune.analyze: {len(owns)} of your own stud{'y' if len(owns) == 1 else 'ies'} "
        f"({', '.join(o.name for o in owns)}), {search['family'].nunique()} families, "
        f"{len(search)} search trials ({int(states.get('COMPLETE', 0))} complete, "
        f"{int(states.get('PRUNED', 0))} pruned), "
        f"{int((df['kind'] == _CONFIRM).sum())} confirmation runs"
    ]
    for task, v in report.verdicts.items():
        direction = next(o.direction for o in owns if o.task == task)
        lines.append(f"  {task} ({direction}s its objective): " + (v.text if v else "no verdict (one family)"))
    lines.extend(report.footer_lines())
    return report, lines


def _write_notes(url: str, report: analysis.Report, owns: list[OwnStudy]) -> None:
    from lrtune import notes
    from lrtune.storage import open_storage as open_writable

    storage = open_writable(url, heartbeat=False)
    for own in owns:
        v = report.verdicts.get(own.task)
        text = f"**{v.text}**\n\n{v.budget}" if v else "No verdict (one family)."
        text += f"\n\nFull report: `{report.path}`"
        notes.append_verdict_to_note(optuna.load_study(study_name=own.name, storage=storage), text)
