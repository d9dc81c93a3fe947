"""Leases: heartbeats that travel through Optuna's gRPC storage proxy.

The proxy (``optuna.storages.run_grpc_proxy_server``) forwards the storage operations but has no
heartbeat operation, so Optuna's stale-trial detection does not work through it. A lease is a
trial system attribute the worker rewrites while the trial runs:

* ``record_heartbeat(trial_id)`` sets ``LEASE_KEY`` to ``{"renewed": Unix seconds of the
  worker's clock, "holder": "host:pid"}`` every ``heartbeat_interval`` seconds (Optuna's own
  heartbeat thread calls it; ``holder`` tells an operator which process runs the trial);
* a RUNNING trial is stale when ``now − max(lease, datetime_start) > grace_period`` (the start
  counts for a trial not yet renewed, and for a retry, which inherits its original's old lease);
* ``optuna.storages.fail_stale_trials`` then marks it FAIL — exactly one process wins, the
  storage refuses to finish a trial twice — and the retry callback enqueues it once, WAITING,
  with the same parameters (lrtune's trial seed is the original trial's number).

The budget of independent processes (torch-free, so the scale benchmark's light workers run the
same code as ``python -m lrtune.study``): :func:`open_slots` — how many trials a process may start —
and :func:`wait_for_leases` — an idle process stays while trials of others run, so the last live
process retries a killed worker's trial once its lease expires.

Because :class:`LeasedGrpcStorage` *is* a ``BaseHeartbeat``, everything Optuna and lrtune do for
RDB heartbeats (the heartbeat thread in ``study.optimize``, ``fail_stale_trials``,
``RetryHeartbeatStaleTrialCallback``) works unchanged through the proxy. The clocks of the
workers' machines must agree to well within the grace period (NTP does; the default grace period
is 180 s).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import GrpcStorageProxy
from optuna.trial import FrozenTrial, TrialState

from lrtune.tuning.keys import COUNTED_STATES, FINISHED_STATES
from lrtune.tuning.optuna_compat import BaseHeartbeat, frozen_trial_id, storage_of

__all__ = [
    "LEASE_KEY",
    "LeasedGrpcStorage",
    "RetryOnce",
    "adopted_retries",
    "claimable_retries",
    "counted_trials",
    "finished_trials",
    "lease_age",
    "lease_holder",
    "lease_poll_seconds",
    "optimize_one",
    "open_slots",
    "study_attr_once_set",
    "running_trials",
    "stale",
    "this_holder",
    "wait_for_leases",
    "waiting_trials",
]

LEASE_KEY = "lrtune:lease"
"""Trial system attribute: ``{"renewed": Unix time of the latest renewal, "holder": "host:pid"}``."""


def this_holder() -> str:
    """``host:pid`` of this process, as its leases name it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def lease_holder(trial: FrozenTrial) -> str | None:
    """``host:pid`` of the process that last renewed ``trial``'s lease (``None`` before the first)."""
    lease = trial.system_attrs.get(LEASE_KEY)
    return lease.get("holder") if isinstance(lease, dict) else None


def lease_age(trial: FrozenTrial, now: float) -> float:
    """Seconds since ``trial``'s lease was last renewed, or since the trial started if that is later.

    The start counts because a retry inherits its failed original's system attributes, lease
    included: a WAITING retry that a worker has just started must not look expired before its
    first renewal.

    >>> from optuna.trial import create_trial
    >>> t = create_trial(state=TrialState.RUNNING, system_attrs={LEASE_KEY: {"renewed": 100.0, "holder": "h:1"}})
    >>> t.datetime_start = None
    >>> lease_age(t, now=130.0)
    30.0
    """
    lease = trial.system_attrs.get(LEASE_KEY)
    marks = [float(lease["renewed"])] if isinstance(lease, dict) and "renewed" in lease else []
    if trial.datetime_start is not None:
        marks.append(trial.datetime_start.timestamp())
    return now - max(marks) if marks else 0.0


