"""lrtune.tuning.storage: one set of checks, three ways to open, never a modified wrong file."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import optuna
import pytest

from lrtune.tuning.storage import (
    StorageError,
    beside_database,
    check_storage_url,
    display_url,
    grpc_address,
    one_line,
    open_existing,
    open_read_only,
    open_storage,
    resolve_storage_url,
    sqlite_file,
)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_db(path: Path, studies: int = 1) -> str:
    url = f"sqlite:///{path}"
    store = open_storage(url, heartbeat=False)
    for i in range(studies):
        optuna.create_study(storage=store, study_name=f"s{i}").add_trial(optuna.trial.create_trial(value=float(i)))
    store.engine.dispose()
    return url


def test_sqlite_path() -> None:
    assert sqlite_file("sqlite:///studies/lrtune.db") == Path("studies/lrtune.db")
    assert sqlite_file("sqlite:////abs/x.db") == Path("/abs/x.db")
    assert sqlite_file("sqlite+pysqlite:///a.db") == Path("a.db")
    for url in ("sqlite://", "sqlite:///:memory:", "postgresql://u@h/db", "not a url"):
        assert sqlite_file(url) is None, url


def test_report_and_artifacts_live_beside_the_database() -> None:
    assert beside_database("sqlite:///studies/lrtune.db", "artifacts", otherwise=Path("x")) == Path(
        "studies/artifacts"
    )
    assert beside_database("mysql+pymysql://root@127.0.0.1/test", "report", otherwise=Path("r")) == Path("r")


def test_display_url_hides_the_password() -> None:
    assert "secret" not in display_url("postgresql://user:secret@host/db")
    assert display_url("journal:///x.log") == "journal:///x.log"


def test_one_line_reads_the_innermost_cause() -> None:
    try:
        try:
            raise ConnectionRefusedError("connection refused\nmore detail")
        except ConnectionRefusedError as inner:
            raise RuntimeError("An exception is raised during the commit") from inner
    except RuntimeError as outer:
        assert one_line(outer) == "ConnectionRefusedError: connection refused"


def test_open_storage_creates_the_file_and_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "x.db"
    store = open_storage(f"sqlite:///{path}", heartbeat=False)
    optuna.create_study(storage=store, study_name="a")
    assert path.is_file() and [s.study_name for s in store.get_all_studies()] == ["a"]


def test_read_only_open_never_writes(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    url = make_db(path, studies=2)
    before = digest(path)
    store = open_read_only(url)
    assert sorted(s.study_name for s in store.get_all_studies()) == ["s0", "s1"]
    with pytest.raises(optuna.exceptions.StorageInternalError) as info:  # the connection is read-only
        optuna.create_study(storage=store, study_name="new")
    assert "readonly database" in one_line(info.value)
    assert digest(path) == before


def test_existing_open_reads_and_writes_but_creates_nothing(tmp_path: Path) -> None:
    url = make_db(tmp_path / "x.db")
    store = open_existing(url)
    optuna.load_study(study_name="s0", storage=store).set_user_attr("note", "kept")
    assert open_read_only(url).get_all_studies()[0].user_attrs == {"note": "kept"}
    missing = tmp_path / "missing" / "y.db"
    with pytest.raises(StorageError, match="no SQLite database at .*does not exist"):
        open_existing(f"sqlite:///{missing}")
    assert not missing.parent.exists()


@pytest.mark.parametrize("opener", [open_existing, open_read_only])
@pytest.mark.parametrize(
    ("setup", "needle"),
    [
        (lambda p: p.write_bytes(b""), "is empty"),
        (lambda p: p.write_bytes(b"my precious notes\n" * 50), "is not an SQLite database"),
        (lambda p: sqlite3.connect(p).execute("CREATE TABLE users (id)").connection.commit(), "of another tool"),
        (lambda p: p.mkdir(), "is a directory"),
    ],
    ids=["empty", "text", "other-tool", "directory"],
)
def test_reading_refuses_what_is_not_an_optuna_database(tmp_path, opener, setup, needle) -> None:
    path = tmp_path / "x.db"
    setup(path)
    before = digest(path) if path.is_file() else None
    with pytest.raises(StorageError, match=needle) as info:
        opener(f"sqlite:///{path}")
    assert "\n" not in str(info.value)
    assert (digest(path) if path.is_file() else None) == before


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("studies/lrtune.db", "malformed storage URL"),
        ("mongodb://127.0.0.1/x", "unknown storage scheme 'mongodb'"),
        ("", "must be an Optuna storage URL"),
    ],
)
def test_bad_urls_are_one_line_errors(url: str, needle: str) -> None:
    for create in (True, False):
        with pytest.raises(StorageError, match=needle):
            check_storage_url(url, create=create)


def test_in_memory_sqlite_is_for_writing_only() -> None:
    check_storage_url("sqlite://")
    with pytest.raises(StorageError, match="in-memory SQLite database"):
        open_read_only("sqlite://")


def test_journal_files(tmp_path: Path) -> None:
    url = f"journal:///{tmp_path}/j.log"
    with pytest.raises(StorageError, match="no journal storage"):
        open_read_only(url)
    optuna.create_study(storage=open_storage(url), study_name="j").add_trial(optuna.trial.create_trial(value=1.0))
    assert [s.study_name for s in open_read_only(url).get_all_studies()] == ["j"]


@pytest.mark.postgres
def test_postgres_without_optuna_tables_is_refused_and_left_without_them(postgres_url: str) -> None:
    import psycopg

    with pytest.raises(StorageError, match="cannot open storage"):
        open_read_only(postgres_url)
    with pytest.raises(StorageError, match="cannot open storage"):
        open_existing(postgres_url)
    dsn = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]
    assert tables == 0  # reading created nothing
    store = open_storage(postgres_url, heartbeat=False)
    optuna.create_study(storage=store, study_name="pg")
    store.engine.dispose()
    reader = open_read_only(postgres_url)
    assert [s.study_name for s in reader.get_all_studies()] == ["pg"]
    reader.engine.dispose()


# ------------------------------------------------------------------------------ gRPC proxy URLs, $LRTUNE_STORAGE


@pytest.mark.parametrize(
    "url", ["grpc://", "grpc://host", "grpc://:13000", "grpc://host:13000/db", "grpc://host:port"]
)
def test_malformed_grpc_urls_are_one_line_errors(url: str) -> None:
    with pytest.raises(StorageError, match="expected grpc://host:port"):
        check_storage_url(url)


def test_no_proxy_listening_is_a_one_line_error(monkeypatch) -> None:
    import socket

    from lrtune.tuning import storage as storage_module

    monkeypatch.setattr(storage_module, "GRPC_READY_TIMEOUT_S", 1)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for opener in (open_storage, open_existing, open_read_only):
        with pytest.raises(StorageError, match=f"no gRPC storage proxy answers at 127.0.0.1:{port}"):
            opener(f"grpc://127.0.0.1:{port}")


def test_storage_url_from_the_environment() -> None:
    env = {"LRTUNE_STORAGE": "postgresql+psycopg://u:secret@h/db"}
    assert resolve_storage_url(None, env) == env["LRTUNE_STORAGE"]
    assert resolve_storage_url("env", env) == env["LRTUNE_STORAGE"]
    assert resolve_storage_url("sqlite:///x.db", env) == "sqlite:///x.db"  # a flag beats the variable
    assert resolve_storage_url(None, {}) == "sqlite:///studies/lrtune.db"
    with pytest.raises(StorageError, match="LRTUNE_STORAGE, which is not set"):
        resolve_storage_url("env", {})
    assert "secret" not in display_url(env["LRTUNE_STORAGE"])
    assert display_url("grpc://10.0.0.5:13000") == "grpc://10.0.0.5:13000"
    assert grpc_address("grpc://10.0.0.5:13000") == ("10.0.0.5", 13000)
