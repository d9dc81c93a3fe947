"""What pruning cost each family: replay a pruned search unpruned, and try other pruning policies.

Pruning judges a trial mid-run by its validation accuracy at equal epochs. A schedule that keeps
its LR high until late (wsd with a short final decay, step with a late first drop) has not
annealed yet when it is judged and looks worse than it will end. This module measures whether
that removed a family's best configuration:

1. the search (one lrtune study per family, pruned) is run or resumed with ``lrtune.study``;
2. every PRUNED trial is **replayed unpruned** — same parameters, same seed, so same
   initialisation and batch order, all epochs — and stored as a trial of the study
   ``"<search study>:unpruned"`` (study attr ``lrtune_replay_of``; these studies carry no
   ``lrtune_config`` so the analysis and the confirmations never mistake them for searches).
   Replays already stored are reused; a COMPLETE trial is its own replay (it ran all epochs);
3. per family: was the best unpruned configuration pruned, and how much lower is the best
   score the pruned search kept (``drop``, accuracy points);
4. with every trial's full learning curve known, pruning **policies** are re-played offline on
   the same trials in the same order through Optuna's own ``MedianPruner``: ``median`` (the
   rule the search ran: judged at epochs ⌈E/2⌉..E−1) and ``median-decay`` (the same, but a
   trial is not judged before its own LR has begun to decay: the first epoch ≥ ⌈E/2⌉ whose
   end-of-epoch multiplier is below 99 % of its peak, see :func:`decay_start_epoch`; a
   schedule that never decays is judged from ⌈E/2⌉), and ``median-legacy`` (lrtune's rule
   before: from ⌊E/2⌋, final epoch included). The replayed ``median`` must reproduce the
   search's own decisions, which checks the replay.

``python -m lrtune.prune_accounting --family step,wsd,cosine,onecycle --trials 12`` (also
``python -m lrtune.bench --prune-accounting ...``) prints the table; ``--no-search`` only replays
what a storage already holds.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import torch

from lrtune import study as study_cli
from lrtune.cli import fail
from lrtune.core.schedules import FAMILIES, Schedule
from lrtune.training.data import load_dataset, steps_per_epoch
from lrtune.training.models import build_model
from lrtune.training.train import TrainConfig, train
from lrtune.tuning import keys
from lrtune.tuning.config import TaskConfig
from lrtune.tuning.pruning import legacy_pruning_start, may_prune, pruning_start
from lrtune.tuning.storage import check_storage_url, display_url, open_storage

PROG = "lrtune.prune_accounting"

__all__ = [
    "POLICIES",
    "FamilyAccount",
    "account_family",
    "decay_start_epoch",
    "format_table",
    "main",
    "replay_pruned_trials",
    "simulate_policy",
]

POLICIES: tuple[str, ...] = ("median", "median-decay", "median-legacy")
REPLAY_SUFFIX = ":unpruned"


def decay_start_epoch(schedule: Schedule, epochs: int, steps_per_epoch: int) -> int | None:
    """The first epoch (1-based) whose end-of-epoch LR multiplier is below 99 % of the peak
    reached so far, or None when the schedule never decays within ``epochs`` (constant;
    plateau, whose decay depends on the run, counts as never)."""
    total = epochs * steps_per_epoch
    ends = np.arange(1, epochs + 1) * steps_per_epoch - 1
    m = schedule.curve_multipliers(total, steps=np.arange(total))
    peak = np.maximum.accumulate(m)
    below = np.nonzero(m[ends] < 0.99 * peak[ends])[0]
    return int(below[0]) + 1 if below.size else None


def first_judged_epoch(policy: str, schedule: Schedule, epochs: int, steps_per_epoch: int) -> int:
    """The first epoch at which ``policy`` may prune this trial (E = never)."""
    start = pruning_start(epochs)
    if policy == "median":
        return start
    if policy == "median-decay":
        decay = decay_start_epoch(schedule, epochs, steps_per_epoch)
        return start if decay is None else max(start, decay)
    if policy == "median-legacy":
        return legacy_pruning_start(epochs)
    raise ValueError(f"unknown policy {policy!r}; valid: {', '.join(POLICIES)}")


@dataclass
class ReplayedTrial:
    number: int
    pruned: bool
    epochs_run: int
    pruned_value: float | None
    curve: list[float]  # validation accuracy after every epoch, all E epochs
    test_accuracy: float
    schedule: Schedule
    reported: list[float]  # what the search's run reported (a prefix of curve, if the replay is exact)


def _load_task(study: optuna.Study) -> TaskConfig:
    return TaskConfig.from_dict(study.user_attrs[keys.CONFIG])


def _replay_study(storage: optuna.storages.BaseStorage, search: optuna.Study) -> optuna.Study:
    replay = optuna.create_study(
        study_name=search.study_name + REPLAY_SUFFIX, storage=storage, direction="maximize", load_if_exists=True
    )
    if replay.user_attrs.get(keys.REPLAY_OF) != search.study_name:
        replay.set_user_attr(keys.REPLAY_OF, search.study_name)
        replay.set_user_attr(keys.REPLAY_CONFIG, search.user_attrs[keys.CONFIG])
    return replay


def replay_pruned_trials(
    search: optuna.Study,
    *,
    storage: optuna.storages.BaseStorage,
    data: Any = None,
    device: str = "cpu",
    data_dir: str = "data",
    progress: Callable[[str], None] | None = None,
) -> list[ReplayedTrial]:
    """Every finished trial of ``search`` with its full, unpruned validation curve.

    PRUNED trials are re-trained for all epochs with their own parameters and seed (stored in
    ``<study>:unpruned``; stored replays are reused). A replay must reproduce the pruned run's
    reported epochs (same seed, same arithmetic): ``curve[:epochs_run]`` equals the pruned
    trial's intermediate values, which :func:`account_family` reports as ``max_prefix_diff``.
    """

    task = _load_task(search)
    family = search.user_attrs[keys.FAMILY]
    replay = _replay_study(storage, search)
    stored = {
        t.user_attrs.get("source_trial"): t
        for t in replay.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    }
    out: list[ReplayedTrial] = []
    finished = search.get_trials(deepcopy=False, states=keys.FINISHED_STATES)
    for trial in sorted(finished, key=lambda t: t.number):
        schedule = Schedule.from_params(trial.params, family=family)
        intermediate = [trial.intermediate_values[e] for e in sorted(trial.intermediate_values)]
        pruned = trial.state == optuna.trial.TrialState.PRUNED
        if not pruned:
            out.append(
                ReplayedTrial(
                    trial.number,
                    False,
                    len(intermediate),
                    None,
                    intermediate,
                    float(trial.user_attrs.get("test_accuracy", math.nan)),
                    schedule,
                    intermediate,
                )
            )
            continue
        if trial.number not in stored:
            if data is None:
                data = load_dataset(
                    task.dataset, data_dir=data_dir, val_fraction=task.val_fraction, seed=task.seed, device=device
                )
            if progress:
                progress(f"replay {search.study_name} trial {trial.number} unpruned")
            seed = int(trial.user_attrs["seed"])
            model = build_model(task.model, input_shape=data.input_shape, n_classes=data.n_classes, seed=seed)
            config = TrainConfig(
                epochs=task.epochs,
                batch_size=task.batch_size,
                optimizer=task.optimizer,
                weight_decay=task.weight_decay,
                seed=seed,
            )
            started = time.perf_counter()
            result = train(model, data, schedule, config=config)
            replay.add_trial(
                optuna.trial.create_trial(
                    params=trial.params,
                    distributions=trial.distributions,
                    value=float(result.val_accuracy),
                    intermediate_values={i + 1: float(v) for i, v in enumerate(result.val_accuracies)},
                    user_attrs={
                        "source_trial": trial.number,
                        "seed": seed,
                        "test_accuracy": float(result.test_accuracy),
                        "val_accuracy": float(result.val_accuracy),
                        "epochs_run": int(result.epochs_run),
                        "diverged": bool(result.diverged),
                        "seconds": round(time.perf_counter() - started, 3),
                        "steps_per_epoch": steps_per_epoch(len(data.y_train), task.batch_size),
                    },
                )
            )
            stored = {
                t.user_attrs.get("source_trial"): t
                for t in replay.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            }
        again = stored[trial.number]
        curve = [again.intermediate_values[e] for e in sorted(again.intermediate_values)]
        out.append(
            ReplayedTrial(
                trial.number,
                True,
                len(intermediate),
                intermediate[-1] if intermediate else None,
                curve,
                float(again.user_attrs.get("test_accuracy", math.nan)),
                schedule,
                intermediate,
            )
        )
    return out


def simulate_policy(
    trials: Sequence[ReplayedTrial], policy: str, *, epochs: int, steps_per_epoch: int, n_startup_trials: int = 5
) -> dict[int, tuple[int, bool]]:
    """Replay ``policy`` on the trials' full curves, in trial order, through Optuna's
    ``MedianPruner(n_startup_trials, n_warmup_steps=⌈E/2⌉)``; returns {trial number: epochs it
    would have run, whether it was pruned)}. ``median-legacy`` is the rule lrtune had before
    :mod:`lrtune.tuning.pruning`: from epoch ⌊E/2⌋ on, the final epoch included (a trial pruned at
    epoch E had run its whole budget and lost its score)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    legacy = policy == "median-legacy"
    warmup = legacy_pruning_start(epochs) if legacy else pruning_start(epochs)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=n_startup_trials, n_warmup_steps=warmup)
    study = optuna.create_study(direction="maximize", pruner=pruner)
    ran: dict[int, tuple[int, bool]] = {}
    for item in trials:
        trial = study.ask()
        first = first_judged_epoch(policy, item.schedule, epochs, steps_per_epoch)
        ran[item.number] = (epochs, False)
        for epoch, value in enumerate(item.curve[:epochs], start=1):
            trial.report(value, epoch)
            allowed = epoch >= first and (legacy or may_prune(epoch, epochs))
            if allowed and trial.should_prune():
                ran[item.number] = (epoch, True)
                break
        if ran[item.number][1]:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, item.curve[epochs - 1])
    return ran


