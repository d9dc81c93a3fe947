"""Many workers on one storage, killed workers, Ctrl-C: nothing lost, nothing left RUNNING."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from proxy_helpers import running_proxy

from lrtune.study import main
from lrtune.tuning.storage import open_read_only
from lrtune.tuning.workers import split_quota, worker_command, worker_environment

optuna.logging.set_verbosity(optuna.logging.WARNING)
State = optuna.trial.TrialState
FAST = ["--dataset", "digits", "--epochs", "2", "--batch-size", "64", "--no-progress"]


def states(storage: str, name: str) -> list[State]:
    return [t.state for t in optuna.load_study(study_name=name, storage=storage).trials]


def test_split_quota_is_exact():
    quotas = split_quota({"a": 10, "b": 3}, 4)
    assert [q["a"] for q in quotas] == [3, 3, 2, 2] and [q["b"] for q in quotas] == [1, 1, 1, 0]


def assert_forty_finished(storage: str, capsys) -> None:
    captured = capsys.readouterr()
    assert "database is locked" not in captured.err + captured.out
    got = states(storage, "digits-mlp-cosine")
    assert len(got) == 40 and set(got) <= {State.COMPLETE, State.PRUNED}, got


@pytest.mark.slow
def test_four_workers_on_one_sqlite_file(tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 'w.db'}"
    code = main(
        [
            *FAST,
            "--family",
            "cosine",
            "--trials",
            "40",
            "--workers",
            "4",
            "--storage",
            storage,
            "--artifact-dir",
            str(tmp_path / "artifacts"),
        ]
    )
    assert code == 0
    assert_forty_finished(storage, capsys)


def test_four_workers_on_postgresql(tmp_path, capsys, postgres_url):
    code = main(
        [
            *FAST,
            "--family",
            "cosine",
            "--trials",
            "40",
            "--workers",
            "4",
            "--storage",
            postgres_url,
            "--artifact-dir",
            str(tmp_path / "artifacts"),
        ]
    )
    assert code == 0
    assert_forty_finished(postgres_url, capsys)


def start_cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**os.environ, "LRTUNE_HEARTBEAT_INTERVAL": "1", "LRTUNE_GRACE_PERIOD": "3", **(env_extra or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "lrtune.study", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(predicate, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")


def running_after_finished(storage: str, name: str) -> bool:
    """At least one trial finished and a trial *started after it* is running with its parameters
    suggested (not a member of the finished trial's fused group, which may be told any moment)."""
    try:
        trials = optuna.load_study(study_name=name, storage=storage).trials
    except KeyError:
        return False
    finished = [t for t in trials if t.state in (State.COMPLETE, State.PRUNED)]
    if not finished or trials[-1].state != State.RUNNING or not trials[-1].params:
        return False
    return trials[-1].datetime_start > max(t.datetime_complete for t in finished)


SLOW_TRIALS = [
    "--dataset",
    "digits",
    "--epochs",
    "20",
    "--batch-size",
    "16",
    "--no-progress",
    "--family",
    "constant",
    "--threads",
    "1",
    "--pruner",
    "none",
    "--trials",
    "3",
    "--no-artifacts",
]


@pytest.mark.slow
def test_worker_killed_mid_trial_is_failed_and_retried(tmp_path):
    storage = f"sqlite:///{tmp_path / 'k.db'}"
    name = "digits-mlp-constant"
    proc = start_cli(*SLOW_TRIALS, "--storage", storage)
    wait_for(lambda: running_after_finished(storage, name))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = optuna.load_study(study_name=name, storage=storage).trials[-1]
    assert killed.state == State.RUNNING  # a dead worker's trial stays RUNNING until someone looks
    time.sleep(4)  # past the grace period
    resumed = start_cli(*SLOW_TRIALS, "--storage", storage)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    trials = optuna.load_study(study_name=name, storage=storage).trials
    by_number = {t.number: t for t in trials}
    assert by_number[killed.number].state == State.FAIL
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retries) == 1 and retries[0].state == State.COMPLETE
    assert retries[0].params == killed.params
    assert retries[0].user_attrs["seed"] == killed.number  # same seed as the lost trial (base seed 0)
    assert not [t for t in trials if t.state == State.RUNNING]
    finished = [t for t in trials if t.state in (State.COMPLETE, State.PRUNED)]
    assert len(finished) == 3 and len(trials) == 4  # 3 finished + the killed one


@pytest.mark.slow
def test_sigint_exits_130_keeps_finished_trials_and_resumes(tmp_path):
    storage = f"sqlite:///{tmp_path / 'i.db'}"
    name = "digits-mlp-constant"
    proc = start_cli(*SLOW_TRIALS, "--storage", storage)
    wait_for(lambda: running_after_finished(storage, name))
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert "best val" in out  # the summary of what finished
    trials = optuna.load_study(study_name=name, storage=storage).trials
    finished_before = [t for t in trials if t.state == State.COMPLETE]
    assert len(finished_before) >= 1 and trials[-1].state == State.FAIL
    assert not [t for t in trials if t.state == State.RUNNING]

    resumed = start_cli(*SLOW_TRIALS, "--storage", storage)
    resumed.communicate(timeout=300)
    assert resumed.returncode == 0
    after = optuna.load_study(study_name=name, storage=storage).trials
    assert [t.value for t in after[: len(finished_before)]] == [t.value for t in finished_before]
    assert len([t for t in after if t.state == State.COMPLETE]) == 3


