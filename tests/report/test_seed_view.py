"""lrtune.report.seed_view: each family's confirmation seeds, joined across families, with the
median and its distribution-free interval — stored in every confirmation study of the task."""

from __future__ import annotations

import pytest
from optuna_dashboard._custom_plot_data import get_plotly_graph_objects
from synthetic import TASK, add_confirm, add_search

from lrtune.report import load_trials
from lrtune.report.seed_view import GRAPH_ID, median_interval, seed_table, seed_view_figure, write_seed_views


def test_median_interval_is_the_order_statistic_interval_at_the_coverage_n_allows():
    assert median_interval([0.3, 0.1, 0.2]) == pytest.approx((0.2, 0.1, 0.3, 0.75))  # [min, max]: 1 − 2/2³
    median, low, high, coverage = median_interval([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    assert (median, low, high) == (5.5, 2, 9) and coverage == pytest.approx(
        1 - 2 * 11 / 1024
    )  # c = 2: 1 − 2·P(Bin(10, ½) ≤ 1)


@pytest.fixture
def confirmed(storage):
    for family, tests in (
        ("cosine", [0.90, 0.92, 0.91]),
        ("step", [0.85, 0.88, 0.86]),
        ("wsd", [0.89, 0.9, 0.87]),
    ):
        add_search(storage, family, [0.8, 0.85])
        add_confirm(storage, family, tests, source_trial=None)
    return storage


def test_figure_orders_families_by_median_and_joins_each_seed(confirmed):
    df = load_trials(confirmed)
    table = seed_table(df, TASK)
    assert len(table) == 9 and sorted(set(table["seed"])) == [1000, 1001, 1002]
    figure = seed_view_figure(df, TASK)
    seeds, medians = figure.data[:3], figure.data[3]
    assert list(medians.x) == ["cosine", "wsd", "step"]  # best median first
    assert list(medians.y) == pytest.approx([0.91, 0.89, 0.86])
    assert list(medians.error_y.array) == pytest.approx([0.01, 0.01, 0.02])  # max − median
    assert list(medians.error_y.arrayminus) == pytest.approx([0.01, 0.02, 0.01])  # median − min
    assert list(seeds[0].x) == ["cosine", "wsd", "step"] and list(seeds[0].y) == pytest.approx([0.90, 0.89, 0.85])
    assert "test accuracy" in figure.layout.title.text and "75% coverage" in medians.name


def test_every_confirmation_study_of_the_task_gets_the_view_once(confirmed):
    df = load_trials(confirmed)
    for _ in range(2):  # a second analysis replaces the figure
        written = write_seed_views(confirmed, df)
    assert written == [f"{TASK}:{f}:confirm" for f in ("cosine", "step", "wsd")]
    for name in written:
        attrs = confirmed.get_study_system_attrs(confirmed.get_study_id_from_name(name))
        assert list(get_plotly_graph_objects(attrs)) == [GRAPH_ID]
    search = confirmed.get_study_id_from_name(f"{TASK}:cosine")
    assert get_plotly_graph_objects(confirmed.get_study_system_attrs(search)) == {}


def test_analyze_stores_the_seed_view_unless_no_notes(confirmed, url, tmp_path):
    from lrtune import analyze

    names = [f"{TASK}:{f}:confirm" for f in ("cosine", "step", "wsd")]

    def graphs(name):
        return get_plotly_graph_objects(confirmed.get_study_system_attrs(confirmed.get_study_id_from_name(name)))

    assert analyze.main(["--storage", url, "--out", str(tmp_path / "r"), "--no-notes"]) == 0
    assert all(graphs(name) == {} for name in names)  # --no-notes: the database is only read
    assert analyze.main(["--storage", url, "--out", str(tmp_path / "r")]) == 0
    assert all(list(graphs(name)) == [GRAPH_ID] for name in names)
