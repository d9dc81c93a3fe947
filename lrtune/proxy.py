"""``python -m lrtune.proxy``: Optuna's gRPC storage proxy in front of one RDB storage.

    python -m lrtune.proxy --storage postgresql+psycopg://lrtune@db/lrtune --host 0.0.0.0 --port 13000
    LRTUNE_STORAGE=postgresql+psycopg://user:pw@db/lrtune python -m lrtune.proxy --port 13000
    python -m lrtune.study --storage grpc://proxy-host:13000 ...      # on every worker machine

The proxy (``optuna.storages.run_grpc_proxy_server``, experimental in Optuna) holds the database
connections; the workers hold none, so hundreds of workers cost the database one connection pool
instead of hundreds. Running trials renew leases through it (:mod:`lrtune.tuning.leases`), so a
killed worker's trial is still failed and retried once with the same parameters and seed.

Behind it: PostgreSQL or MySQL (SQLite works for one machine; JournalStorage does not — Optuna's
proxy does not support it). The connection is insecure gRPC: bind it to a private network.

Exit status: 0 after Ctrl-C or SIGTERM; 2 when it cannot start (a bad or unreachable storage URL,
a journal storage, the address in use) — one line on stderr, never a traceback. The password of
the storage URL is never printed (pass the URL in ``$LRTUNE_STORAGE`` to keep it out of ``ps``).
"""

from __future__ import annotations

import errno
import signal
import socket
import sys
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import optuna

from lrtune.cli import ArgumentParser, UsageError, run_command, tcp_port
from lrtune.errors import LrtuneError
from lrtune.tuning.storage import (
    STORAGE_VARIABLE,
    display_url,
    grpc_address,
    is_journal,
    open_storage,
    resolve_storage_url,
)

__all__ = ["DEFAULT_PORT", "ProxyError", "check_address", "main", "proxied_storage"]

PROG = "lrtune.proxy"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 13000
DEFAULT_THREADS = 16


class ProxyError(LrtuneError, ValueError):
    """The proxy cannot start (its storage or its address is unusable); one line for the user."""


def _build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=f"python -m {PROG}", description="Serve an RDB Optuna storage to workers through Optuna's gRPC proxy."
    )
    parser.add_argument(
        "--storage",
        help=f"RDB storage URL behind the proxy (default: ${STORAGE_VARIABLE}; 'env' reads it explicitly)",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument(
        "--port", type=tcp_port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free)"
    )
    parser.add_argument(
        "--threads", type=int, default=DEFAULT_THREADS, help=f"server threads (default {DEFAULT_THREADS})"
    )
    return parser


def check_address(host: str, port: int) -> int:
    """Bind ``host:port`` once without ``SO_REUSEPORT`` (gRPC sets it, so a taken port would not
    fail there); returns the port (a free one for 0). Raises :class:`ProxyError`."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ProxyError(f"cannot listen on {host!r}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ProxyError(f"address {host}:{port} is already in use (pick another --port)") from None
            raise ProxyError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        return probe.getsockname()[1]


def proxied_storage(url: str) -> optuna.storages.BaseStorage:
    """The storage the proxy serves: an RDB (with Optuna's in-process cache), never a journal or a proxy.

    Raises :class:`ProxyError` / :class:`~lrtune.tuning.storage.StorageError`.
    """
    if grpc_address(url) is not None:
        raise ProxyError(
            f"{url!r} is itself a gRPC proxy; the proxy serves an RDB storage (postgresql://, mysql://)"
        )
    if is_journal(url):
        raise ProxyError(
            f"Optuna's gRPC proxy does not support JournalStorage ({display_url(url)}); "
            "put it in front of PostgreSQL or MySQL"
        )
    storage = open_storage(url, heartbeat=False)
    return optuna.storages.get_storage(storage)


def _stop_on_sigterm() -> list[bool]:
    """SIGTERM (a service manager's stop) ends the server like Ctrl-C, but as a normal exit."""
    terminated = [False]

    def handler(signum: int, frame: object) -> None:
        terminated[0] = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    return terminated


def serve(argv: Sequence[str] | None = None) -> int:
    """Check the arguments, open the storage, serve until SIGTERM (exit 0) or Ctrl-C (raised)."""
    args = _build_parser().parse_args(argv)
    if args.threads < 1:
        raise UsageError(f"--threads must be ≥ 1, but got {args.threads}")
    url = resolve_storage_url(args.storage)
    port = check_address(args.host, args.port)
    storage = proxied_storage(url)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    terminated = _stop_on_sigterm()  # before the line that tells a supervisor it may stop us
    try:
        print(
            f"{PROG}: serving {display_url(url)} at grpc://{args.host}:{port} (Ctrl-C to stop)",
            file=sys.stderr,
            flush=True,
        )
        optuna.storages.run_grpc_proxy_server(
            storage, host=args.host, port=port, thread_pool=ThreadPoolExecutor(max_workers=args.threads)
        )
    except KeyboardInterrupt:
        if not terminated[0]:
            raise
        print(f"{PROG}: stopped", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lrtune.proxy``: bad input → one line, exit 2; SIGTERM → exit 0; Ctrl-C → one
    line, exit 130 (every trial is in the storage behind the proxy)."""
    return run_command(PROG, lambda: serve(argv), kept="every trial is in the storage behind it")


if __name__ == "__main__":
    sys.exit(main())
