"""Every way lrtune opens an Optuna storage, checked before anything is touched.

Three ways to open, one set of checks, one error class (:class:`StorageError`, one line fit for
a CLI):

* :func:`open_storage` — for writing studies (``lrtune.study``, confirmations): a missing
  SQLite file is created, writers wait up to 60 s for a lock instead of failing with
  "database is locked", and RDB storages get heartbeats so a killed worker's trial is found
  (stale after ``GRACE_PERIOD_S``), marked FAIL and retried once with the same parameters.
* :func:`open_existing` — for the dashboard: the storage must already hold Optuna's tables;
  nothing is created, but the dashboard may write notes.
* :func:`open_read_only` — for the analysis: an SQLite file is opened with ``mode=ro``, so it
  is never created or modified; other storages skip table creation.

Where the URL comes from (:func:`resolve_storage_url`): ``--storage URL``; ``--storage env`` or no
``--storage`` at all reads ``$LRTUNE_STORAGE`` (so a password need not be in argv, where ``ps``
shows it; ``--workers`` children get ``--storage env``); else :data:`DEFAULT_STORAGE`.

URLs: ``grpc://host:port`` (Optuna's gRPC storage proxy, ``python -m lrtune.proxy``, in front of
an RDB: workers hold no database connection; running trials hold leases,
:mod:`lrtune.tuning.leases`, instead of RDB heartbeats); ``sqlite:///relative.db`` / ``sqlite:////absolute.db``; ``postgresql[+driver]://…`` and
``mysql[+driver]://…`` (every worker on every machine points at the same URL);
``journal:///path.log`` or a path ending in ``.log``/``.journal`` (Optuna's JournalStorage on a
file: one machine, no heartbeat). A file that exists must be an SQLite database holding Optuna's
tables (or, for writing, be empty); anything else is refused before SQLAlchemy opens it, so a
wrong path is never modified.
"""

from __future__ import annotations

import os
import sqlite3
import warnings
from pathlib import Path
from urllib.parse import quote, urlparse

import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalStorage
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from lrtune.errors import LrtuneError
from lrtune.tuning.leases import LeasedGrpcStorage, RetryOnce

__all__ = [
    "DEFAULT_STORAGE",
    "FROM_ENVIRONMENT",
    "GRACE_PERIOD_S",
    "HEARTBEAT_INTERVAL_S",
    "STORAGE_VARIABLE",
    "StorageError",
    "beside_database",
    "check_storage_url",
    "display_url",
    "grpc_address",
    "is_journal",
    "one_line",
    "open_existing",
    "open_read_only",
    "open_storage",
    "resolve_storage_url",
    "sqlite_file",
]

DEFAULT_STORAGE = "sqlite:///studies/lrtune.db"
"""Where every command reads and writes when ``--storage`` is not given."""

HEARTBEAT_INTERVAL_S = int(os.environ.get("LRTUNE_HEARTBEAT_INTERVAL", "60"))
"""Seconds between a running trial's heartbeats (Optuna's advice for SQLite: ≥ 60 s).

``LRTUNE_HEARTBEAT_INTERVAL`` / ``LRTUNE_GRACE_PERIOD`` override both (the crash tests use 1 s
and 3 s so they need not wait minutes)."""

GRACE_PERIOD_S = int(os.environ.get("LRTUNE_GRACE_PERIOD", "180"))
"""A RUNNING trial whose heartbeat is older than this is considered dead."""

STORAGE_VARIABLE = "LRTUNE_STORAGE"
"""The environment variable holding the storage URL when ``--storage`` is absent or ``env``."""

FROM_ENVIRONMENT = "env"
"""``--storage env``: take the URL from ``$LRTUNE_STORAGE`` (what ``--workers`` children get)."""

GRPC_READY_TIMEOUT_S = 10
SQLITE_TIMEOUT_S = 60
_RDB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb", "oracle", "mssql")
_OPTUNA_TABLES = frozenset({"studies", "trials", "version_info"})
_SQLITE_MAGIC = b"SQLite format 3\x00"
_EXAMPLE = (
    "sqlite:///studies/lrtune.db, postgresql+psycopg://user@host/db, grpc://host:13000 or journal:///path.log"
)


class StorageError(LrtuneError, ValueError):
    """The storage URL or the file behind it is unusable; one line, fit for a CLI."""


# ------------------------------------------------------------------------------ reading URLs


