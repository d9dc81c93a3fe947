"""Fixtures shared by several test modules: a PostgreSQL database and a served dashboard."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest

from lrtune import dashboard


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the local server (dropped afterwards).

    Skipped when the server is not reachable, except in CI, where that is a failure.
    """
    psycopg = pytest.importorskip("psycopg")
    name = f"lrtune_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect("host=127.0.0.1 port=5432 dbname=test", autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(
                f"CI must run the PostgreSQL test, but the server is not reachable on 127.0.0.1:5432: {exc}"
            )
        pytest.skip(f"PostgreSQL not reachable on 127.0.0.1:5432: {exc}")
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{os.environ.get('USER', 'root')}@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@contextmanager
def _serving(storage_url: str, **kwargs) -> Iterator[str]:
    server = dashboard.make_dashboard_server(storage_url, host="127.0.0.1", port=0, **kwargs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def serve_dashboard() -> Callable[..., AbstractContextManager[str]]:
    """``with serve_dashboard(storage_url, **kwargs) as base_url:`` — the dashboard in a thread on a free port."""
    return _serving
