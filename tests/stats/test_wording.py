"""lrtune.stats.wording: the verdict in words."""

from __future__ import annotations

from lrtune import stats


def test_format_interval_marks_an_open_lower_end():
    assert stats.format_interval(0.4999999, 1.0, True) == "(0.50, 1.00]"
    assert stats.format_interval(0.4999999, 1.0, False) == "[0.50, 1.00]"
    assert stats.format_interval(0.62, 0.97, True) == "[0.62, 0.97]"
