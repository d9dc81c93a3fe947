"""CLI: ``python -m lrtune.analyze`` — read lrtune studies, write the report, print the verdict.

    python -m lrtune.analyze                                   # sqlite:///studies/lrtune.db
    python -m lrtune.analyze --storage sqlite:///runs/x.db --study mnist1d/cnn/20ep/sgd:cosine
    python -m lrtune.analyze --confirm 5                       # re-train the best configs first
    python -m lrtune.analyze --storage sqlite:///own.db        # your own Optuna study (lrtune spaces)
    python -m lrtune.analyze --confirm 5 --horizon 3           # ... and at 3x the epochs

The report goes to ``--out`` (default: ``report/`` next to the SQLite file, e.g.
``studies/report``). Problems with the storage (malformed URL, missing SQLite file, a file
without Optuna's tables, no lrtune studies, a single family) end with one line on stderr and
exit code 2; the database file is never created or modified (SQLite is opened read-only).
So do bad arguments (``--horizon`` below 2 or without ``--confirm``), before anything is read.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

__all__ = ["main", "build_parser", "StorageError", "open_storage", "default_out_dir"]

DEFAULT_STORAGE = "sqlite:///studies/lrtune.db"


class StorageError(Exception):
    """The storage URL cannot be analysed; the message is meant for the terminal."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lrtune.analyze",
        description="Which LR-schedule family wins? Read lrtune studies from an Optuna storage, "
        "write report.md, trials.csv and plots.",
    )
    parser.add_argument(
        "--storage", default=DEFAULT_STORAGE, help=f"Optuna storage URL (default: {DEFAULT_STORAGE})"
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
        type=_positive_int,
        default=None,
        metavar="K",
        help="first re-train each family's best configuration with K fresh seeds (lrtune.confirm), then analyse",
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


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, but got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, but got {value}")
    return value


# --------------------------------------------------------------------------------------------
# opening the storage without creating or modifying anything
# --------------------------------------------------------------------------------------------


def _parse_url(url: str):
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url)
    except ArgumentError:
        hint = ""
        if Path(url).exists():
            hint = f" (for an SQLite file use sqlite:///{url})"
        raise StorageError(f"malformed storage URL {url!r}: expected e.g. {DEFAULT_STORAGE}{hint}") from None


def _sqlite_path(parsed) -> Path:
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise StorageError(
            f"storage URL {parsed.render_as_string()!r} must name an SQLite file, e.g. sqlite:///studies/lrtune.db"
        )
    return Path(database)


def _read_only_uri(path: Path) -> str:
    """SQLite URI opening ``path`` read-only (mode=ro never creates or writes the file)."""
    return f"file:{quote(str(path.resolve()))}?mode=ro"


def _check_sqlite_file(path: Path) -> None:
    """The file must exist and hold Optuna's tables; checked read-only, before Optuna opens it."""
    if not path.is_file():
        raise StorageError(f"no SQLite database at {path} (run python -m lrtune.study first, or pass --storage)")
    try:
        con = sqlite3.connect(_read_only_uri(path), uri=True, timeout=30)
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"{path} is not a readable SQLite database ({exc})") from None
    if "studies" not in tables:
        raise StorageError(f"{path} is an empty storage: it has no Optuna tables, hence no studies")


def open_storage(url: str):
    """An Optuna storage for ``url`` that cannot modify it: SQLite files are opened read-only.

    Raises :class:`StorageError` for a malformed URL, a missing SQLite file, a file without
    Optuna's tables, or a storage Optuna cannot open (e.g. an outdated schema).
    """
    import optuna

    parsed = _parse_url(url)
    engine_kwargs: dict = {}
    if parsed.get_backend_name() == "sqlite":
        path = _sqlite_path(parsed)
        _check_sqlite_file(path)
        uri = _read_only_uri(path)
        url = "sqlite://"  # connections come from the creator: read-only, any file name
        engine_kwargs = {"creator": lambda: sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)}
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
    except Exception as exc:  # driver missing, server down, outdated schema, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(f"cannot open storage {parsed.render_as_string()!r}: {first}") from None


