"""CLI: ``python -m lrtune.analyze`` — read lrtune studies, write the report, print the verdict.

    python -m lrtune.analyze                                   # sqlite:///studies/lrtune.db
    python -m lrtune.analyze --storage sqlite:///runs/x.db --study mnist1d/cnn/20ep/sgd:cosine
    python -m lrtune.analyze --confirm auto                    # race fresh seeds until a winner
    python -m lrtune.analyze --confirm auto --max-seeds 24     # ... continue a race further
    python -m lrtune.analyze --confirm 5                       # re-train the best configs first
    python -m lrtune.analyze --storage sqlite:///own.db        # your own Optuna study (lrtune spaces)
    python -m lrtune.analyze --confirm 5 --horizon 3           # ... and at 3x the epochs

The report goes to ``--out`` (default: ``report/`` next to the SQLite file, e.g.
``studies/report``). Problems with the storage (malformed URL, missing SQLite file, a file
without Optuna's tables, no lrtune studies, a single family) end with one line on stderr and
exit code 2; the database file is never created or modified (SQLite is opened read-only).
So do bad arguments (``--horizon`` below 2 or without ``--confirm``, ``--max-seeds`` below 1 or
without ``--confirm auto``), before anything is read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import optuna

from lrtune.cli import ArgumentParser, UsageError, run_command
from lrtune.errors import LrtuneError
from lrtune.report import (
    load_own_trials,
    load_trials,
    markdown_table,
    notes,
    seed_view,
    wants_own_analysis,
    write_report,
)
from lrtune.report.race import race_note_lines
from lrtune.tuning.auto_confirm import DEFAULT_MAX_SEEDS, race_confirmations
from lrtune.tuning.confirmations import run_confirmations
from lrtune.tuning.storage import (
    DEFAULT_STORAGE,
    beside_database,
    display_url,
    open_read_only,
    open_storage,
    resolve_storage_url,
)

__all__ = ["main", "build_parser", "default_out_dir"]

PROG = "lrtune.analyze"


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog=f"python -m {PROG}",
        description="Which LR-schedule family wins? Read lrtune studies from an Optuna storage, "
        "write report.md, trials.csv and plots.",
    )
    parser.add_argument(
        "--storage", help=f"Optuna storage URL ('env' or none: $LRTUNE_STORAGE, else {DEFAULT_STORAGE})"
    )
    parser.add_argument(
        "--study",
        action="append",
        default=None,
        metavar="NAME",
        help="analyse only this search study (and its ':confirm' study); repeatable",
    )
    parser.add_argument(
        "--out", default=None, metavar="DIR", help="report directory (default: report/ next to the SQLite file)"
    )
    parser.add_argument(
        "--confirm",
        type=_confirm_value,
        default=None,
        metavar="K|auto",
        help="first re-train each family's best configuration with K fresh seeds, or 'auto': race "
        "(one fresh seed per round for every family not yet beaten, until a winner or --max-seeds), then analyse",
    )
    parser.add_argument(
        "--max-seeds",
        type=_integer,
        default=None,
        metavar="N",
        help=f"with --confirm auto: at most N seeds per family (default {DEFAULT_MAX_SEEDS}); "
        "a later call with a larger N continues from the stored runs",
    )
    parser.add_argument(
        "--prefix",
        default=None,
        metavar="P",
        help="your own study: the prefix its lrtune.suggest_schedule parameters "
        "use (found automatically; needed only when several are found)",
    )
    parser.add_argument(
        "--horizon",
        type=_integer,
        default=None,
        metavar="M",
        help="with --confirm K: also re-train each family's best configuration "
        "for M times the tuning epochs (M >= 2) with the same K seeds, and "
        "report the verdict at both horizons",
    )
    parser.add_argument(
        "--no-notes",
        dest="notes",
        action="store_false",
        help="don't write the verdict into the studies' optuna-dashboard notes (then the database is only read)",
    )
    return parser


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, but got {text!r}") from None


def _confirm_value(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'auto', but got {text!r}") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, but got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, but got {value}")
    return value


def default_out_dir(url: str) -> Path:
    """``report/`` next to the SQLite file of ``url``; ``./report`` for other storages."""
    return beside_database(url, "report", otherwise=Path("report"))


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def _run_confirmations(url: str, studies: list[str], k: int | str, horizon: int = 1, max_seeds: int = 0) -> list:
    """Fixed K seeds, or the race of ``--confirm auto``; returns the races (empty for fixed K)."""
    try:
        if k == "auto":
            return race_confirmations(url, studies, max_seeds, horizon=horizon)
        if horizon == 1:
            run_confirmations(url, studies, k)
        else:
            run_confirmations(url, studies, k, horizon=horizon)
        return []
    except LrtuneError as exc:  # a changed --task, a missing package, ...; bugs keep a traceback
        at = "" if horizon == 1 else f" --horizon {horizon}"
        raise UsageError(f"--confirm {k}{at}: {exc}") from None


def _race_lines(races: list, horizon: int = 1) -> list[str]:
    """One line per task's race: seeds per family, the winner or why it stopped, runs vs fixed."""
    at = "" if horizon == 1 else f" at {horizon}x the epochs"
    lines = []
    for race in races:
        seeds = ", ".join(f"{f} {n}" for f, n in sorted(race.seeds.items(), key=lambda kv: (-kv[1], kv[0])))
        end = (
            f"winner {race.winner}"
            if race.winner
            else (
                "inconclusive at --max-seeds, still racing: " + ", ".join(race.racing)
                if race.racing
                else "inconclusive"
            )
        )
        lines.append(
            f"  race{at}: seeds per family {seeds}; {end}; {race.runs} runs "
            f"({race.trained} new) vs {race.fixed_runs} for every family at {max(race.seeds.values(), default=0)} seeds"
        )
    return lines


