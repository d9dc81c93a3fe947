"""lrtune.report.race: the race behind a verdict, as a table, a plot and note lines."""

from __future__ import annotations

import numpy as np
from synthetic import TASK, add_confirm, add_search

from lrtune.report import load_trials, verdict_from_confirmations
from lrtune.report.race import plot_race, race_note_lines, race_section, race_table, runs_text


def _raced(storage):
    """What --confirm auto leaves behind: worst beaten early (6 seeds), the others ran 12."""
    rng = np.random.default_rng(0)
    seed_effect = rng.normal(0, 0.004, 12)
    for family in ("cosine", "step", "constant"):
        add_search(storage, family, [0.9, 0.91])
    add_confirm(storage, "cosine", list(0.95 + seed_effect + rng.normal(0, 0.001, 12)))
    add_confirm(storage, "step", list(0.93 + seed_effect + rng.normal(0, 0.001, 12)))
    add_confirm(storage, "constant", list(0.80 + seed_effect[:6]))


def test_race_table_plot_and_notes(url, storage, tmp_path):
    _raced(storage)
    df = load_trials(url)
    v = verdict_from_confirmations(df)
    assert v.winner == "cosine"
    table = race_table(v).set_index("family")
    assert table.loc["constant", "seeds run"] == 6 and table.loc["cosine", "seeds run"] == 12
    assert table.loc["constant", "beaten at seed"] == "6" and table.loc["cosine", "beaten at seed"] == "—"
    assert table.loc["constant", "beaten on the comparison with"] == "cosine"
    assert table.loc["constant", "outcome"] == "beaten" and table.loc["constant", "evidence not best"] >= 40
    assert table.loc["cosine", "outcome"] == "winner"
    assert runs_text(v) == "30 confirmation runs; every family at 12 seeds (a fixed design) would be 36"
    path = plot_race(TASK, df, v, tmp_path)
    assert path is not None and path.exists() and path.read_bytes()[:4] == b"\x89PNG"
    lines = race_section(TASK, df, v, tmp_path)
    assert lines[0] == "### The race" and any("race_" in line and ".png" in line for line in lines)
    note = race_note_lines(v)
    assert (
        note[0].startswith("Race: cosine 12 seeds (winner)")
        and "constant 6 seeds, beaten at seed 6 (against cosine)" in note[0]
    )


def test_no_verdict_no_race():
    assert race_section(TASK, None, None, ".") == []
