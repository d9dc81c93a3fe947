"""Opening Optuna storages safely: check before touching, settings that survive contention.

* ``sqlite:///path.db`` — Optuna's RDB storage through SQLAlchemy with a 60 s connect timeout
  (writers wait instead of failing with "database is locked") and heartbeats every 60 s.
  A file that exists must be an SQLite database holding Optuna's tables (or be empty);
  anything else is refused *before* SQLAlchemy opens it, so a wrong path is never modified.
* ``postgresql[+driver]://…``, ``mysql[+driver]://…`` — the same RDB storage; every worker on
  every machine points at the same URL.
* ``journal:///path.log`` or a path ending in ``.log``/``.journal`` — Optuna's JournalStorage on a
  file (single machine, no heartbeat).

Trials of a killed worker are found by heartbeat (stale after ``grace_period``), marked FAIL and
retried once with the same parameters by :class:`optuna.storages.RetryHeartbeatStaleTrialCallback`.
"""

from __future__ import annotations

import os
import sqlite3
import warnings
from pathlib import Path
from urllib.parse import urlparse

import optuna
from optuna.storages import BaseStorage

__all__ = [
    "HEARTBEAT_INTERVAL_S",
    "GRACE_PERIOD_S",
    "StorageError",
    "check_storage_url",
    "open_storage",
    "sqlite_file",
]

HEARTBEAT_INTERVAL_S = int(os.environ.get("LRTUNE_HEARTBEAT_INTERVAL", "60"))
"""Seconds between a running trial's heartbeats (Optuna's advice for SQLite: ≥ 60 s).

``LRTUNE_HEARTBEAT_INTERVAL`` / ``LRTUNE_GRACE_PERIOD`` override both (the crash tests use 1 s
and 3 s so they need not wait minutes)."""

GRACE_PERIOD_S = int(os.environ.get("LRTUNE_GRACE_PERIOD", "180"))
"""A RUNNING trial whose heartbeat is older than this is considered dead."""

SQLITE_TIMEOUT_S = 60
_RDB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "oracle", "mssql")
_SQLITE_MAGIC = b"SQLite format 3\x00"


class StorageError(ValueError):
    """The storage URL or the file behind it is unusable; one line, fit for a CLI."""


def sqlite_file(url: str) -> Path | None:
    """The file behind a ``sqlite:///`` URL (``None`` for other URLs or in-memory SQLite)."""
    if not url.startswith("sqlite:"):
        return None
    path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
    if not path or path == ":memory:":
        return None
    return Path(path.split("?", 1)[0])


def _journal_file(url: str) -> Path | None:
    if url.startswith("journal:///"):
        return Path(url[len("journal:///") :])
    if "://" not in url and url.endswith((".log", ".journal")):
        return Path(url)
    return None


def _check_writable_dir(directory: Path, what: str) -> None:
    existing = directory
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise StorageError(
            f"cannot write the {what} in {str(directory)!r}: {str(existing)!r} is not a writable directory"
        )


def _check_sqlite_file(path: Path) -> None:
    """An existing file must be an SQLite database with Optuna's tables (or be empty)."""
    if not path.exists():
        _check_writable_dir(path.parent, "database")
        return
    if path.is_dir():
        raise StorageError(f"{str(path)!r} is a directory, not an SQLite database file")
    if not os.access(path, os.R_OK | os.W_OK):
        raise StorageError(f"{str(path)!r} is not readable and writable by this user")
    if path.stat().st_size == 0:
        return
    with path.open("rb") as fh:
        if fh.read(16) != _SQLITE_MAGIC:
            raise StorageError(f"{str(path)!r} is not an SQLite database (refusing to touch it)")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=SQLITE_TIMEOUT_S) as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"{str(path)!r} is not a readable SQLite database: {exc}") from None
    if tables and not {"studies", "trials", "version_info"} <= tables:
        sample = ", ".join(sorted(tables)[:5])
        raise StorageError(
            f"{str(path)!r} is an SQLite database of another tool (tables: {sample}), not an Optuna storage"
        )


def check_storage_url(url: str) -> None:
    """Validate ``url`` without creating or modifying anything. Raises :class:`StorageError`."""
    if not isinstance(url, str) or not url.strip():
        raise StorageError(
            f"storage must be an Optuna storage URL such as sqlite:///studies/lrtune.db, but got {url!r}"
        )
    journal = _journal_file(url)
    if journal is not None:
        if journal.is_dir():
            raise StorageError(f"journal storage {str(journal)!r} is a directory, not a file")
        _check_writable_dir(journal.parent, "journal file")
        return
    scheme = urlparse(url).scheme.split("+", 1)[0]
    if "://" not in url or not scheme:
        raise StorageError(
            f"malformed storage URL {url!r}; expected e.g. sqlite:///studies/lrtune.db, postgresql+psycopg://user@host/db or journal:///path.log"
        )
    if scheme not in _RDB_SCHEMES:
        raise StorageError(
            f"unknown storage scheme {scheme!r} in {url!r}; valid: sqlite, postgresql, mysql, journal"
        )
    if scheme == "sqlite":
        path = sqlite_file(url)
        if path is None and url not in ("sqlite://", "sqlite:///:memory:"):
            raise StorageError(
                f"malformed SQLite URL {url!r}; expected sqlite:///relative/path.db or sqlite:////absolute/path.db"
            )
        if path is not None:
            _check_sqlite_file(path)


def open_storage(url: str, *, heartbeat: bool = True) -> BaseStorage:
    """Check ``url`` (:func:`check_storage_url`), then open it with lrtune's settings.

    SQLite: the parent directory is created, a 60 s connect timeout is set. RDB storages get a
    heartbeat (``HEARTBEAT_INTERVAL_S``) and retry a dead worker's trial once. Raises
    :class:`StorageError` for anything unusable, including a database Optuna cannot read.
    """
    check_storage_url(url)
    journal = _journal_file(url)
    if journal is not None:
        journal.parent.mkdir(parents=True, exist_ok=True)
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(str(journal)))
    engine_kwargs: dict = {}
    path = sqlite_file(url)
    if url.startswith("sqlite"):
        engine_kwargs["connect_args"] = {"timeout": SQLITE_TIMEOUT_S}
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
    else:
        engine_kwargs["pool_pre_ping"] = True
    kwargs: dict = {"engine_kwargs": engine_kwargs}
    if heartbeat:
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        kwargs.update(
            heartbeat_interval=HEARTBEAT_INTERVAL_S,
            grace_period=GRACE_PERIOD_S,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1),
        )
    try:
        return optuna.storages.RDBStorage(url, **kwargs)
    except ModuleNotFoundError as exc:
        extra = {"psycopg": "postgres", "psycopg2": "postgres", "pymysql": "mysql", "MySQLdb": "mysql"}.get(
            exc.name or "", None
        )
        hint = f" (pip install 'lrtune[{extra}]')" if extra else ""
        raise StorageError(
            f"the database driver {exc.name!r} for {url.split('://')[0]!r} is not installed{hint}"
        ) from None
    except Exception as exc:  # SQLAlchemy/Optuna errors: connection refused, schema too new, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(f"cannot open storage {url!r}: {first}") from None
