"""``python -m lrtune.prune_accounting``: what pruning cost each family of a search.

Runs (or resumes) a pruned search with ``lrtune.study``'s own configuration (``--study-args``:
any study flags, e.g. ``--task examples.my_task:make_task`` or ``--pruner hyperband``), replays
every pruned trial unpruned and prints, per family and pruning policy, whether pruning cost the
family its best configuration (:mod:`lrtune.tuning.pruning_account`). ``--no-search`` only
replays what the storage already holds (a study made by ``lrtune.study`` with any options: fused
groups, a user task, a loss metric, Hyperband).

Exit codes: 0 done, 2 bad input (one line on stderr), 130 interrupted (finished replays are kept).
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from collections.abc import Sequence

import optuna
import torch

from lrtune import study as study_cli
from lrtune.cli import ArgumentParser, UsageError, run_command
from lrtune.core.schedules import FAMILIES
from lrtune.tuning.pruning_account import (
    POLICIES,
    FamilyAccount,
    account_family,
    account_pruning,
    decay_start_epoch,
    first_judged_epoch,
    format_table,
    replay_pruned_trials,
    simulate_policy,
)
from lrtune.tuning.storage import check_storage_url, open_storage

PROG = "lrtune.prune_accounting"

__all__ = [
    "POLICIES",
    "FamilyAccount",
    "account_family",
    "build_parser",
    "decay_start_epoch",
    "first_judged_epoch",
    "format_table",
    "main",
    "replay_pruned_trials",
    "run_account",
    "simulate_policy",
]


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog=f"python -m {PROG}",
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
        help="lrtune.study options of the search, e.g. '--dataset digits --epochs 6' or "
        "'--task examples.my_task:make_task --pruner hyperband' (default: trial by trial, --fuse 1)",
    )
    return parser


def _search(families: list[str], trials: int, storage: str, study_args: str) -> int:
    """Run or resume the search: ``lrtune.study``'s configuration from ``study_args``, with this
    command's families, trials and storage, no artifacts, and trial by trial unless ``--fuse`` is given."""
    task, run, _ = study_cli.parse_configs(shlex.split(study_args))
    if run.workers > 1:
        raise UsageError(
            "--study-args: --workers is not supported here; run python -m lrtune.study --workers N "
            "yourself, then this command with --no-search"
        )
    run = dataclasses.replace(
        run,
        families=tuple(families),
        trials=trials,
        storage=storage,
        artifacts=False,
        fuse=run.fuse if run.fuse is not None else 1,  # trial by trial, as the replay judges
    )
    check_storage_url(run.storage)
    return study_cli.run_search(task, run, study_cli.resolve_device(run.device))


def run_account(
    families: list[str],
    *,
    storage: str,
    trials: int = 12,
    search: bool = True,
    study_args: str = "",
    policies: Sequence[str] = POLICIES,
    threads: int | None = None,
) -> int:
    """The command's work: the search (unless ``search`` is False), the replays, the table."""
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise UsageError(f"unknown family {', '.join(unknown) or '(none)'}; valid: {', '.join(FAMILIES)}")
    if trials < 1:
        raise UsageError(f"--trials must be ≥ 1, but got {trials}")
    if search:
        code = _search(families, trials, storage, study_args)
        if code != 0:
            return code
    else:  # only read what is there: a missing SQLite file is an error, never created
        check_storage_url(storage, create=False)
    opened = open_storage(storage, heartbeat=False)
    if threads:
        torch.set_num_threads(threads)
    accounts = account_pruning(
        opened, families, policies=policies, progress=lambda m: print(m, file=sys.stderr, flush=True)
    )
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (tests call it in-process)."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)

    def body() -> int:
        args = build_parser().parse_args(argv)
        return run_account(
            [f.strip() for f in args.family.split(",") if f.strip()],
            storage=args.storage,
            trials=args.trials,
            search=not args.no_search,
            study_args=args.study_args,
            policies=args.policy or list(POLICIES),
            threads=args.threads,
        )

    return run_command(PROG, body, kept="finished searches and replays are kept; run it again to resume")


if __name__ == "__main__":
    sys.exit(main())
