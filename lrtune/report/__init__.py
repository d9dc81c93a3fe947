"""The report side: an Optuna storage → one pandas frame → tables, checks, verdict, plots, report.

Pandas in, pandas out; it reads the storage and never trains (``python -m lrtune.analyze`` is
its command). The modules, in the order data flows through them:

* ``frame``: :func:`load_trials` — every lrtune study as one typed frame, one row per trial,
  and the selectors of the rows that count (COMPLETE search scores, current confirmations).
* ``own_studies``: :func:`load_own_trials` — *your own* Optuna studies that used
  ``lrtune.suggest_schedule`` (recognised by their parameter names) loaded into the same frame;
  everything below then treats them as it treats lrtune's.
* ``tables``: budget, scores, expected-max curves, best so far, confirmations; markdown tables.
* ``checks``: :func:`check_trials` — everything that weakens a conclusion, one sentence each.
* ``verdicts``: :func:`verdict_from_confirmations` (``lrtune.stats.verdict`` on the
  confirmation runs), the search-only verdict and the report's verdict section.
* ``plots``: the five plots, each drawn in the one :func:`~lrtune.report.plots.figure` helper.
* ``horizon``: the horizon check (verdict at M× the epochs, does the winner change).
* ``document``: :func:`write_report` — ``report.md``, ``trials.csv`` and the plots.
* ``notes``: optuna-dashboard notes and LR-curve artifacts (imported by the commands that
  write them; it needs no pandas).

This package re-exports the public names of those modules, each loaded on first use (PEP 562),
so ``from lrtune.report import notes`` does not pay for pandas and the plots.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_HOMES = {
    "AnalysisError": "lrtune.report.frame",
    "CONTRACT_ATTRS": "lrtune.report.frame",
    "OwnStudy": "lrtune.report.own_studies",
    "Report": "lrtune.report.document",
    "TRIAL_COLUMNS": "lrtune.report.frame",
    "best_so_far": "lrtune.report.tables",
    "budget_table": "lrtune.report.tables",
    "check_trials": "lrtune.report.checks",
    "confirmation_table": "lrtune.report.tables",
    "expected_max_curves": "lrtune.report.tables",
    "find_own_studies": "lrtune.report.own_studies",
    "has_lrtune_studies": "lrtune.report.own_studies",
    "load_own_trials": "lrtune.report.own_studies",
    "load_trials": "lrtune.report.frame",
    "markdown_table": "lrtune.report.tables",
    "plot_best_so_far": "lrtune.report.plots",
    "plot_confirmations": "lrtune.report.plots",
    "plot_expected_max": "lrtune.report.plots",
    "plot_learning_curves": "lrtune.report.plots",
    "plot_lr_curves": "lrtune.report.plots",
    "score_table": "lrtune.report.tables",
    "search_verdict": "lrtune.report.verdicts",
    "verdict_from_confirmations": "lrtune.report.verdicts",
    "verdicts_by_task": "lrtune.report.verdicts",
    "wants_own_analysis": "lrtune.report.own_studies",
    "write_own_report": "lrtune.report.document",
    "write_report": "lrtune.report.document",
    "write_trials_csv": "lrtune.report.document",
}

__all__ = [
    "AnalysisError",
    "CONTRACT_ATTRS",
    "OwnStudy",
    "Report",
    "TRIAL_COLUMNS",
    "best_so_far",
    "budget_table",
    "check_trials",
    "confirmation_table",
    "expected_max_curves",
    "find_own_studies",
    "has_lrtune_studies",
    "load_own_trials",
    "load_trials",
    "markdown_table",
    "plot_best_so_far",
    "plot_confirmations",
    "plot_expected_max",
    "plot_learning_curves",
    "plot_lr_curves",
    "score_table",
    "search_verdict",
    "verdict_from_confirmations",
    "verdicts_by_task",
    "wants_own_analysis",
    "write_own_report",
    "write_report",
    "write_trials_csv",
]

if TYPE_CHECKING:
    from lrtune.report.checks import check_trials
    from lrtune.report.document import Report, write_own_report, write_report, write_trials_csv
    from lrtune.report.frame import CONTRACT_ATTRS, TRIAL_COLUMNS, AnalysisError, load_trials
    from lrtune.report.own_studies import (
        OwnStudy,
        find_own_studies,
        has_lrtune_studies,
        load_own_trials,
        wants_own_analysis,
    )
    from lrtune.report.plots import (
        plot_best_so_far,
        plot_confirmations,
        plot_expected_max,
        plot_learning_curves,
        plot_lr_curves,
    )
    from lrtune.report.tables import (
        best_so_far,
        budget_table,
        confirmation_table,
        expected_max_curves,
        markdown_table,
        score_table,
    )
    from lrtune.report.verdicts import search_verdict, verdict_from_confirmations, verdicts_by_task


def __getattr__(name: str) -> Any:
    """Import a public name's home module the first time the name is used."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'lrtune.report' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
