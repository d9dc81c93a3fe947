"""Starting a real ``python -m lrtune.proxy`` and ``python -m lrtune.study`` processes for tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from lrtune.bench.scale import start_proxy, stop_proxy

FAST_LEASES = {"LRTUNE_HEARTBEAT_INTERVAL": "1", "LRTUNE_GRACE_PERIOD": "5"}


@contextmanager
def running_proxy(storage_url: str, env_extra: dict[str, str] | None = None) -> Iterator[str]:
    """A proxy on a free port in front of ``storage_url`` (passed in ``$LRTUNE_STORAGE``); yields
    ``grpc://127.0.0.1:PORT``; stopped (SIGTERM, then SIGKILL) when the block ends."""
    proc, url = start_proxy(storage_url, env_extra)
    try:
        yield url
    finally:
        stop_proxy(proc)
        proc.stderr.close()


def start_study(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.Popen:
    """``python -m lrtune.study ARGS`` with 1 s leases and a 5 s grace period."""
    env = {**os.environ, **FAST_LEASES, **(env_extra or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "lrtune.study", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop_all(procs: list[subprocess.Popen]) -> None:
    """Kill whatever is still running (a test's ``finally``)."""
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def wait_for(predicate, timeout: float = 300.0, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise AssertionError("condition not reached in time")