def stale(trial: FrozenTrial, now: float, grace_period: float) -> bool:
    """A RUNNING trial whose lease is older than ``grace_period`` seconds: its worker is gone."""
    return trial.state == TrialState.RUNNING and lease_age(trial, now) > grace_period


class RetryOnce(optuna.storages.RetryHeartbeatStaleTrialCallback):
    """Optuna's retry callback (``max_retry=1``) that remembers which retries *this process* enqueued.

    ``fail_stale_trials`` runs the callback only in the process that won the race to fail a stale
    trial, so "the retries I enqueued" names one owner per retry: an idle worker runs only its
    own retries (:func:`claimable_retries`), and two idle workers never both start one — the
    second would create a fresh trial, one more than ``--trials``.
    """

    def __init__(self) -> None:
        super().__init__(max_retry=1)
        self.enqueued: dict[str, set[int]] = {}

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        super().__call__(study, trial)
        original = trial.system_attrs.get("failed_trial", trial.number)
        self.enqueued.setdefault(study.study_name, set()).add(original)


def claimable_retries(study: optuna.Study, callback: object, adopted: set[int]) -> int:
    """WAITING trials this process may run although ``--trials`` are counted: retries its own
    ``callback`` (a :class:`RetryOnce`) enqueued, and ``adopted`` (trial numbers WAITING when the
    process started: a dead process's leftovers)."""
    mine = callback.enqueued.get(study.study_name, set()) if isinstance(callback, RetryOnce) else set()
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    return sum(1 for t in waiting if t.number in adopted or t.system_attrs.get("failed_trial") in mine)


class LeasedGrpcStorage(GrpcStorageProxy, BaseHeartbeat):
    """Optuna's gRPC proxy client with leases (trial system attributes) as its heartbeat.

    ``heartbeat_interval=None`` turns leases off (readers, confirmations): then it is the plain
    proxy client.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        heartbeat_interval: int | None = None,
        grace_period: int | None = None,
        stale_trial_callback: Callable[[optuna.Study, FrozenTrial], None] | None = None,
    ) -> None:
        super().__init__(host=host, port=port)
        self._heartbeat_interval = heartbeat_interval
        self._grace_period = grace_period if grace_period is not None else 2 * (heartbeat_interval or 60)
        self._stale_trial_callback = stale_trial_callback

    def record_heartbeat(self, trial_id: int) -> None:
        """Renew the trial's lease; a trial already finished (another worker failed it) is left alone."""
        try:
            self.set_trial_system_attr(trial_id, LEASE_KEY, {"renewed": time.time(), "holder": this_holder()})
        except (UpdateFinishedTrialError, KeyError):
            pass

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = time.time()
        running = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        return [frozen_trial_id(t) for t in running if stale(t, now, self._grace_period)]

    def get_heartbeat_interval(self) -> int | None:
        return self._heartbeat_interval

    def get_heartbeat_stale_trial_callback(self) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        return self._stale_trial_callback


# ------------------------------------------------------------------------------ the budget


WAITING = (TrialState.WAITING,)
LEASE_POLL_MAX_S = 10.0


def counted_trials(study: optuna.Study) -> int:
    """Trials that count towards ``--trials``: finished, running, or waiting for a retry."""
    return len(study.get_trials(deepcopy=False, states=COUNTED_STATES))


def waiting_trials(study: optuna.Study) -> int:
    """Counted trials nobody runs yet: enqueued retries of dead workers' trials (asked first)."""
    return len(study.get_trials(deepcopy=False, states=WAITING))


def finished_trials(study: optuna.Study) -> int:
    """Trials that ran to their end (completed or pruned)."""
    return len(study.get_trials(deepcopy=False, states=FINISHED_STATES))


