"""The report side: an Optuna storage → one pandas frame → tables, checks, verdict, plots, report.

Pandas in, pandas out; it reads the storage and never trains (``python -m lrtune.analyze`` is
its command). The modules, in the order data flows through them:

* ``frame``: :func:`load_trials` — every lrtune study as one typed frame, one row per trial,
  and the selectors of the rows that count (COMPLETE search scores, current confirmations).
* ``tables``: budget, scores, expected-max curves, best so far, confirmations; markdown tables.
* ``checks``: :func:`check_trials` — everything that weakens a conclusion, one sentence each.
* ``verdicts``: :func:`verdict_from_confirmations` (``lrtune.stats.verdict`` on the
  confirmation runs), the search-only verdict and the report's verdict section.
* ``plots``: the five plots, each drawn in the one :func:`~lrtune.report.plots.figure` helper.
* ``horizon``: the horizon check (verdict at M× the epochs, does the winner change).
* ``document``: :func:`write_report` — ``report.md``, ``trials.csv`` and the plots.
* ``own_studies``, ``own_report``, ``own_plots``: the same for *your own* Optuna studies that
  used ``lrtune.suggest_schedule`` (recognised by their parameter names).

This package re-exports the public names of those modules.
"""

from lrtune.report.checks import check_trials
from lrtune.report.document import Report, write_report, write_trials_csv
from lrtune.report.frame import CONTRACT_ATTRS, TRIAL_COLUMNS, AnalysisError, load_trials
from lrtune.report.own_report import analyze_own, write_own_report
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

__all__ = [
    "CONTRACT_ATTRS",
    "TRIAL_COLUMNS",
    "AnalysisError",
    "OwnStudy",
    "Report",
    "analyze_own",
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