def resolve_storage_url(value: str | None, environ: dict[str, str] | None = None) -> str:
    """The storage URL a command uses: ``value``, or ``$LRTUNE_STORAGE`` for ``None``/``"env"``.

    Order: ``--storage URL`` (or a preset's ``storage``) > ``$LRTUNE_STORAGE`` > ``DEFAULT_STORAGE``;
    ``--storage env`` requires the variable. Raises :class:`StorageError`.

    >>> resolve_storage_url(None, {})
    'sqlite:///studies/lrtune.db'
    >>> resolve_storage_url("env", {"LRTUNE_STORAGE": "grpc://h:1"}), resolve_storage_url("sqlite:///a.db", {})
    ('grpc://h:1', 'sqlite:///a.db')
    """
    environ = os.environ if environ is None else environ
    from_env = environ.get(STORAGE_VARIABLE, "").strip()
    if value == FROM_ENVIRONMENT:
        if not from_env:
            raise StorageError(f"--storage {FROM_ENVIRONMENT} reads ${STORAGE_VARIABLE}, which is not set")
        return from_env
    if value is None:
        return from_env or DEFAULT_STORAGE
    return value


def grpc_address(url: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``grpc://host:port`` URL, ``None`` for other schemes.

    Raises :class:`StorageError` for a gRPC URL without a host or a port, or with a path.

    >>> grpc_address("grpc://127.0.0.1:13000"), grpc_address("sqlite:///x.db")
    (('127.0.0.1', 13000), None)
    """
    if not url.startswith("grpc://"):
        return None
    parsed = urlparse(url)
    try:
        port = parsed.port
    except ValueError:
        port = None
    if not parsed.hostname or port is None or parsed.path not in ("", "/") or parsed.query:
        raise StorageError(
            f"malformed gRPC proxy URL {url!r}; expected grpc://host:port, e.g. grpc://127.0.0.1:13000"
        )
    return parsed.hostname, port


def sqlite_file(url: str) -> Path | None:
    """The database file of an SQLite URL (relative paths as SQLite reads them), else ``None``.

    ``None`` also for in-memory SQLite (``sqlite://``, ``sqlite:///:memory:``) and for URLs
    SQLAlchemy cannot parse.

    >>> sqlite_file("sqlite:///studies/lrtune.db")
    PosixPath('studies/lrtune.db')
    >>> sqlite_file("sqlite:////abs/x.db?timeout=5"), sqlite_file("postgresql://u@h/db")
    (PosixPath('/abs/x.db'), None)
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError, TypeError):
        return None
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def beside_database(url: str, name: str, *, otherwise: Path) -> Path:
    """``<directory of the SQLite file>/name`` for an SQLite URL, else ``otherwise``.

    Where a storage's report (``report``) and LR-curve artifacts (``artifacts``) live.

    >>> beside_database("sqlite:///runs/x.db", "report", otherwise=Path("report"))
    PosixPath('runs/report')
    >>> beside_database("postgresql://h/db", "report", otherwise=Path("report"))
    PosixPath('report')
    """
    db = sqlite_file(url)
    return db.parent / name if db is not None else otherwise


def _journal_file(url: str) -> Path | None:
    if url.startswith("journal:///"):
        return Path(url[len("journal:///") :])
    if "://" not in url and url.endswith((".log", ".journal")):
        return Path(url)
    return None


def is_journal(url: str) -> bool:
    """Whether ``url`` names Optuna's JournalStorage on a file (``journal:///x.log``, ``x.log``)."""
    return _journal_file(url) is not None


def _is_in_memory_sqlite(url: str) -> bool:
    return url.startswith("sqlite") and sqlite_file(url) is None


def check_storage_url(url: str, *, create: bool = True) -> None:
    """Validate ``url`` and the file behind it without creating or modifying anything.

    With ``create`` (writing), a missing or empty SQLite file and in-memory SQLite are fine;
    without it, the storage must already hold Optuna's tables. Raises :class:`StorageError`.
    """
    if not isinstance(url, str) or not url.strip():
        raise StorageError(f"storage must be an Optuna storage URL such as {DEFAULT_STORAGE}, but got {url!r}")
    journal = _journal_file(url)
    if journal is not None:
        if journal.is_dir():
            raise StorageError(f"journal storage {str(journal)!r} is a directory, not a file")
        if not create and not journal.is_file():
            raise StorageError(f"no journal storage at {str(journal)!r}: the file does not exist")
        _check_writable_dir(journal.parent, "journal file")
        return
    if grpc_address(url) is not None:  # nothing to check before connecting
        return
    scheme = urlparse(url).scheme.split("+", 1)[0]
    if "://" not in url or not scheme:
        hint = f" (for an SQLite file use sqlite:///{url})" if Path(url).exists() or url.endswith(".db") else ""
        raise StorageError(f"malformed storage URL {url!r}; expected e.g. {_EXAMPLE}{hint}")
    if scheme not in _RDB_SCHEMES:
        raise StorageError(
            f"unknown storage scheme {scheme!r} in {url!r}; valid: sqlite, postgresql, mysql, grpc, journal"
        )
    if scheme != "sqlite":
        return
    path = sqlite_file(url)
    if path is None:
        if url in ("sqlite://", "sqlite:///:memory:"):
            if create:
                return
            raise StorageError(
                f"storage URL {url!r} is an in-memory SQLite database, which holds no studies: "
                f"it must name an SQLite file, e.g. {DEFAULT_STORAGE}"
            )
        raise StorageError(
            f"malformed SQLite URL {url!r}; expected sqlite:///relative/path.db or sqlite:////absolute/path.db"
        )
    _check_sqlite_file(path, create=create)


def _check_writable_dir(directory: Path, what: str) -> None:
    existing = directory
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise StorageError(
            f"cannot write the {what} in {str(directory)!r}: {str(existing)!r} is not a writable directory"
        )


def _read_only_uri(path: Path) -> str:
    """SQLite URI opening ``path`` read-only (``mode=ro`` never creates or writes the file)."""
    return f"file:{quote(str(path.resolve()))}?mode=ro"


def _check_sqlite_file(path: Path, *, create: bool) -> None:
    """An existing file must be an SQLite database with Optuna's tables (or, to create, be empty)."""
    shown = repr(str(path))
    if not path.exists():
        if create:
            _check_writable_dir(path.parent, "database")
            return
        raise StorageError(
            f"no SQLite database at {shown}: the file does not exist "
            "(run python -m lrtune.study first, or pass --storage)"
        )
    if path.is_dir():
        raise StorageError(f"{shown} is a directory, not an SQLite database file")
    if create and not os.access(path, os.R_OK | os.W_OK):
        raise StorageError(f"{shown} is not readable and writable by this user")
    if path.stat().st_size == 0:
        if create:
            return
        raise StorageError(
            f"{shown} is empty: an empty storage holds no studies (run python -m lrtune.study first)"
        )
    with path.open("rb") as fh:
        if fh.read(len(_SQLITE_MAGIC)) != _SQLITE_MAGIC:
            raise StorageError(f"{shown} is not an SQLite database (refusing to touch it)")
    try:
        with sqlite3.connect(_read_only_uri(path), uri=True, timeout=SQLITE_TIMEOUT_S) as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"{shown} is not a readable SQLite database: {exc}") from None
    if _OPTUNA_TABLES <= tables or (create and not tables):
        return
    if not tables:
        raise StorageError(f"{shown} is an empty storage: it has no Optuna tables, hence no studies")
    sample = ", ".join(sorted(tables)[:5])
    raise StorageError(f"{shown} is not an Optuna database: an SQLite database of another tool (tables: {sample})")


