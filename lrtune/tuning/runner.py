"""Running a study's trials in this process: family by family in turn, a progress bar, a summary.

Used by ``python -m lrtune.study`` (one process) and by :mod:`lrtune.tuning.workers` (the parent
process of ``--workers N`` shows the bar and the summary while its workers run trials).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Any

import optuna
from tqdm import tqdm

from lrtune.core.schedules import Schedule
from lrtune.tuning import keys
from lrtune.tuning.leases import (
    adopted_retries,
    counted_trials,
    finished_trials,
    open_slots,
    optimize_one,
    wait_for_leases,
    waiting_trials,
)
from lrtune.tuning.objective import run_fused_trials
from lrtune.tuning.storage import display_url

__all__ = [
    "FamilyRun",
    "counted_trials",
    "finished_trials",
    "format_summary",
    "progress_bar",
    "run_round_robin",
    "summary_rows",
    "waiting_trials",
]


@dataclass
class FamilyRun:
    """One family's study and the objective that trains its trials."""

    family: str
    study: optuna.Study
    objective: Any


def run_round_robin(
    runs: list[FamilyRun],
    *,
    trials: int,
    timeout: float | None,
    progress: bool,
    quota: dict[str, int] | None = None,
    fuse: int = 1,
) -> None:
    """One trial (or, with ``fuse`` > 1, one fused group) per family in turn until each has
    ``trials`` counted trials or time is up.

    ``quota`` (a worker of ``--workers``) caps how many trials this process runs per family, so
    N workers together run exactly the missing trials. A fused group asks at most the trials the
    family still misses.
    """
    started = time.monotonic()
    for r in runs:  # dead workers' trials → FAIL (+ a WAITING retry) before counting, for every path
        optuna.storages.fail_stale_trials(r.study)
    left = {r.family: (quota or {}).get(r.family, trials) for r in runs}
    # WAITING now: retries of a dead process, which this process may run even when --trials are counted
    adopted = {r.family: adopted_retries(r.study) for r in runs}
    total = sum(min(left[r.family], max(0, trials - counted_trials(r.study))) for r in runs)
    bar = progress_bar(total, progress)
    try:
        while True:
            ran = False
            for r in runs:
                if timeout is not None and time.monotonic() - started > timeout:
                    return
                n = min(fuse, left[r.family], open_slots(r.study, trials, adopted[r.family]))
                if n <= 0:
                    continue
                left[r.family] -= n
                if fuse > 1:
                    run_fused_trials(r.study, r.objective, n)
                else:
                    optimize_one(r.study, r.objective)  # one line, not a crash, if its lease was lost
                ran = True
                bar.update(n)
                best = _best_trial(r.study)
                bar.set_postfix_str(f"{r.family}: best {best.value:.4f}" if best is not None else r.family)
            if not ran and not wait_for_leases([r.study for r in runs if left[r.family] > 0]):
                return
    finally:
        bar.close()


def progress_bar(total: int, enabled: bool) -> tqdm:
    """A tqdm bar over ``total`` trials on stderr (disabled when not ``enabled`` or nothing to run)."""
    return tqdm(
        total=total,
        desc="trials",
        unit="trial",
        disable=not enabled or total == 0,
        file=sys.stderr,
        dynamic_ncols=True,
    )


def _best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The best COMPLETE trial in the study's direction (``None`` before the first)."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return max(complete, key=keys.trial_rank(study.direction), default=None)


def summary_rows(studies: dict[str, optuna.Study]) -> list[dict[str, Any]]:
    """Per family: counts, best final validation score (the task's metric, best by the study's
    direction), its test score and parameters."""
    rows = []
    for family, study in studies.items():
        trials = study.get_trials(deepcopy=False)
        by_state = lambda s, trials=trials: sum(1 for t in trials if t.state == s)  # noqa: E731
        best = _best_trial(study)
        test_key = "test_score" if best is not None and "test_score" in best.user_attrs else "test_accuracy"
        rows.append(
            {
                "family": family,
                "minimize": study.direction == optuna.study.StudyDirection.MINIMIZE,
                "metric": (study.user_attrs.get(keys.CONFIG) or {}).get("metric", "accuracy"),
                "complete": by_state(optuna.trial.TrialState.COMPLETE),
                "pruned": by_state(optuna.trial.TrialState.PRUNED),
                "diverged": sum(1 for t in trials if t.user_attrs.get("diverged")),
                "failed": by_state(optuna.trial.TrialState.FAIL),
                "best_val": best.value if best else math.nan,
                "test_of_best": best.user_attrs.get(test_key, math.nan) if best else math.nan,
                "best_params": Schedule.from_params(best.params, family=family).describe().split(": ", 1)[1]
                if best
                else "",
                "seconds": sum(t.user_attrs.get("seconds", 0.0) for t in trials),
            }
        )
    return rows


def format_summary(rows: list[dict[str, Any]]) -> str:
    """A plain-text table, one row per family, best first."""

    def order(row: dict[str, Any]) -> float:
        if math.isnan(row["best_val"]):
            return math.inf
        return row["best_val"] if row.get("minimize") else -row["best_val"]

    rows = sorted(rows, key=order)
    header = [
        "family",
        "best val",
        "its test",
        "complete",
        "pruned",
        "diverged",
        "failed",
        "trial s",
        "best parameters",
    ]
    body = [
        [
            r["family"],
            f"{r['best_val']:.4f}",
            f"{r['test_of_best']:.4f}",
            str(r["complete"]),
            str(r["pruned"]),
            str(r["diverged"]),
            str(r["failed"]),
            f"{r['seconds']:.0f}",
            r["best_params"],
        ]
        for r in rows
    ]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i in (0, 8) else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(b) for b in body)])


def print_summary(rows: list[dict[str, Any]], storage: str, seconds: float) -> None:
    """The summary table (after a line naming the task's metric when it is not accuracy), then how
    many trials finished and how to look at them."""
    metrics = sorted({(r.get("metric", "accuracy"), bool(r.get("minimize"))) for r in rows})
    if metrics and metrics != [("accuracy", False)]:
        name, minimize = metrics[0]
        print(f"scores: validation/test {name}, {'lower' if minimize else 'higher'} is better")
    print(format_summary(rows))
    print(
        f"{sum(r['complete'] + r['pruned'] for r in rows)} finished trials in {seconds:.0f} s; "
        f"inspect: python -m lrtune.dashboard --storage {display_url(storage)}"
    )
