"""python -m lrtune.proxy: one-line errors; independent study processes through a real proxy in front
of a real PostgreSQL, a worker killed with SIGKILL mid-trial, exact counts; readers through it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import optuna
import pytest
from proxy_helpers import running_proxy, start_study, stop_all, wait_for

from lrtune import analyze
from lrtune import study as study_cli
from lrtune.proxy import main
from lrtune.tuning.leases import lease_holder

State = optuna.trial.TrialState
FINISHED = (State.COMPLETE, State.PRUNED)


def one_line_error(capsys, needle: str) -> None:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lrtune.proxy: error:"), captured.err
    assert needle in lines[0] and "Traceback" not in captured.err


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("not-a-url", "malformed storage URL"),
        ("journal:///tmp/lrtune-proxy-test.log", "does not support JournalStorage"),
        ("grpc://127.0.0.1:1", "is itself a gRPC proxy"),
        ("postgresql+psycopg://nobody:pw@127.0.0.1:1/x", "cannot open storage"),
    ],
)
def test_unusable_storage_is_one_line_exit_2(url, needle, capsys) -> None:
    assert main(["--storage", url, "--port", "0"]) == 2
    one_line_error(capsys, needle)
    assert not Path("/tmp/lrtune-proxy-test.log").exists()


def test_port_in_use_is_one_line_exit_2(tmp_path, capsys) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--storage", f"sqlite:///{tmp_path / 'p.db'}", "--port", str(port)]) == 2
    one_line_error(capsys, "already in use")
    assert not (tmp_path / "p.db").exists()  # nothing stored touched


@pytest.mark.slow
def test_commands_read_and_write_through_the_proxy(tmp_path, capsys, serve_dashboard) -> None:
    """study (in-process), analyze and the dashboard on --storage grpc://… (an SQLite file behind it)."""
    with running_proxy(f"sqlite:///{tmp_path / 'behind.db'}") as url:
        args = ["--dataset", "digits", "--epochs", "1", "--fuse", "1", "--no-progress", "--no-artifacts"]
        assert study_cli.main([*args, "--family", "constant,cosine", "--trials", "2", "--storage", url]) == 0
        out = capsys.readouterr().out
        assert f"--storage {url}" in out
        assert analyze.main(["--storage", url, "--out", str(tmp_path / "report"), "--no-notes"]) == 0
        assert url in (tmp_path / "report" / "report.md").read_text()
        with serve_dashboard(url, artifact_dir=str(tmp_path / "art")) as base:
            with urllib.request.urlopen(f"{base}/api/studies", timeout=30) as response:
                summaries = json.loads(response.read())["study_summaries"]
            study_id = summaries[0]["study_id"]
            with urllib.request.urlopen(f"{base}/api/studies/{study_id}", timeout=30) as response:
                detail = json.loads(response.read())
        assert {s["study_name"] for s in summaries} == {"digits-mlp-constant", "digits-mlp-cosine"}
        assert len(detail["trials"]) == 2


SLOW_TRIAL = [
    "--dataset",
    "digits",
    "--batch-size",
    "16",
    "--family",
    "constant",
    "--pruner",
    "none",
    "--fuse",
    "1",
    "--threads",
    "1",
    "--no-progress",
    "--no-artifacts",
]


def trials_of(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    try:
        return optuna.load_study(study_name=name, storage=url).trials
    except KeyError:
        return []


@pytest.mark.slow
@pytest.mark.postgres
def test_four_processes_through_the_proxy_one_killed_mid_trial(postgres_url) -> None:
    """4 separately started processes, 8 trials; kill -9 the holder of a running trial: its trial is
    failed once its lease expires and retried once by a live process (same parameters and seed);
    the study ends with 8 finished trials — plus at most one per surviving process that started a
    trial at the same moment as another (the documented overshoot of independent processes) —
    none RUNNING or WAITING, and the killed trial is the only FAIL."""
    name = "digits-mlp-constant"
    procs = []
    with running_proxy(postgres_url) as url:
        try:
            args = [*SLOW_TRIAL, "--epochs", "20", "--trials", "8", "--storage", url]
            procs = [start_study(*args) for _ in range(4)]

            def running_with_holder() -> bool:
                finished = [t for t in trials_of(postgres_url, name) if t.state in FINISHED]
                running = [
                    t for t in trials_of(postgres_url, name) if t.state == State.RUNNING and lease_holder(t)
                ]
                return bool(finished) and bool(running)

            wait_for(running_with_holder)
            victim = next(t for t in trials_of(postgres_url, name) if t.state == State.RUNNING and lease_holder(t))
            pid = int(lease_holder(victim).rsplit(":", 1)[1])
            killed = next(p for p in procs if p.pid == pid)
            killed.send_signal(signal.SIGKILL)
            killed.wait()
            survivors = [p for p in procs if p is not killed]
            for p in survivors:
                out, err = p.communicate(timeout=400)
                assert p.returncode == 0, err
        finally:
            stop_all(procs)
    trials = trials_of(postgres_url, name)
    by_number = {t.number: t for t in trials}
    assert by_number[victim.number].state == State.FAIL
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retries) == 1 and retries[0].state in FINISHED
    assert retries[0].params == victim.params
    assert retries[0].user_attrs["seed"] == victim.number  # the lost trial's seed (base seed 0)
    assert not [t for t in trials if t.state in (State.RUNNING, State.WAITING)]
    finished = [t for t in trials if t.state in FINISHED]
    assert 8 <= len(finished) <= 8 + len(survivors), len(finished)
    assert len(trials) == len(finished) + 1  # the killed one is the only trial that did not finish