# ------------------------------------------------------------------------------ opening


def one_line(error: BaseException) -> str:
    """The first line of the innermost cause's message, with its type.

    Optuna and SQLAlchemy wrap driver errors ("An exception is raised during the commit"); the
    innermost cause ("connection refused") is what the user needs to read.
    """
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def _rdb(url: str, **kwargs) -> RDBStorage:
    """``RDBStorage(url, **kwargs)``; a missing driver or unreachable server → :class:`StorageError`."""
    try:
        return RDBStorage(url, **kwargs)
    except ModuleNotFoundError as exc:
        drivers = {"psycopg": "postgres", "psycopg2": "postgres", "pymysql": "mysql", "MySQLdb": "mysql"}
        extra = drivers.get(exc.name or "")
        hint = f" (pip install 'lrtune[{extra}]')" if extra else ""
        raise StorageError(
            f"the database driver {exc.name!r} for {url.split('://')[0]!r} is not installed{hint}"
        ) from None
    except Exception as exc:  # SQLAlchemy/Optuna errors: connection refused, schema too new, ...
        raise StorageError(f"cannot open storage {display_url(url)!r}: {one_line(exc)}") from None


def _grpc(url: str, *, lease: bool) -> LeasedGrpcStorage | None:
    """The proxy client for a ``grpc://`` URL (``None`` for other URLs), once the proxy answers.

    With ``lease``, running trials renew a lease every ``HEARTBEAT_INTERVAL_S`` and a trial whose
    lease is older than ``GRACE_PERIOD_S`` is failed and retried once (:mod:`lrtune.tuning.leases`).
    """
    address = grpc_address(url)
    if address is None:
        return None
    host, port = address
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    try:
        storage = LeasedGrpcStorage(
            host=host,
            port=port,
            heartbeat_interval=HEARTBEAT_INTERVAL_S if lease else None,
            grace_period=GRACE_PERIOD_S,
            stale_trial_callback=RetryOnce() if lease else None,
        )
        storage.wait_server_ready(timeout=GRPC_READY_TIMEOUT_S)
    except ModuleNotFoundError as exc:
        raise StorageError(
            f"the gRPC storage proxy needs the package {exc.name!r} (pip install 'lrtune[grpc]')"
        ) from None
    except ConnectionError:
        raise StorageError(
            f"no gRPC storage proxy answers at {host}:{port} within {GRPC_READY_TIMEOUT_S} s "
            "(start one: python -m lrtune.proxy --storage URL --host H --port P)"
        ) from None
    return storage


