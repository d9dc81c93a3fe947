"""Leases: heartbeats that travel through Optuna's gRPC storage proxy.

The proxy (``optuna.storages.run_grpc_proxy_server``) forwards the storage operations but has no
heartbeat operation, so Optuna's stale-trial detection does not work through it. A lease is a
trial system attribute the worker rewrites while the trial runs:

* ``record_heartbeat(trial_id)`` sets ``LEASE_KEY`` to the worker's wall clock (Unix seconds)
  every ``heartbeat_interval`` seconds (Optuna's own heartbeat thread calls it);
* a RUNNING trial is stale when ``now − lease > grace_period`` (a trial without a lease yet:
  ``now − datetime_start > grace_period``);
* ``optuna.storages.fail_stale_trials`` then marks it FAIL — exactly one process wins, the
  storage refuses to finish a trial twice — and the retry callback enqueues it once, WAITING,
  with the same parameters (lrtune's trial seed is the original trial's number).

Because :class:`LeasedGrpcStorage` *is* a ``BaseHeartbeat``, everything Optuna and lrtune do for
RDB heartbeats (the heartbeat thread in ``study.optimize``, ``fail_stale_trials``,
``RetryHeartbeatStaleTrialCallback``) works unchanged through the proxy. The clocks of the
workers' machines must agree to well within the grace period (NTP does; the default grace period
is 180 s).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import GrpcStorageProxy
from optuna.trial import FrozenTrial, TrialState

from lrtune.tuning.optuna_compat import BaseHeartbeat, frozen_trial_id

__all__ = ["LEASE_KEY", "LeasedGrpcStorage", "RetryOnce", "claimable_retries", "lease_age", "stale"]

LEASE_KEY = "lrtune:lease"
"""Trial system attribute: Unix time of the running trial's latest renewal."""


def lease_age(trial: FrozenTrial, now: float) -> float:
    """Seconds since ``trial``'s lease was last renewed (since it started, before the first renewal).

    >>> from optuna.trial import create_trial
    >>> t = create_trial(state=TrialState.RUNNING, system_attrs={LEASE_KEY: 100.0})
    >>> lease_age(t, now=130.0)
    30.0
    """
    renewed = trial.system_attrs.get(LEASE_KEY)
    if renewed is None:
        started = trial.datetime_start or datetime.now()
        renewed = started.timestamp()
    return now - float(renewed)


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
            self.set_trial_system_attr(trial_id, LEASE_KEY, time.time())
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