def default_out_dir(url: str) -> Path:
    """``report/`` next to the SQLite file of ``url``; ``./report`` for other storages."""
    try:
        parsed = _parse_url(url)
    except StorageError:
        return Path("report")
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return Path(parsed.database).parent / "report"
    return Path("report")


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def _run_confirmations(url: str, studies: list[str], k: int, horizon: int = 1) -> None:
    from lrtune.confirm import run_confirmations

    try:
        if horizon == 1:
            run_confirmations(url, studies, k)
        else:
            run_confirmations(url, studies, k, horizon=horizon)
    except ValueError as exc:  # bad input, by the project's convention; bugs keep a traceback
        at = "" if horizon == 1 else f" --horizon {horizon}"
        raise StorageError(f"--confirm {k}{at}: {exc}") from None
    except ImportError as exc:  # e.g. the schedulefree package, for a schedulefree study
        raise StorageError(f"--confirm {k}: {exc}") from None


def _check_families(df) -> None:
    if df.empty:
        raise StorageError("the lrtune studies hold no trials yet (run python -m lrtune.study first)")
    families = sorted(set(df["family"].dropna()))
    if len(families) < 2:
        raise StorageError(
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
    """Run the analysis CLI; returns the exit code (0 ok, 2 bad input or storage)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2): return it, don't exit
        return int(exc.code or 0)

    if args.horizon is not None and (args.confirm is None or args.horizon < 2):
        why = (
            "needs --confirm K (the horizon runs use the K confirmation seeds)"
            if args.confirm is None
            else "must be an integer multiple >= 2 of the tuning "
            "epochs (1 is the tuning horizon, which --confirm covers)"
        )
        print(f"lrtune.analyze: error: --horizon {args.horizon} {why}", file=sys.stderr)
        return 2

    import optuna

    from lrtune.report import AnalysisError, load_trials, write_report

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        storage = open_storage(args.storage)
        if _analyze_own_studies(storage, args):  # a study written with plain Optuna + lrtune spaces
            return 0
        df = load_trials(storage, studies=args.study)
        _check_families(df)
        if args.confirm is not None:
            names = sorted(set(df.loc[df["kind"] == "search", "study"]))
            _run_confirmations(args.storage, names, args.confirm)
            if args.horizon is not None:
                _run_confirmations(args.storage, names, args.confirm, args.horizon)
            storage = open_storage(args.storage)
            df = load_trials(storage, studies=args.study)
        out_dir = Path(args.out) if args.out else default_out_dir(args.storage)
        report = write_report(storage, out_dir, trials=df, storage_label=_label(args.storage))
    except (StorageError, AnalysisError) as exc:
        print(f"lrtune.analyze: error: {exc}", file=sys.stderr)
        return 2
    if args.notes:
        _write_verdict_notes(args.storage, report, df)
    print("\n".join(_summary(report, df)))
    return 0


def _analyze_own_studies(storage, args) -> bool:
    """Users' own studies (lrtune.report.own_report); False when the storage holds lrtune's studies."""
    from lrtune.report import analyze_own, wants_own_analysis

    if not wants_own_analysis(storage, args.study, args.prefix):
        return False
    if args.confirm is not None:
        raise StorageError(
            "--confirm re-trains lrtune's own studies; confirm your own study "
            "with your objective: lrtune.confirm(study, objective, "
            f"seeds={args.confirm}), then run this command without --confirm"
        )
    out_dir = Path(args.out) if args.out else default_out_dir(args.storage)
    _, lines = analyze_own(
        storage,
        url=args.storage,
        studies=args.study,
        prefix=args.prefix,
        out_dir=out_dir,
        label=_label(args.storage),
        write_notes=args.notes,
    )
    print("\n".join(lines))
    return True


def _write_verdict_notes(url: str, report, df) -> None:
    """Put each task's verdict (and the top of the report) into its studies' dashboard notes.

    The only write ``analyze`` makes (skip it with ``--no-notes``); the analysis itself reads
    through a read-only connection.
    """
    import optuna

    from lrtune import notes
    from lrtune.report import markdown_table
    from lrtune.storage import open_storage as open_writable

    storage = open_writable(url, heartbeat=False)
    for task, verdict in report.verdicts.items():
        if verdict is None:
            text = "No verdict yet: confirm at least two families (`python -m lrtune.analyze --confirm 5`)."
        else:
            table = markdown_table(verdict.comparisons) if len(verdict.comparisons) else ""
            text = f"**{verdict.text}**\n\n{verdict.budget}\n\n{table}"
        text += f"\n\nFull report: `{report.path}`"
        for name in sorted(set(df.loc[df["task"] == task, "study"])):
            notes.append_verdict_to_note(optuna.load_study(study_name=name, storage=storage), text)


def _label(url: str) -> str:
    try:
        return _parse_url(url).render_as_string(hide_password=True)
    except StorageError:
        return url


if __name__ == "__main__":
    sys.exit(main())