def display_url(url: str) -> str:
    """``url`` as reports and messages show it: without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return url


def _make_directory(directory: Path) -> None:
    """Create the database's directory; an OS refusal (``/proc``, no permission) is a :class:`StorageError`."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create the directory {str(directory)!r}: {exc.strerror or exc}") from None


def open_storage(url: str, *, heartbeat: bool = True) -> BaseStorage:
    """Check ``url`` (:func:`check_storage_url`), then open it for writing with lrtune's settings.

    SQLite: the parent directory is created, a 60 s connect timeout is set. RDB storages get a
    heartbeat (``HEARTBEAT_INTERVAL_S``) and retry a dead worker's trial once. Raises
    :class:`StorageError` for anything unusable, including a database Optuna cannot read.
    """
    check_storage_url(url)
    proxy = _grpc(url, lease=heartbeat)
    if proxy is not None:
        return proxy
    journal = _journal_file(url)
    if journal is not None:
        _make_directory(journal.parent)
        return JournalStorage(JournalFileBackend(str(journal)))
    engine_kwargs: dict = {}
    if url.startswith("sqlite"):
        engine_kwargs["connect_args"] = {"timeout": SQLITE_TIMEOUT_S}
        path = sqlite_file(url)
        if path is not None:
            _make_directory(path.parent)
    else:
        engine_kwargs["pool_pre_ping"] = True
    kwargs: dict = {"engine_kwargs": engine_kwargs}
    if heartbeat:
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        kwargs.update(
            heartbeat_interval=HEARTBEAT_INTERVAL_S,
            grace_period=GRACE_PERIOD_S,
            heartbeat_stale_trial_callback=RetryOnce(),
        )
    return _rdb(url, **kwargs)


def open_existing(url: str) -> BaseStorage:
    """Open a storage that must already hold Optuna's tables; nothing is created.

    For a server that reads and may write notes (the dashboard). SQLite waits up to 60 s for a
    lock, so it reads while workers write. Raises :class:`StorageError`.
    """
    check_storage_url(url, create=False)
    proxy = _grpc(url, lease=False)
    if proxy is not None:
        _touch(proxy, url)
        return proxy
    journal = _journal_file(url)
    if journal is not None:
        return JournalStorage(JournalFileBackend(str(journal)))
    engine_kwargs: dict = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}} if url.startswith("sqlite") else {}
    storage = _rdb(url, engine_kwargs=engine_kwargs, skip_compatibility_check=True, skip_table_creation=True)
    _touch(storage, url)
    return storage


def open_read_only(url: str) -> BaseStorage:
    """Open a storage only to read it: an SQLite file is opened ``mode=ro``, never created or changed.

    Other RDB storages skip table creation. Raises :class:`StorageError` for a malformed URL, a
    missing SQLite file, a file without Optuna's tables, or a storage Optuna cannot open (e.g.
    an outdated schema).
    """
    check_storage_url(url, create=False)
    proxy = _grpc(url, lease=False)  # the proxy has no read-only mode: lrtune's readers only read
    if proxy is not None:
        _touch(proxy, url)
        return proxy
    journal = _journal_file(url)
    if journal is not None:
        return JournalStorage(JournalFileBackend(str(journal)))
    path = sqlite_file(url)
    if path is None:
        storage = _rdb(url, skip_table_creation=True)
    else:
        uri = _read_only_uri(path)
        # connections come from the creator: read-only, any file name; the URL only picks the dialect
        creator = lambda: sqlite3.connect(uri, uri=True, timeout=SQLITE_TIMEOUT_S, check_same_thread=False)  # noqa: E731
        storage = _rdb("sqlite://", engine_kwargs={"creator": creator}, skip_table_creation=True)
    _touch(storage, url)
    return storage


def _touch(storage: BaseStorage, url: str) -> None:
    """Read the study list once, so an unreachable or incompatible storage fails here, in one line."""
    try:
        storage.get_all_studies()
    except Exception as exc:  # any driver error: one line, no traceback
        raise StorageError(f"cannot open storage {display_url(url)!r}: {one_line(exc)}") from None
