"""lrtune.bench.verdict (--tasks verdict): both legs timed, both verdicts printed."""

from __future__ import annotations

import json

import pytest

from lrtune.bench import main


@pytest.mark.slow
def test_verdict_task_times_both_legs_and_prints_both_verdicts(tmp_path, capsys):
    path = tmp_path / "verdict.json"
    assert main(["--quick", "--tasks", "verdict", "--threads", "1", "--json", str(path)]) == 0
    record = json.loads(path.read_text())["tasks"][0]
    assert record["task"] == "verdict" and set(record["legs"]) == {"unfused", "default"}
    for leg in record["legs"].values():
        assert (
            leg["search_s"] > 0 and leg["confirm_s"] > 0 and leg["total_s"] >= leg["search_s"] + leg["confirm_s"]
        )
        assert leg["search_trials"] == 2 * 4 and leg["confirm_runs"] == 2 * 2
        assert leg["verdicts"] and all(isinstance(v, str) and v for v in leg["verdicts"].values())
    assert record["legs"]["unfused"]["fuse"] == 1 and record["legs"]["default"]["probe"].startswith("fuse ")
    assert record["time_ratio"] == pytest.approx(
        record["legs"]["default"]["total_s"] / record["legs"]["unfused"]["total_s"]
    )
    auto, fixed = record["confirm_legs"]["auto"], record["confirm_legs"]["fixed"]
    assert fixed["runs"] == 2 * 2 and fixed["seeds"] == {"constant": 2, "cosine": 2}
    assert 2 <= auto["runs"] <= 2 * 2 and max(auto["seeds"].values()) <= 2  # capped at 2 seeds
    assert auto["confirm_s"] > 0 and auto["verdicts"] and fixed["verdicts"]
    out = capsys.readouterr().out
    assert "unfused verdict" in out and "default verdict" in out and "x unfused" in out
    assert "--confirm auto --max-seeds 2 vs --confirm 2" in out and "auto verdict" in out