def running_trials(study: optuna.Study) -> int:
    """Trials some process runs now (or ran until it died, before its lease or heartbeat expired)."""
    return len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def adopted_retries(study: optuna.Study) -> set[int]:
    """Numbers of the WAITING trials at a process's start (a dead process's retries it may run)."""
    return {t.number for t in study.get_trials(deepcopy=False, states=WAITING)}


def _retry_callback(study: optuna.Study) -> object:
    storage = storage_of(study)
    return storage.get_heartbeat_stale_trial_callback() if isinstance(storage, BaseHeartbeat) else None


def open_slots(study: optuna.Study, trials: int, adopted: set[int]) -> int:
    """Trials this process may start now: ``max(0, trials − counted) + its claimable retries``.

    Independent processes that count at the same moment may each start one: the study can end
    with up to one extra finished trial per concurrently starting process (never fewer).
    """
    return max(0, trials - counted_trials(study)) + claimable_retries(study, _retry_callback(study), adopted)


def lease_poll_seconds(study: optuna.Study) -> float | None:
    """How often an idle process looks for expired leases: the heartbeat interval, at most 10 s;
    ``None`` for a storage without heartbeats (journal, in-memory), where nobody can expire."""
    storage = storage_of(study)
    interval = storage.get_heartbeat_interval() if isinstance(storage, BaseHeartbeat) else None
    return None if interval is None else min(float(interval), LEASE_POLL_MAX_S)


def wait_for_leases(studies: list[optuna.Study]) -> bool:
    """Nothing to start, but trials of other processes RUN: wait one lease poll and fail the
    expired ones (a dead worker's; its retry is this process's if it wins the race to fail it, and
    runs next). ``False`` when nothing can change any more (no trial RUNNING, or no heartbeats).

    Rule: an idle process stays while some trial is RUNNING, so a live process is there to fail
    and retry a killed worker's trial once its lease expires: after a clean exit no trial is
    RUNNING or WAITING, and the lost trial was run again with its parameters and seed.
    """
    pending = [s for s in studies if running_trials(s) > 0]
    polls = [p for p in (lease_poll_seconds(s) for s in pending) if p is not None]
    if not polls:
        return False
    time.sleep(min(polls))
    for s in pending:
        optuna.storages.fail_stale_trials(s)
    return True


TAKEN_OVER = "Cannot tell a FAIL trial"


def optimize_one(study: optuna.Study, objective: Callable[[optuna.Trial], float]) -> bool:
    """``study.optimize(objective, n_trials=1)``; ``False`` (and one line on stderr) when another
    process failed this trial meanwhile because its lease or heartbeat expired.

    That happens when this process stalled for longer than the grace period: the trial has been
    failed and retried elsewhere, so this process goes on with the next one instead of dying with
    Optuna's ``Cannot tell a FAIL trial`` (which Optuna re-raises as an ``AssertionError``).
    """
    try:
        study.optimize(objective, n_trials=1)
    except (ValueError, AssertionError) as exc:
        causes = [exc, exc.__context__]
        if not any(isinstance(c, ValueError) and TAKEN_OVER in str(c) for c in causes):
            raise
        print(
            "lrtune: a trial of this process was failed by another worker (its lease expired: this "
            "process stalled longer than LRTUNE_GRACE_PERIOD); it is retried there, going on",
            file=sys.stderr,
        )
        return False
    return True


CREATION_WAIT_S = 10.0


def study_attr_once_set(storage: optuna.storages.BaseStorage, name: str, key: str) -> object | None:
    """The user attribute ``key`` of study ``name``, waiting up to 10 s for it to appear.

    A process that creates a study sets its attributes right after; an independent process that
    starts at the same moment may see the study before them. ``None`` if it never appears (a
    study lrtune did not create).
    """
    deadline = time.monotonic() + CREATION_WAIT_S
    while True:
        study_id = storage.get_study_id_from_name(name)
        value = storage.get_study_user_attrs(study_id).get(key)
        if value is not None or time.monotonic() > deadline:
            return value
        time.sleep(0.2)
