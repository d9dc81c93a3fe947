"""``python -m lrtune.bench.scale``: N independent worker processes on one study, PostgreSQL directly
vs through Optuna's gRPC storage proxy (``python -m lrtune.proxy``).

    python -m lrtune.bench.scale --workers 8,16,32 --out docs/scale.md

For each mode (``direct``: every worker on ``postgresql+psycopg://…``; ``proxy``: every worker on
``grpc://…``, one proxy holding the connections) and each N, in a fresh database on the local
server: N separately started light workers share one study of ``N × --trials-per-worker`` trials.
A light worker imports only Optuna and lrtune's storage/lease code (no torch: ~60 MB instead of
~1 GB per process) and runs exactly the budget of ``python -m lrtune.study``
(:func:`lrtune.tuning.leases.open_slots`, :func:`lrtune.tuning.leases.wait_for_leases`) with a
RandomSampler and a sleep of ``--sleep`` seconds as its objective, so the storage is the
bottleneck. One trial (number ``N × trials_per_worker // 3``) sleeps ``--victim-sleep`` seconds and
its worker is killed with SIGKILL while it runs: its trial must be failed (heartbeat/lease expired,
1 s interval, 10 s grace: a margin for a loaded machine) and retried once.

Measured per run: trials/s (finished trials that are not retries, over first trial start → last
of them done, from the storage's timestamps: process start-up and the wait for the killed trial's
lease are excluded), the most connections the database held
(``pg_stat_activity``, sampled every 0.25 s), worker exits ≠ 0 (the killed one excluded), exact
counts (finished, FAIL, retries, RUNNING/WAITING left) and the light worker's resident memory.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import optuna

from lrtune.tuning.leases import adopted_retries, open_slots, optimize_one, wait_for_leases
from lrtune.tuning.storage import open_storage, resolve_storage_url

__all__ = ["ScaleRun", "main", "measure", "worker_main"]

STUDY = "scale"
ADMIN_DSN = "host=127.0.0.1 port=5432 dbname=test"
LEASES = {"LRTUNE_HEARTBEAT_INTERVAL": "1", "LRTUNE_GRACE_PERIOD": "10"}
HEADROOM = 10
State = optuna.trial.TrialState


# ------------------------------------------------------------------------------ the light worker


def worker_main(trials: int, sleep: float, victim: int, victim_sleep: float) -> int:
    """One light worker: ``python -m lrtune.study``'s budget with a sleep objective; URL from $LRTUNE_STORAGE."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = open_storage(resolve_storage_url(None))
    study = optuna.load_study(study_name=STUDY, storage=storage, sampler=optuna.samplers.RandomSampler())

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.set_user_attr("pid", os.getpid())
        time.sleep(victim_sleep if trial.number == victim else sleep)
        return x

    optuna.storages.fail_stale_trials(study)
    adopted = adopted_retries(study)
    while True:
        if open_slots(study, trials, adopted) > 0:
            optimize_one(study, objective)
        elif not wait_for_leases([study]):
            return 0


# ------------------------------------------------------------------------------ one measured run


@dataclass
class ScaleRun:
    """One mode × N: what the table shows."""

    mode: str
    workers: int
    trials: int
    finished: int
    failed: int
    retried: int
    left_running_or_waiting: int
    killed_trial_failed_and_retried: bool
    trials_per_s: float
    max_db_connections: int
    worker_failures: int
    wall_s: float
    worker_rss_mb: float


def _admin():
    import psycopg  # the postgres extra

    return psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=5)


def _connections(admin, database: str) -> int:
    return admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)).fetchone()[0]


def _rss_mb(pid: int) -> float:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return float("nan")
    found = re.search(r"VmRSS:\s+(\d+) kB", text)
    return int(found.group(1)) / 1024 if found else float("nan")


