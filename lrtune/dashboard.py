"""``python -m lrtune.dashboard``: serve optuna-dashboard over lrtune's studies and artifacts.

    python -m lrtune.dashboard                          # sqlite:///studies/lrtune.db, :8080
    python -m lrtune.dashboard --storage sqlite:///runs/x.db --port 8081
    python -m lrtune.dashboard --storage postgresql://user@host/lrtune --artifact-dir /shared/art

Unlike ``optuna-dashboard sqlite:///missing.db`` (which creates an empty file and then fails),
an SQLite URL is checked first: the file must exist and hold an Optuna database. The artifact
store defaults to ``<directory of the SQLite file>/artifacts`` — where the objective puts the
LR-curve PNGs (:func:`lrtune.report.notes.artifact_store_for`).

Exit status: 0 after Ctrl-C, 2 when it cannot start (bad arguments, missing or non-Optuna
database, address in use) — always with a one-line message on stderr, never a traceback.
Reading while workers write is safe: SQLite connections wait up to 60 s for a lock.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import optuna
from optuna_dashboard import wsgi

from lrtune.cli import ArgumentParser, interrupted, run_command, tcp_port
from lrtune.errors import LrtuneError
from lrtune.report.notes import artifact_store_for
from lrtune.tuning.storage import DEFAULT_STORAGE, display_url, open_existing, resolve_storage_url

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DashboardError",
    "main",
    "make_dashboard_server",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
_PROG = "lrtune.dashboard"


class DashboardError(LrtuneError):
    """The dashboard cannot start (its address is taken); one line for the user."""


class _ThreadedWSGIServer(ThreadingMixIn, WSGIServer):
    """wsgiref's server, one thread per request (the dashboard polls while pages load)."""

    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    """A request handler that does not log every request."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def _build_parser() -> ArgumentParser:
    """The command-line interface."""
    parser = ArgumentParser(prog=f"python -m {_PROG}", description="Serve optuna-dashboard over lrtune's studies.")
    parser.add_argument(
        "--storage", help=f"Optuna storage URL ('env' or none: $LRTUNE_STORAGE, else {DEFAULT_STORAGE})"
    )
    parser.add_argument(
        "--artifact-dir",
        default=None,
        help="artifact directory (default: <dir of the SQLite file>/artifacts, else studies/artifacts)",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default: {DEFAULT_HOST})")
    parser.add_argument(
        "--port", type=tcp_port, default=DEFAULT_PORT, help=f"port, 0 = any free one (default: {DEFAULT_PORT})"
    )
    parser.add_argument("--quiet", action="store_true", help="do not log every request")
    return parser


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
    ``server.server_port`` is the real port when ``port=0``. Raises
    :class:`lrtune.tuning.storage.StorageError` for a storage that is missing or not Optuna's (an SQLite
    file is checked first and never created) and :class:`DashboardError` when the address is taken.
    """
    storage = open_existing(storage_url)
    artifact_store = artifact_store_for(storage_url, artifact_dir, create=False)
    app = wsgi(storage, artifact_store=artifact_store)
    handler = _QuietHandler if quiet else WSGIRequestHandler
    try:
        return make_server(host, port, app, server_class=_ThreadedWSGIServer, handler_class=handler)
    except OSError as e:
        raise DashboardError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (2 when it cannot start, 130 after Ctrl-C stops it)."""
    return run_command(_PROG, lambda: _serve(argv), kept="the dashboard stopped; it writes nothing")


def _serve(argv: Sequence[str] | None) -> int:
    try:
        args = _build_parser().parse_args(argv)
    except SystemExit as e:  # --help
        return int(e.code or 0)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    args.storage = resolve_storage_url(args.storage)  # --storage env / $LRTUNE_STORAGE
    server = make_dashboard_server(
        args.storage, artifact_dir=args.artifact_dir, host=args.host, port=args.port, quiet=args.quiet
    )
    host, port = server.server_address[:2]
    url = f"http://{host}:{port}/dashboard"
    print(f"{_PROG}: serving {display_url(args.storage)} at {url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        return interrupted(_PROG, "the dashboard stopped; it writes nothing")
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