@dataclass
class FamilyAccount:
    """One family's pruning account under one policy (values are validation accuracies)."""

    family: str
    policy: str
    trials: int
    pruned: int
    epochs_run: int
    epochs_unpruned: int
    best_unpruned: float
    best_unpruned_trial: int
    best_was_pruned: bool
    best_kept: float
    best_kept_trial: int
    rank_of_kept: int  # rank (1 = best) of the kept best among all unpruned finals
    max_prefix_diff: float  # replay vs the pruned run over the epochs both ran (0 = exact)
    matches_search: bool | None = None  # the replayed policy reproduces the search's own pruning
    pruned_at_final: int = 0  # pruned after running all E epochs (only the legacy rule does that)

    @property
    def drop_points(self) -> float:
        return 100.0 * (self.best_unpruned - self.best_kept)

    @property
    def saved(self) -> float:
        return 1.0 - self.epochs_run / self.epochs_unpruned


def account_family(
    family: str, trials: Sequence[ReplayedTrial], *, epochs: int, steps_per_epoch: int, policy: str | None = None
) -> FamilyAccount:
    """The account of the search as it ran (``policy=None``) or as ``policy`` would have run it."""
    finals = {t.number: t.curve[epochs - 1] for t in trials}
    if policy is None:
        ran = {t.number: (t.epochs_run if t.pruned else epochs, t.pruned) for t in trials}
        label = "as run"
    else:
        ran = simulate_policy(trials, policy, epochs=epochs, steps_per_epoch=steps_per_epoch)
        label = policy
    kept = {n: v for n, v in finals.items() if not ran[n][1]}
    best_n = max(finals, key=lambda n: (finals[n], -n))
    kept_n = max(kept, key=lambda n: (kept[n], -n)) if kept else best_n
    ordered = sorted(finals.values(), reverse=True)
    prefix = [max((abs(a - b) for a, b in zip(t.curve, t.reported)), default=0.0) for t in trials if t.pruned]
    account = FamilyAccount(
        family=family,
        policy=label,
        trials=len(trials),
        pruned=sum(p for _, p in ran.values()),
        epochs_run=sum(e for e, _ in ran.values()),
        epochs_unpruned=epochs * len(trials),
        best_unpruned=finals[best_n],
        best_unpruned_trial=best_n,
        best_was_pruned=ran[best_n][1],
        best_kept=kept.get(kept_n, math.nan),
        best_kept_trial=kept_n,
        rank_of_kept=1 + sum(v > kept.get(kept_n, -math.inf) for v in ordered),
        max_prefix_diff=max(prefix, default=0.0),
        pruned_at_final=sum(p and e == epochs for e, p in ran.values()),
    )
    if policy == "median":
        actual = {t.number: (t.epochs_run if t.pruned else epochs, t.pruned) for t in trials}
        account.matches_search = actual == ran
    return account


