"""Leases through a real gRPC proxy: renewed while a trial runs, an expired one failed and retried
once, retries owned by the process that enqueued them, the budget of independent processes."""

from __future__ import annotations

import time

import optuna
import pytest
from optuna.trial import TrialState, create_trial
from proxy_helpers import running_proxy

from lrtune.tuning.leases import (
    LEASE_KEY,
    LeasedGrpcStorage,
    RetryOnce,
    claimable_retries,
    lease_age,
    lease_holder,
    open_slots,
    optimize_one,
    stale,
    this_holder,
    wait_for_leases,
)
from lrtune.tuning.optuna_compat import trial_id
from lrtune.tuning.storage import grpc_address

optuna.logging.set_verbosity(optuna.logging.ERROR)


def test_lease_age_and_staleness() -> None:
    leased = create_trial(state=TrialState.RUNNING, system_attrs={LEASE_KEY: {"renewed": 100.0, "holder": "h:7"}})
    leased.datetime_start = None  # only the lease tells
    assert lease_age(leased, now=103.0) == 3.0 and lease_holder(leased) == "h:7"
    assert stale(leased, now=104.0, grace_period=3) and not stale(leased, now=103.0, grace_period=3)
    done = create_trial(state=TrialState.COMPLETE, value=1.0, system_attrs={LEASE_KEY: {"renewed": 0.0}})
    assert not stale(done, now=1e9, grace_period=3)  # only RUNNING trials expire
    unleased = create_trial(state=TrialState.RUNNING)  # no renewal yet: its start time counts
    assert lease_holder(unleased) is None and lease_age(unleased, now=time.time()) < 5
    # a retry just started carries its failed original's old lease: its start is what counts
    retry = create_trial(state=TrialState.RUNNING, system_attrs={LEASE_KEY: {"renewed": time.time() - 600}})
    assert not stale(retry, now=time.time(), grace_period=3)


def test_an_idle_process_does_not_wait_without_running_trials_or_heartbeats() -> None:
    study = optuna.create_study()  # in memory: no heartbeats
    study.enqueue_trial({"x": 0.5})
    assert open_slots(study, trials=3, adopted=set()) == 2  # the WAITING one counts
    study.ask()  # RUNNING, but nobody can expire it here
    assert not wait_for_leases([study])


@pytest.mark.slow
def test_leases_through_the_proxy(tmp_path) -> None:
    """Renewed while the objective runs; expired → FAIL and one WAITING retry with the same
    parameters, owned by the process whose callback enqueued it; the budget counts it."""
    with running_proxy(f"sqlite:///{tmp_path / 'l.db'}") as url:
        host, port = grpc_address(url)
        mine = RetryOnce()
        storage = LeasedGrpcStorage(
            host=host, port=port, heartbeat_interval=1, grace_period=2, stale_trial_callback=mine
        )
        storage.wait_server_ready(timeout=10)
        study = optuna.create_study(study_name="leases", storage=storage)

        def objective(trial: optuna.Trial) -> float:
            x = trial.suggest_float("x", 0, 1)
            time.sleep(2.5)  # longer than the grace period: only renewals keep it alive
            return x

        study.optimize(objective, n_trials=1)
        first = study.trials[0]
        assert first.state == TrialState.COMPLETE
        lease = first.system_attrs[LEASE_KEY]
        assert lease["holder"] == this_holder()
        assert lease["renewed"] - first.datetime_start.timestamp() > 1.0  # renewed after its start

        lost = study.ask()  # started, then its process "dies": no renewals
        lost.suggest_float("x", 0, 1)
        assert open_slots(study, trials=2, adopted=set()) == 0
        time.sleep(2.5)
        assert wait_for_leases([study])  # a trial RUNNING: it waits one poll, then fails the expired
        trials = study.trials
        assert trials[lost.number].state == TrialState.FAIL
        retry = trials[-1]
        assert retry.state == TrialState.WAITING and retry.system_attrs["failed_trial"] == lost.number
        assert retry.params == trials[lost.number].params
        assert claimable_retries(study, mine, adopted=set()) == 1
        assert claimable_retries(study, RetryOnce(), adopted=set()) == 0  # another process's
        assert claimable_retries(study, RetryOnce(), adopted={retry.number}) == 1  # left by a dead one
        assert open_slots(study, trials=2, adopted=set()) == 1  # the retry, nothing new
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)  # asks the WAITING retry first
        assert study.trials[-1].state == TrialState.COMPLETE and len(study.trials) == 3
        assert open_slots(study, trials=2, adopted=set()) == 0 and not wait_for_leases([study])
        storage.close()


def test_a_trial_failed_by_another_process_meanwhile_is_one_line_not_a_crash(tmp_path, capsys) -> None:
    """A worker that stalled past the grace period finds its trial failed by another: it goes on."""
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 't.db'}", heartbeat_interval=60)
    study = optuna.create_study(storage=storage)

    def objective(trial: optuna.Trial) -> float:
        other = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 't.db'}")  # "another process"
        other.set_trial_state_values(trial_id(trial), TrialState.FAIL)
        return 1.0

    assert not optimize_one(study, objective)
    assert "failed by another worker" in capsys.readouterr().err
    assert optimize_one(study, lambda t: 2.0) and study.trials[-1].value == 2.0
    with pytest.raises(ZeroDivisionError):  # anything else still raises
        optimize_one(study, lambda t: 1 / 0)
