"""lrtune.report.document: write_report."""

from __future__ import annotations

import pandas as pd
from synthetic import TASK, add_search, spread

from lrtune.report import (
    write_report,
)


def test_write_report(full, tmp_path):
    out = tmp_path / "report"
    report = write_report(full, out)
    text = report.path.read_text()
    assert report.path == out / "report.md"
    assert text.startswith("# lrtune report")
    for needle in (
        f"## Task `{TASK}`",
        "**the best configuration found for cosine in 10 trials beats",
        "Budget: confirmation seeds per family",
        "### Search budget",
        "### Search scores",
        "### Expected maximum",
        "## Warnings",
        "[trials.csv](trials.csv)",
        "| family | trials | complete |",
    ):
        assert needle in text, needle
    for figure in report.figures:
        assert f"]({figure.name})" in text
        assert figure.parent == out
    assert len(report.figures) == 5
    assert report.verdicts[TASK].winner == "cosine"
    trials = pd.read_csv(report.trials_csv)
    assert len(trials) == 54 and "lr_curve" not in trials.columns
    assert trials["value"].isna().sum() == 6  # the pruned ones


def test_write_report_is_deterministic(full, tmp_path):
    first = write_report(full, tmp_path / "a")
    text, csv = first.path.read_bytes(), first.trials_csv.read_bytes()
    second = write_report(full, tmp_path / "a")
    assert second.path.read_bytes() == text
    assert second.trials_csv.read_bytes() == csv


def test_write_report_without_confirmations(url, storage, tmp_path):
    add_search(storage, "cosine", spread(0.85, 6))
    add_search(storage, "step", spread(0.80, 6))
    report = write_report(url, tmp_path / "r")
    text = report.path.read_text()
    assert report.verdicts == {TASK: None}
    assert (
        "No verdict" in text
        and "Search leader by best validation accuracy (not a verdict)" in text
        and "cosine" in text
    )
    assert any("no confirmation runs" in w for w in report.warnings)