@pytest.mark.slow
@pytest.mark.postgres
def test_eight_independent_processes_through_the_proxy_stop_at_the_trials(postgres_url) -> None:
    """8 processes started separately on one 16-trial study: 16..24 finished (at most one extra per
    concurrently starting process), none RUNNING or WAITING, every process exits 0."""
    name = "digits-mlp-constant"
    procs = []
    with running_proxy(postgres_url) as url:
        try:
            procs = [
                start_study(*SLOW_TRIAL, "--epochs", "2", "--trials", "16", "--storage", url) for _ in range(8)
            ]
            for p in procs:
                out, err = p.communicate(timeout=500)
                assert p.returncode == 0, err
        finally:
            stop_all(procs)
    trials = trials_of(postgres_url, name)
    finished = [t for t in trials if t.state in FINISHED]
    assert 16 <= len(finished) <= 24, len(finished)
    assert not [t for t in trials if t.state in (State.RUNNING, State.WAITING, State.FAIL)]


@pytest.mark.slow
@pytest.mark.postgres
def test_a_killed_worker_through_the_proxy_ends_with_exactly_the_wanted_trials(postgres_url) -> None:
    """One process through the proxy, killed with SIGKILL mid-trial after a trial finished; the next
    process on the study fails the dead trial once its lease has expired, retries it with the same
    parameters and seed, and the study ends with exactly --trials finished trials (no process
    started concurrently, so no overshoot is allowed)."""
    name = "digits-mlp-constant"
    args = [*SLOW_TRIAL, "--epochs", "20", "--trials", "3"]
    procs = []
    with running_proxy(postgres_url) as url:
        try:
            procs.append(start_study(*args, "--storage", url))

            def running_after_a_finished_one() -> bool:
                trials = trials_of(postgres_url, name)
                return any(t.state in FINISHED for t in trials) and any(
                    t.state == State.RUNNING and lease_holder(t) for t in trials
                )

            wait_for(running_after_a_finished_one)
            victim = next(t for t in trials_of(postgres_url, name) if t.state == State.RUNNING)
            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait()
            assert by_number(trials_of(postgres_url, name))[victim.number].state == State.RUNNING
            procs.append(start_study(*args, "--storage", url))
            out, err = procs[1].communicate(timeout=400)
            assert procs[1].returncode == 0, err
        finally:
            stop_all(procs)
    trials = trials_of(postgres_url, name)
    assert by_number(trials)[victim.number].state == State.FAIL
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retries) == 1 and retries[0].state in FINISHED
    assert retries[0].params == victim.params and retries[0].user_attrs["seed"] == victim.number
    finished = [t for t in trials if t.state in FINISHED]
    assert len(finished) == 3 and len(trials) == 4  # exactly the wanted trials + the killed one


def by_number(trials: list[optuna.trial.FrozenTrial]) -> dict[int, optuna.trial.FrozenTrial]:
    return {t.number: t for t in trials}


@pytest.mark.parametrize(
    ("sig", "status", "last_line"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 0, "stopped")]
)
def test_ctrl_c_is_one_line_exit_130_and_sigterm_a_clean_stop(tmp_path, sig, status, last_line) -> None:
    """The proxy follows every command's Ctrl-C convention; SIGTERM (a service manager) exits 0."""
    env = {**os.environ, "LRTUNE_STORAGE": f"sqlite:///{tmp_path / 'p.db'}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lrtune.proxy", "--storage", "env", "--port", "0"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "serving" in proc.stderr.readline()
        proc.send_signal(sig)
        err = proc.stderr.read()
        assert proc.wait(timeout=20) == status
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and last_line in lines[0] and "Traceback" not in err, err
