"""lrtune.bench.scale: a small run of the measurement against the local PostgreSQL server."""

from __future__ import annotations

import pytest

pytest.importorskip("psycopg")

from lrtune.bench.scale import measure, table  # noqa: E402


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("mode", ["direct", "proxy"])
def test_a_small_scale_run_kills_one_worker_and_counts_exactly(mode) -> None:
    run = measure(mode, 3, trials_per_worker=2, sleep=0.01, victim_sleep=6.0, timeout=180)
    assert run.killed_trial_failed_and_retried, run
    assert run.failed == 1 and run.retried == 1 and run.left_running_or_waiting == 0, run
    assert 6 <= run.finished <= 6 + 2, run  # at most one extra per other concurrently starting worker
    assert run.worker_failures == 0 and run.trials_per_s > 0, run
    if mode == "proxy":  # the proxy's pool (SQLAlchemy: ≤ 5 + 10 overflow) and the bench's reader
        assert run.max_db_connections <= 17, run
    assert f"| {mode} | 3 | 6 |" in table([run])