def format_table(accounts: Sequence[FamilyAccount]) -> str:
    """The accounts as a markdown table."""
    head = (
        "| family | policy | trials | pruned | at final epoch | epochs run | saved | best unpruned (trial) "
        "| was it pruned? | best kept (trial) | rank of kept | drop (points) |"
    )
    rows = [head, "|" + "---|" * 12]
    for a in accounts:
        rows.append(
            f"| {a.family} | {a.policy} | {a.trials} | {a.pruned} | {a.pruned_at_final} | {a.epochs_run}/{a.epochs_unpruned} | {a.saved:.0%} "
            f"| {a.best_unpruned:.4f} (#{a.best_unpruned_trial}) | {'**yes**' if a.best_was_pruned else 'no'} "
            f"| {a.best_kept:.4f} (#{a.best_kept_trial}) | {a.rank_of_kept} | {a.drop_points:.2f} |"
        )
    return "\n".join(rows)


# --------------------------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lrtune.prune_accounting",
        description="Run (or resume) a pruned search, replay its pruned trials unpruned and report "
        "per family whether pruning cost the family its best configuration.",
    )
    parser.add_argument(
        "--family",
        default="step,wsd,cosine,onecycle",
        help="comma-separated families (default step,wsd,cosine,onecycle)",
    )
    parser.add_argument("--trials", type=int, default=12, help="search trials per family (default 12)")
    parser.add_argument(
        "--storage",
        default="sqlite:///studies/prune_accounting.db",
        help="Optuna storage URL (default sqlite:///studies/prune_accounting.db)",
    )
    parser.add_argument(
        "--no-search",
        action="store_true",
        help="don't run or resume the search; only replay what the storage holds",
    )
    parser.add_argument(
        "--policy", action="append", choices=POLICIES, help="policies to replay offline (default: all)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads for the replays (default: torch's)"
    )
    parser.add_argument(
        "--study-args",
        default="",
        help="extra arguments for python -m lrtune.study, e.g. '--dataset digits --epochs 6'",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:

    parser = build_parser()
    args = parser.parse_args(argv)
    families = [f.strip() for f in args.family.split(",") if f.strip()]
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        return fail(PROG, f"unknown family {', '.join(unknown) or '(none)'}; valid: {', '.join(FAMILIES)}")
    if args.trials < 1:
        return fail(PROG, f"--trials must be ≥ 1, but got {args.trials}")
    if not args.no_search:
        code = study_cli.main(
            [
                "--family",
                ",".join(families),
                "--trials",
                str(args.trials),
                "--storage",
                args.storage,
                "--no-artifacts",
                "--fuse",
                "1",  # trial by trial, as the replay judges
                *shlex.split(args.study_args),
            ]
        )
        if code != 0:
            return code
    try:
        if args.no_search:  # only read what is there: a missing SQLite file is an error, never created
            check_storage_url(args.storage, create=False)
        storage = open_storage(args.storage, heartbeat=False)
    except Exception as exc:  # noqa: BLE001 — a one-line error, never a traceback
        return fail(PROG, str(exc))
    summaries = [
        s
        for s in optuna.get_all_study_summaries(storage, include_best_trial=False)
        if s.user_attrs.get(keys.KIND, keys.KIND_SEARCH) == keys.KIND_SEARCH
        and s.user_attrs.get(keys.FAMILY) in families
        and keys.CONFIG in s.user_attrs
    ]
    if not summaries:
        return fail(PROG, f"no lrtune search study of {', '.join(families)} in {display_url(args.storage)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    policies = args.policy or list(POLICIES)
    accounts: list[FamilyAccount] = []
    for summary in sorted(summaries, key=lambda s: families.index(s.user_attrs[keys.FAMILY])):
        search = optuna.load_study(study_name=summary.study_name, storage=storage)
        task = _load_task(search)
        family = summary.user_attrs[keys.FAMILY]
        trials = replay_pruned_trials(
            search, storage=storage, progress=lambda m: print(m, file=sys.stderr, flush=True)
        )
        if not trials:
            continue
        spe = _steps_per_epoch(search)
        accounts.append(account_family(family, trials, epochs=task.epochs, steps_per_epoch=spe))
        for policy in policies:
            accounts.append(account_family(family, trials, epochs=task.epochs, steps_per_epoch=spe, policy=policy))
    print(format_table(accounts))
    for a in accounts:
        if a.matches_search is False:
            print(
                f"note: {a.family}: the replayed median rule does not reproduce the search's own pruning "
                "(expected when the search ran with several workers or fused groups)"
            )
        if a.policy == "as run" and a.max_prefix_diff > 1e-9:
            print(
                f"note: {a.family}: replays differ from the pruned runs by up to {a.max_prefix_diff:.4f} on the epochs both ran"
            )
    return 0


def _steps_per_epoch(search: optuna.Study) -> int:
    for t in search.get_trials(deepcopy=False):
        if "steps_per_epoch" in t.user_attrs:
            return int(t.user_attrs["steps_per_epoch"])
    raise ValueError(f"study {search.study_name} has no trial with steps_per_epoch")


if __name__ == "__main__":
    raise SystemExit(main())
