"""``python -m lrtune.dashboard``: serve optuna-dashboard over lrtune's studies and artifacts.

    python -m lrtune.dashboard                          # sqlite:///studies/lrtune.db, :8080
    python -m lrtune.dashboard --storage sqlite:///runs/x.db --port 8081
    python -m lrtune.dashboard --storage postgresql://user@host/lrtune --artifact-dir /shared/art

Unlike ``optuna-dashboard sqlite:///missing.db`` (which creates an empty file and then fails),
an SQLite URL is checked first: the file must exist and hold an Optuna database. The artifact
store defaults to ``<directory of the SQLite file>/artifacts`` — where the objective puts the
LR-curve PNGs (:func:`lrtune.notes.artifact_store_for`).

Exit status: 0 after Ctrl-C, 2 when it cannot start (bad arguments, missing or non-Optuna
database, address in use) — always with a one-line message on stderr, never a traceback.
Reading while workers write is safe: SQLite connections wait up to 30 s for a lock.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import optuna
from optuna.storages import BaseStorage, RDBStorage

from lrtune.notes import artifact_store_for, sqlite_path

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_STORAGE",
    "DashboardError",
    "check_sqlite_database",
    "main",
    "make_dashboard_server",
    "open_storage",
]

DEFAULT_STORAGE = "sqlite:///studies/lrtune.db"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
SQLITE_TIMEOUT_S = 30
_SQLITE_HEADER = b"SQLite format 3\x00"
_PROG = "lrtune.dashboard"


class DashboardError(Exception):
    """The dashboard cannot start; the message is one line for the user."""


class _UsageError(Exception):
    """A command-line error (argparse would otherwise print usage and exit)."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are exceptions, so ``main`` prints one line."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        raise _UsageError(message)


class _ThreadedWSGIServer(ThreadingMixIn, WSGIServer):
    """wsgiref's server, one thread per request (the dashboard polls while pages load)."""

    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    """A request handler that does not log every request."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def _port(text: str) -> int:
    """Parse a TCP port (0 = any free port)."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be an integer in 0..65535, but got {text!r}")
    return port


def _build_parser() -> _Parser:
    """The command-line interface."""
    parser = _Parser(prog=f"python -m {_PROG}", description="Serve optuna-dashboard over lrtune's studies.")
    parser.add_argument(
        "--storage", default=DEFAULT_STORAGE, help=f"Optuna storage URL (default: {DEFAULT_STORAGE})"
    )
    parser.add_argument(
        "--artifact-dir",
        default=None,
        help="artifact directory (default: <dir of the SQLite file>/artifacts, else studies/artifacts)",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default: {DEFAULT_HOST})")
    parser.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"port, 0 = any free one (default: {DEFAULT_PORT})"
    )
    parser.add_argument("--quiet", action="store_true", help="do not log every request")
    return parser


def check_sqlite_database(path: Path) -> None:
    """Raise :class:`DashboardError` unless ``path`` is an existing Optuna SQLite database.

    Opens the file read-only, so a missing file is never created.
    """
    if not path.exists():
        raise DashboardError(
            f"SQLite database {str(path)!r} does not exist (run `python -m lrtune.study` first, or pass --storage)"
        )
    if not path.is_file():
        raise DashboardError(f"SQLite database {str(path)!r} is not a file")
    if path.stat().st_size == 0:
        raise DashboardError(f"SQLite database {str(path)!r} is empty (no studies yet)")
    with path.open("rb") as f:
        if f.read(len(_SQLITE_HEADER)) != _SQLITE_HEADER:
            raise DashboardError(f"{str(path)!r} is not an SQLite database")
    try:
        uri = path.resolve().as_uri() + "?mode=ro"
        with closing(sqlite3.connect(uri, uri=True, timeout=SQLITE_TIMEOUT_S)) as conn:
            row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'studies'").fetchone()
    except sqlite3.Error as e:
        raise DashboardError(f"cannot read SQLite database {str(path)!r}: {e}") from e
    if row is None:
        raise DashboardError(f"{str(path)!r} is not an Optuna database (it has no 'studies' table)")


def open_storage(storage_url: str) -> BaseStorage:
    """Open a storage for reading, after checking an SQLite URL's file (never creates one).

    SQLite gets a 30 s lock timeout, so the dashboard waits for writing workers instead of
    failing; other URLs go through optuna-dashboard's own storage guessing (RDB, journal file).
    """
    path = sqlite_path(storage_url)
    if storage_url.startswith("sqlite") and path is None:
        raise DashboardError(f"in-memory SQLite has no studies to show: {storage_url!r}")
    try:
        if path is not None:
            check_sqlite_database(path)
            storage: BaseStorage = RDBStorage(
                storage_url,
                engine_kwargs={"connect_args": {"timeout": SQLITE_TIMEOUT_S}},
                skip_compatibility_check=True,
                skip_table_creation=True,
            )
        else:
            from optuna_dashboard._storage_url import get_storage

            storage = get_storage(storage_url)
        storage.get_all_studies()
    except DashboardError:
        raise
    except Exception as e:  # any driver or URL error: one line, no traceback
        raise DashboardError(f"cannot open storage {storage_url!r}: {_one_line(e)}") from e
    return storage


def _one_line(error: BaseException) -> str:
    """The first line of the root cause's message, with its type.

    Optuna wraps driver errors ("An exception is raised during the commit"); the innermost
    cause ("connection refused") is what the user needs to read.
    """
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def make_dashboard_server(
    storage_url: str = DEFAULT_STORAGE,
    *,
    artifact_dir: str | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    quiet: bool = True,
) -> WSGIServer:
    """A bound (not yet serving) threaded HTTP server running optuna-dashboard.

    Call ``serve_forever()`` on it (``shutdown()`` from another thread stops it);
    ``server.server_port`` is the real port when ``port=0``. Raises :class:`DashboardError`.
    """
    from optuna_dashboard import wsgi

    storage = open_storage(storage_url)
    artifact_store = artifact_store_for(storage_url, artifact_dir, create=False)
    app = wsgi(storage, artifact_store=artifact_store)
    handler = _QuietHandler if quiet else WSGIRequestHandler
    try:
        return make_server(host, port, app, server_class=_ThreadedWSGIServer, handler_class=handler)
    except OSError as e:
        raise DashboardError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e


def _error(message: str) -> int:
    """Print a one-line error and return the exit status 2."""
    print(f"{_PROG}: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 after Ctrl-C, 2 when it cannot start)."""
    try:
        args = _build_parser().parse_args(argv)
    except _UsageError as e:
        return _error(str(e))
    except SystemExit as e:  # --help
        return int(e.code or 0)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        server = make_dashboard_server(
            args.storage, artifact_dir=args.artifact_dir, host=args.host, port=args.port, quiet=args.quiet
        )
    except DashboardError as e:
        return _error(str(e))
    host, port = server.server_address[:2]
    url = f"http://{host}:{port}/dashboard"
    print(f"{_PROG}: serving {args.storage} at {url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