def start_proxy(url: str, env_extra: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """``python -m lrtune.proxy`` on a free port of 127.0.0.1 in front of ``url`` (passed in
    ``$LRTUNE_STORAGE``, never in argv); returns the process and ``grpc://127.0.0.1:PORT``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "lrtune.proxy", "--storage", "env", "--host", "127.0.0.1", "--port", "0"],
        env={**os.environ, "LRTUNE_STORAGE": url, **(env_extra or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stderr.readline()
    found = re.search(r"grpc://[\w.]+:(\d+)", line)
    if not found:
        proc.kill()
        raise RuntimeError(f"the proxy did not start: {line!r}")
    return proc, f"grpc://127.0.0.1:{found.group(1)}"


def stop_proxy(proc: subprocess.Popen) -> None:
    """SIGTERM (the proxy's clean stop), SIGKILL after 10 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure(
    mode: str, workers: int, *, trials_per_worker: int, sleep: float, victim_sleep: float, timeout: float
) -> ScaleRun:
    """One run in a fresh database (created and dropped here)."""
    database = f"lrtune_scale_{uuid.uuid4().hex[:10]}"
    url = f"postgresql+psycopg://{os.environ.get('USER', 'root')}@127.0.0.1:5432/{database}"
    trials = workers * trials_per_worker
    victim = trials // 3
    admin = _admin()
    limit = int(admin.execute("SHOW max_connections").fetchone()[0])
    in_use = admin.execute("SELECT count(*) FROM pg_stat_activity").fetchone()[0]
    need = (2 * workers if mode == "direct" else 2) + 4
    if in_use + need > limit - HEADROOM:  # a shared server: never take the last connections from others
        admin.close()
        raise RuntimeError(
            f"{mode} N={workers} needs ~{need} connections; {in_use} of {limit} are in use (headroom {HEADROOM})"
        )
    admin.execute(f'CREATE DATABASE "{database}"')
    proxy: subprocess.Popen | None = None
    procs: list[subprocess.Popen] = []
    peak = [0]
    sampling = threading.Event()
    try:
        setup = open_storage(url, heartbeat=False)
        optuna.create_study(study_name=STUDY, storage=setup, direction="maximize")
        setup.engine.dispose()
        worker_url = url
        if mode == "proxy":
            proxy, worker_url = start_proxy(url)
        sampler_admin = _admin()

        def sample() -> None:
            while not sampling.is_set():
                peak[0] = max(peak[0], _connections(sampler_admin, database))
                time.sleep(0.25)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        env = {**os.environ, **LEASES, "LRTUNE_STORAGE": worker_url}
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(trials), str(sleep), str(victim)]
        started = time.monotonic()
        procs = [subprocess.Popen([*cmd, str(victim_sleep)], env=env) for _ in range(workers)]
        reader = open_storage(url, heartbeat=False)
        study = optuna.load_study(study_name=STUDY, storage=reader)
        killed_pid = None
        rss = float("nan")
        while time.monotonic() - started < timeout and any(p.poll() is None for p in procs):
            running = study.get_trials(deepcopy=False, states=(State.RUNNING,))
            if killed_pid is None:
                target = [t for t in running if t.number == victim and "pid" in t.user_attrs]
                if target:
                    killed_pid = target[0].user_attrs["pid"]
                    alive = [p for p in procs if p.poll() is None and p.pid != killed_pid]
                    rss = _rss_mb(alive[0].pid) if alive else rss
                    os.kill(killed_pid, signal.SIGKILL)
            time.sleep(0.2)
        wall = time.monotonic() - started
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        sampling.set()
        thread.join(5)
        sampler_admin.close()
        done = study.get_trials(deepcopy=False)
        finished = [t for t in done if t.state in (State.COMPLETE, State.PRUNED)]
        retries = [t for t in done if "failed_trial" in t.system_attrs]
        # throughput of the main phase: trials that are not retries, first start → last of them done
        main_phase = [t for t in finished if "failed_trial" not in t.system_attrs]
        starts = [t.datetime_start for t in done if t.datetime_start]
        span = (
            (max(t.datetime_complete for t in main_phase) - min(starts)).total_seconds()
            if main_phase
            else float("nan")
        )
        victim_trial = next((t for t in done if t.number == victim), None)
        reader.engine.dispose()
        return ScaleRun(
            mode=mode,
            workers=workers,
            trials=trials,
            finished=len(finished),
            failed=sum(1 for t in done if t.state == State.FAIL),
            retried=len(retries),
            left_running_or_waiting=sum(1 for t in done if t.state in (State.RUNNING, State.WAITING)),
            killed_trial_failed_and_retried=bool(
                victim_trial is not None
                and victim_trial.state == State.FAIL
                and any(r.system_attrs.get("failed_trial") == victim and r in finished for r in retries)
            ),
            trials_per_s=len(main_phase) / span if span and span > 0 else float("nan"),
            max_db_connections=peak[0],
            worker_failures=sum(1 for p in procs if p.pid != killed_pid and p.returncode != 0),
            wall_s=wall,
            worker_rss_mb=rss,
        )
    finally:
        sampling.set()
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if proxy is not None:
            stop_proxy(proxy)
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()


# ------------------------------------------------------------------------------ the table


def table(runs: list[ScaleRun]) -> str:
    """The markdown table of docs/scale.md."""
    header = (
        "| mode | N | trials | finished | FAIL | retried | RUNNING/WAITING left | killed trial failed+retried "
        "| trials/s | max DB connections | worker exits ≠ 0 | worker RSS MB |"
    )
    rows = [header, "|" + "---|" * 12]
    for r in runs:
        rows.append(
            f"| {r.mode} | {r.workers} | {r.trials} | {r.finished} | {r.failed} | {r.retried} | "
            f"{r.left_running_or_waiting} | {'yes' if r.killed_trial_failed_and_retried else 'no'} | "
            f"{r.trials_per_s:.1f} | {r.max_db_connections} | {r.worker_failures} | {r.worker_rss_mb:.0f} |"
        )
    return "\n".join(rows)


def _machine() -> str:
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} CPUs; uptime: {load}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the measurement; prints the table (and writes ``--out`` / ``--json``)."""
    parser = argparse.ArgumentParser(prog="python -m lrtune.bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="8,16,32", help="comma-separated N (default 8,16,32)")
    parser.add_argument("--modes", default="direct,proxy", help="direct, proxy or both (default both)")
    parser.add_argument("--trials-per-worker", type=int, default=6)
    parser.add_argument("--sleep", type=float, default=0.02, help="seconds per trial (default 0.02)")
    parser.add_argument("--victim-sleep", type=float, default=8.0, help="seconds of the killed trial (default 8)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run before giving up")
    parser.add_argument("--out", help="write the table (with date and load) to this markdown file")
    parser.add_argument("--json", help="write the runs as JSON here")
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    runs = []
    for n in (int(x) for x in args.workers.split(",")):
        for mode in args.modes.split(","):
            run = measure(
                mode,
                n,
                trials_per_worker=args.trials_per_worker,
                sleep=args.sleep,
                victim_sleep=args.victim_sleep,
                timeout=args.timeout,
            )
            print(json.dumps(asdict(run)), file=sys.stderr, flush=True)
            runs.append(run)
    text = f"{table(runs)}\n\nmeasured {_machine()}\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in runs], indent=1))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:  # run as a file: no lrtune.bench package import, hence no torch
        trials, sleep, victim, victim_sleep = sys.argv[2:6]
        sys.exit(worker_main(int(trials), float(sleep), int(victim), float(victim_sleep)))
    sys.exit(main())