@pytest.mark.slow
def test_sigint_with_workers_reaches_every_worker(tmp_path):
    """Ctrl-C on the parent of --workers: every worker stops, exit 130, nothing left RUNNING."""
    storage = f"sqlite:///{tmp_path / 'wi.db'}"
    name = "digits-mlp-constant"
    args = SLOW_TRIALS[: SLOW_TRIALS.index("--threads")] + SLOW_TRIALS[SLOW_TRIALS.index("--threads") + 2 :]
    proc = start_cli(*args, "--trials", "6", "--workers", "2", "--storage", storage)
    wait_for(lambda: running_after_finished(storage, name))
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "best val" in out and "Traceback" not in err
    trials = optuna.load_study(study_name=name, storage=storage).trials
    assert not [t for t in trials if t.state == State.RUNNING]
    assert {t.state for t in trials} <= {State.COMPLETE, State.PRUNED, State.FAIL}


def test_worker_command_carries_no_storage_url() -> None:
    """The URL (with its password) travels in $LRTUNE_STORAGE; argv says --storage env."""
    argv = ["--trials", "4", "--storage", "postgresql+psycopg://u:s3cret@h/db", "--storage=mysql://u:s3cret@h/d"]
    cmd = worker_command(argv, {"cosine": 2}, None)
    assert not [a for a in cmd if "s3cret" in a]
    assert cmd[cmd.index("--storage") + 1] == "env" and cmd.count("--storage") == 1
    env = worker_environment("postgresql+psycopg://u:s3cret@h/db", {"PATH": "/bin"})
    assert env["LRTUNE_STORAGE"] == "postgresql+psycopg://u:s3cret@h/db" and env["PATH"] == "/bin"


def child_argvs(parent: int) -> dict[int, str]:
    """``pid → command line`` of ``parent``'s children, read from /proc (what ``ps`` shows)."""
    found = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            if f"\nPPid:\t{parent}\n" in status.read_text():
                cmdline = (status.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                if cmdline:  # empty once the child has exited (a zombie)
                    found[int(status.parent.name)] = cmdline
        except OSError:
            continue
    return found


@pytest.fixture
def mysql_user_url() -> Iterator[tuple[str, str]]:
    """A fresh MariaDB database and a user with a password, both dropped afterwards: (url, password)."""
    pymysql = pytest.importorskip("pymysql")
    try:
        admin = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True)
    except pymysql.err.OperationalError as exc:
        pytest.skip(f"MariaDB not reachable on 127.0.0.1:3306: {exc}")
    tag = uuid.uuid4().hex[:10]
    database, user, password = f"lrtune_test_{tag}", f"lrtune_{tag}", f"pw{uuid.uuid4().hex}"
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{database}`")
        cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
        cur.execute(f"CREATE USER '{user}'@'localhost' IDENTIFIED BY '{password}'")
        cur.execute(f"GRANT ALL ON `{database}`.* TO '{user}'@'%'")
        cur.execute(f"GRANT ALL ON `{database}`.* TO '{user}'@'localhost'")
    try:
        yield f"mysql+pymysql://{user}:{password}@127.0.0.1:3306/{database}", password
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
            cur.execute(f"DROP USER IF EXISTS '{user}'@'localhost'")
        admin.close()


@pytest.mark.slow
def test_workers_on_mysql_with_a_password_never_show_it(tmp_path, mysql_user_url) -> None:
    """--workers 2 on the local MariaDB as a user with a password: the study finishes exactly; the
    password is in no stdout, stderr, child argv, report file, note or stored attribute; analyze
    reads the same database through the gRPC proxy."""
    url, password = mysql_user_url
    args = [*FAST, "--family", "constant,cosine", "--trials", "2", "--fuse", "1", "--workers", "2"]
    proc = start_cli(*args, "--artifact-dir", str(tmp_path / "art"), "--storage", url)
    argvs: dict[int, str] = {}
    try:
        while proc.poll() is None:
            argvs.update(child_argvs(proc.pid))
            time.sleep(0.1)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    # every child's argv is searched for the password below; the two workers are the lrtune ones
    # (an import may briefly run a helper child such as ldconfig, which is not a worker)
    workers = [a for a in argvs.values() if "lrtune.study" in a]
    assert len(workers) == 2 and all("--storage env" in a for a in workers), argvs
    shown = [out, err, *argvs.values()]
    stored = open_read_only(url)
    frozen = {s.study_name: s for s in stored.get_all_studies()}
    assert set(frozen) == {"digits-mlp-constant", "digits-mlp-cosine"}
    for name, summary in frozen.items():  # notes are study system attrs (optuna-dashboard)
        trials = optuna.load_study(study_name=name, storage=stored).trials
        assert len(trials) == 2 and {t.state for t in trials} <= {State.COMPLETE, State.PRUNED}
        shown += [repr(summary.user_attrs), repr(summary.system_attrs)]
        shown += [repr((t.user_attrs, t.system_attrs)) for t in trials]
    report = tmp_path / "report"
    analyze_run = subprocess.run(
        [sys.executable, "-m", "lrtune.analyze", "--storage", "env", "--out", str(report)],
        env={**os.environ, "LRTUNE_STORAGE": url},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert analyze_run.returncode == 0, analyze_run.stderr
    shown += [analyze_run.stdout, analyze_run.stderr]
    shown += [p.read_text(errors="replace") for p in report.rglob("*") if p.is_file()]
    assert "***" in analyze_run.stdout + (report / "report.md").read_text()  # the URL, password hidden
    assert not [text for text in shown if password in text]
    with running_proxy(url) as proxy_url:  # MySQL behind the proxy: the same trials
        through = optuna.load_study(study_name="digits-mlp-cosine", storage=open_read_only(proxy_url))
        assert len(through.trials) == 2
