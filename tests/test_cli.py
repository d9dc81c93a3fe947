"""lrtune.cli: one usage error and one way to fail, for every command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from lrtune.cli import ArgumentParser, UsageError, fail


def test_parser_errors_are_usage_errors_and_help_still_exits_0(capsys) -> None:
    parser = ArgumentParser(prog="python -m lrtune.x")
    parser.add_argument("--n", type=int)
    with pytest.raises(UsageError, match="argument --n: invalid int value: 'x'"):
        parser.parse_args(["--n", "x"])
    with pytest.raises(UsageError, match="unrecognized arguments: --bogus"):
        parser.parse_args(["--bogus"])
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["--help"])
    assert info.value.code == 0 and "--n" in capsys.readouterr().out


def test_fail_prints_one_line_and_returns_2(capsys) -> None:
    assert fail("lrtune.x", "first line\nsecond line") == 2
    assert capsys.readouterr().err == "lrtune.x: error: first line\n"


# ------------------------------------------------------------------------------------ Ctrl-C
# One convention for every command: a real SIGINT to a real ``python -m`` process ends it with
# one line on stderr (``lrtune.<command>: interrupted — …``), exit status 130 (not death by the
# signal, not a traceback), finished work kept and nothing left RUNNING.

ROOT = Path(__file__).resolve().parents[1]
SLOW_TASK = """
import pathlib, time

def make_task():
    pathlib.Path("loading").write_text("now")
    time.sleep(120)
"""


def _start(module: str, *args: str, cwd: Path | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(predicate, proc: subprocess.Popen, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"the process ended first: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def _interrupt(proc: subprocess.Popen, prog: str) -> str:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (proc.returncode, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    lines = [line for line in err.splitlines() if "interrupted" in line]
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: interrupted — "), err
    return out


def _loads_torch(pid: int) -> bool:
    """torch's shared libraries are mapped: the process is importing torch, or past it."""
    return "torch" in Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc to see torch loading")
def test_ctrl_c_while_a_command_loads_is_one_line_and_exit_130(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'never.db'}"
    proc = _start("lrtune.study", "--dataset", "digits", "--storage", url, "--no-progress")
    _wait_for(lambda: _loads_torch(proc.pid), proc)
    _interrupt(proc, "lrtune.study")
    assert not (tmp_path / "never.db").exists()  # interrupted before anything was created


@pytest.mark.slow
def test_ctrl_c_during_the_start_up_of_a_study_is_one_line_and_exit_130(tmp_path) -> None:
    (tmp_path / "slowtask.py").write_text(SLOW_TASK)
    url = f"sqlite:///{tmp_path / 'never.db'}"
    proc = _start("lrtune.study", "--task", "slowtask:make_task", "--storage", url, cwd=tmp_path)
    _wait_for(lambda: (tmp_path / "loading").exists(), proc)  # loading the task, before any study
    _interrupt(proc, "lrtune.study")
    assert not (tmp_path / "never.db").exists()


@pytest.mark.slow
def test_ctrl_c_mid_confirmation_keeps_finished_runs_and_resumes(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    search = ["--task", "examples.my_task:make_task_residual", "--epochs", "6", "--trials", "1"]
    done = subprocess.run(
        [sys.executable, "-m", "lrtune.study", *search, "--family", "cosine,step", "--storage", url]
        + ["--no-progress", "--no-artifacts", "--threads", "1"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr

    def confirmed() -> list[optuna.trial.FrozenTrial]:
        names = [s.study_name for s in optuna.get_all_study_summaries(url) if ":confirm" in s.study_name]
        return [t for n in names for t in optuna.load_study(study_name=n, storage=url).trials]

    # the residual MLP cannot be stacked: runs are trained, and stored, one by one
    proc = _start("lrtune.analyze", "--storage", url, "--confirm", "6", "--out", str(tmp_path / "r"), cwd=ROOT)
    _wait_for(lambda: len(confirmed()) >= 1, proc)
    _interrupt(proc, "lrtune.analyze")
    kept = confirmed()
    assert 1 <= len(kept) < 12 and all(t.state == optuna.trial.TrialState.COMPLETE for t in kept)
    assert not (tmp_path / "r" / "report.md").exists()


def _maps(pid: int, name: str) -> bool:
    return name in Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc to see a command's libraries load")
@pytest.mark.parametrize(
    ("module", "args", "library"),
    [
        ("lrtune.simulate", ["--reps", "100000"], "scipy"),
        ("lrtune.bench", ["--quick", "--tasks", "digits", "--repeats", "5"], "torch"),
        (
            "lrtune.prune_accounting",
            ["--family", "cosine", "--trials", "50", "--study-args", "--dataset digits"],
            "torch",
        ),
    ],
)
def test_ctrl_c_while_a_command_works_is_one_line_and_exit_130(tmp_path, module, args, library) -> None:
    if module == "lrtune.prune_accounting":
        args = [*args, "--storage", f"sqlite:///{tmp_path / 'p.db'}"]
    proc = _start(module, *args, cwd=tmp_path)
    _wait_for(lambda: _maps(proc.pid, library), proc)
    time.sleep(1.5)  # loading or working: either way the same one line
    _interrupt(proc, module)


@pytest.mark.slow
def test_ctrl_c_stops_the_dashboard_with_one_line_and_exit_130(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    optuna.create_study(study_name="empty", storage=url)
    proc = _start("lrtune.dashboard", "--storage", url, "--port", "0", cwd=tmp_path)
    assert "serving" in proc.stderr.readline()
    _interrupt(proc, "lrtune.dashboard")


def test_only_python_m_lrtune_is_a_command_being_started(monkeypatch) -> None:
    from lrtune.cli import command_being_started

    cases = [
        (["-m"], ["python", "-m", "lrtune.bench", "--quick"], "lrtune.bench"),
        (["-m"], ["python", "-m", "lrtune"], "lrtune.study"),
        (["-m"], ["python", "-X", "dev", "-m", "lrtune.analyze.x"], "lrtune.analyze"),
        (["-m"], ["python", "-m", "mypackage"], None),  # a user's program that imports lrtune
        (["/x/lrtune/study.py"], ["python", "-m", "lrtune.study"], None),  # already running
        (["script.py"], ["python", "script.py"], None),
    ]
    for argv, orig, expected in cases:
        monkeypatch.setattr(sys, "argv", argv)
        monkeypatch.setattr(sys, "orig_argv", orig)
        assert command_being_started() == expected, orig