def _check_families(df) -> None:
    if df.empty:
        raise UsageError("the lrtune studies hold no trials yet (run python -m lrtune.study first)")
    families = sorted(set(df["family"].dropna()))
    if len(families) < 2:
        raise UsageError(
            f"only one schedule family in the storage ({', '.join(families) or 'none'}): a "
            "comparison needs at least two (python -m lrtune.study --family <another>)"
        )


def _summary(report, df) -> list[str]:
    search = df[df["kind"] == "search"]
    states = search["state"].value_counts()
    lines = [
        f"lrtune.analyze: {df['task'].nunique()} task(s), {search['family'].nunique()} "
        f"families, {len(search)} search trials ({int(states.get('COMPLETE', 0))} complete, "
        f"{int(states.get('PRUNED', 0))} pruned, {int(states.get('FAIL', 0))} failed), "
        f"{int((df['kind'] == 'confirm').sum())} confirmation runs"
    ]
    for task, verdict in report.verdicts.items():
        if verdict is None and task in report.own_tasks:
            text = "no verdict (one family)"
        else:
            text = verdict.text if verdict else "no verdict yet (no confirmation runs of two families)"
        lines.append(f"  {task}: {text}")
        for m, by_task in sorted(getattr(report, "horizon_verdicts", {}).items()):
            if task in by_task:
                v = by_task[task]
                lines.append(
                    f"  {task} at {m}x the epochs: " + (v.text if v else "no verdict (no runs of two families)")
                )
    lines.extend(report.footer_lines())
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Run the analysis CLI; returns the exit code (0 ok, 2 bad input or storage, 130 interrupted)."""
    return run_command(
        PROG,
        lambda: _analyze(argv),
        kept="finished confirmation runs are kept; run the same command again to resume",
    )


def _analyze(argv: Sequence[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)

    if args.max_seeds is not None and (args.confirm != "auto" or args.max_seeds < 1):
        why = (
            "must be an integer >= 1"
            if args.confirm == "auto"
            else f"goes with --confirm auto, not with {'--confirm ' + str(args.confirm) if args.confirm else 'no --confirm'}"
        )
        raise UsageError(f"--max-seeds {args.max_seeds} {why}")
    if args.horizon is not None and (args.confirm is None or args.horizon < 2):
        why = (
            "needs --confirm K (the horizon runs use the K confirmation seeds)"
            if args.confirm is None
            else "must be an integer multiple >= 2 of the tuning "
            "epochs (1 is the tuning horizon, which --confirm covers)"
        )
        raise UsageError(f"--horizon {args.horizon} {why}")

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    args.storage = resolve_storage_url(args.storage)  # --storage env / $LRTUNE_STORAGE
    storage = open_read_only(args.storage)
    if _analyze_own_studies(storage, args):  # a study written with plain Optuna + lrtune spaces
        return 0
    df = load_trials(storage, studies=args.study)
    _check_families(df)
    race_lines = []
    if args.confirm is not None:
        names = sorted(set(df.loc[df["kind"] == "search", "study"]))
        max_seeds = args.max_seeds or DEFAULT_MAX_SEEDS
        race_lines += _race_lines(_run_confirmations(args.storage, names, args.confirm, max_seeds=max_seeds))
        if args.horizon is not None:
            races = _run_confirmations(args.storage, names, args.confirm, args.horizon, max_seeds=max_seeds)
            race_lines += _race_lines(races, args.horizon)
        storage = open_read_only(args.storage)
        df = load_trials(storage, studies=args.study)
    out_dir = Path(args.out) if args.out else default_out_dir(args.storage)
    report = write_report(storage, out_dir, trials=df, storage_label=display_url(args.storage))
    if args.notes:
        _write_verdict_notes(args.storage, report, df)
    print("\n".join(_summary(report, df) + race_lines))
    return 0


def _analyze_own_studies(storage, args) -> bool:
    """Users' own studies, loaded by lrtune.report.own_studies into the one frame, then the same
    report, notes and summary as lrtune's; False when the storage holds lrtune's studies."""
    if not wants_own_analysis(storage, args.study, args.prefix):
        return False
    if args.confirm is not None:
        raise UsageError(
            "--confirm re-trains lrtune's own studies; confirm your own study "
            "with your objective: lrtune.confirm(study, objective, "
            f"seeds={args.confirm!r}), then run this command without --confirm"
        )
    df, owns = load_own_trials(storage, studies=args.study, prefix=args.prefix)
    out_dir = Path(args.out) if args.out else default_out_dir(args.storage)
    report = write_report(storage, out_dir, trials=df, storage_label=display_url(args.storage), own=owns)
    if args.notes:
        _write_verdict_notes(args.storage, report, df)
    print("\n".join(_summary(report, df)))
    return True


def _write_verdict_notes(url: str, report, df) -> None:
    """Put each task's verdict (and the top of the report) into its studies' dashboard notes.

    The only write ``analyze`` makes (skip it with ``--no-notes``); the analysis itself reads
    through a read-only connection.
    """
    storage = open_storage(url, heartbeat=False)
    for task, verdict in report.verdicts.items():
        if verdict is None and task in report.own_tasks:
            text = "No verdict (one family)."
        elif verdict is None:
            text = "No verdict yet: confirm at least two families (`python -m lrtune.analyze --confirm auto`)."
        else:
            table = markdown_table(verdict.comparisons) if len(verdict.comparisons) else ""
            race = "\n".join(race_note_lines(verdict))
            text = f"**{verdict.text}**\n\n{verdict.budget}\n\n{race}\n\n{table}"
        text += f"\n\nFull report: `{report.path}`"
        for name in sorted(set(df.loc[df["task"] == task, "study"])):
            notes.append_verdict_to_note(optuna.load_study(study_name=name, storage=storage), text)
    seed_view.write_seed_views(storage, df)  # the confirmation seeds side by side on each confirm study's page


if __name__ == "__main__":
    sys.exit(main())
