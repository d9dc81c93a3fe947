"""``--workers N``: N processes share one storage; this process shows one progress view and one summary.

Each worker is ``python -m lrtune.study`` with the same arguments, one torch thread (unless
``--threads``), no progress bar, and a quota per family: the missing trials are split evenly, so
N workers together run exactly ``--trials`` per family. The parent only watches the storage.

A worker on another machine is the same command with the same ``--study-name`` and a shared
``--storage`` (PostgreSQL/MySQL); such independent workers stop when the family has ``--trials``
counted trials, which can overshoot by at most one trial per concurrent worker.

No password in argv: the children get ``--storage env`` and the URL in ``$LRTUNE_STORAGE``
(:func:`worker_environment`), so ``ps`` shows no credential; every URL printed goes through
``display_url``.

Ctrl-C: the parent forwards SIGINT to the workers; each marks its running trial FAIL and exits;
the parent prints the summary of what finished and exits 130.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import optuna

from lrtune.tuning.config import RunConfig, TaskConfig
from lrtune.tuning.runner import counted_trials, finished_trials, print_summary, progress_bar, summary_rows
from lrtune.tuning.storage import FROM_ENVIRONMENT, STORAGE_VARIABLE, display_url

__all__ = ["run_workers", "split_quota", "without_storage", "worker_command", "worker_environment"]

POLL_S = 1.0


def split_quota(missing: dict[str, int], workers: int) -> list[dict[str, int]]:
    """Split each family's missing trials over ``workers``: counts differ by at most one."""
    return [{f: n // workers + (1 if i < n % workers else 0) for f, n in missing.items()} for i in range(workers)]


def without_storage(argv: Sequence[str]) -> list[str]:
    """``argv`` without ``--storage URL`` / ``--storage=URL`` (the URL may hold a password).

    >>> without_storage(["--trials", "3", "--storage", "postgresql://u:pw@h/db", "--storage=x"])
    ['--trials', '3']
    """
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--storage":
            skip = True
        elif not arg.startswith("--storage="):
            out.append(arg)
    return out


def worker_environment(storage: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The child's environment: this one, unbuffered, with the resolved storage URL in ``$LRTUNE_STORAGE``."""
    return {**(os.environ if environ is None else environ), "PYTHONUNBUFFERED": "1", STORAGE_VARIABLE: storage}


def worker_command(argv: Sequence[str], quota: dict[str, int], threads: int | None) -> list[str]:
    """The child process's command line: the parent's argv, overridden to be one quiet worker.

    The storage is ``--storage env`` (the URL travels in :func:`worker_environment`, not argv); the
    flag still overrides a preset's ``storage``, as the parent's resolved URL did.
    """
    cmd = [
        sys.executable,
        "-m",
        "lrtune.study",
        *without_storage(argv),
        "--storage",
        FROM_ENVIRONMENT,
        "--workers",
        "1",
        "--no-progress",
        "--worker-quota",
        json.dumps(quota),
    ]
    if threads is None:
        cmd += ["--threads", "1"]
    return cmd


def _counts(studies: dict[str, optuna.Study]) -> int:
    return sum(finished_trials(s) for s in studies.values())


def run_workers(
    argv: Sequence[str] | None, task: TaskConfig, run: RunConfig, studies: dict[str, optuna.Study]
) -> int:
    """Start the workers, show one progress bar over the shared storage, print one summary."""
    argv = list(sys.argv[1:] if argv is None else argv)
    for study in studies.values():  # dead workers' trials → FAIL (+ a WAITING retry) before counting
        optuna.storages.fail_stale_trials(study)
    missing = {f: max(0, run.trials - counted_trials(s)) for f, s in studies.items()}
    quotas = [q for q in split_quota(missing, run.workers) if sum(q.values()) > 0]
    started = time.monotonic()
    done_before = _counts(studies)
    bar = progress_bar(sum(missing.values()), run.progress)
    logs = Path(tempfile.mkdtemp(prefix="lrtune-workers-"))
    procs: list[tuple[subprocess.Popen, Path]] = []
    env = worker_environment(run.storage)
    code = 0
    try:
        for i, quota in enumerate(quotas):
            log = logs / f"worker{i}.log"
            with log.open("w") as fh:
                procs.append(
                    (
                        subprocess.Popen(
                            worker_command(argv, quota, run.threads), stdout=subprocess.DEVNULL, stderr=fh, env=env
                        ),
                        log,
                    )
                )
        print(
            f"lrtune: {len(procs)} workers on {task.task}, families {', '.join(run.families)} → {display_url(run.storage)}",
            file=sys.stderr,
        )
        while any(p.poll() is None for p, _ in procs):
            time.sleep(POLL_S)
            bar.n = _counts(studies) - done_before
            bar.refresh()
    except KeyboardInterrupt:
        for p, _ in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p, _ in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        code = 130
    finally:
        bar.n = _counts(studies) - done_before
        bar.close()
    failed = [(p, log) for p, log in procs if p.returncode not in (0, 130, -signal.SIGINT)]
    for p, log in failed:
        last = [line for line in log.read_text().splitlines() if line.strip()][-1:] or ["(no output)"]
        print(
            f"lrtune.study: worker pid {p.pid} exited with {p.returncode}: {last[0]} (log: {log})", file=sys.stderr
        )
    print_summary(summary_rows(studies), run.storage, time.monotonic() - started)
    if code == 130:
        print(
            "lrtune.study: interrupted — running trials are marked FAIL; run the same command again to resume.",
            file=sys.stderr,
        )
        return 130
    return 1 if failed else 0
