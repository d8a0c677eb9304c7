"""Fixtures: every database test runs on SQLite *and* on the machine's PostgreSQL + PostGIS.

PostgreSQL: one database per test session (and xdist worker), migrated once, emptied between
tests with TRUNCATE. Set CITYOPS_TEST_PG_URL to point elsewhere (default: postgres@127.0.0.1:5432).
In CI (CI=true) an unreachable PostgreSQL fails the run instead of skipping.
"""
from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text

from queries.db import make_engine
from queries.migrate import ensure_schema
from queries.schema import Base

PG_ADMIN_URL = os.environ.get("CITYOPS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _unavailable(what: str, reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI: {reason}")
    pytest.skip(f"{what} not available: {reason}")


def _pg_unavailable(reason: str):
    _unavailable("PostgreSQL/PostGIS", reason)


@pytest.fixture(scope="session")
def pg_url():
    name = f"cityops_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure means no usable server
        _pg_unavailable(str(exc).splitlines()[0])
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    engine = make_engine(url)
    try:
        ensure_schema(engine)
    except Exception as exc:  # noqa: BLE001
        engine.dispose()
        _pg_unavailable(f"cannot create PostGIS schema: {str(exc).splitlines()[0]}")
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        # The audit log refuses TRUNCATE through a trigger (append-only); the test superuser may
        # switch user triggers off for this one transaction.
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request, tmp_path):
    """A migrated, empty database: a fresh SQLite file, or the session's PostGIS database emptied."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'cityops.db'}")
        ensure_schema(eng)
        yield eng
        eng.dispose()
    else:
        url = request.getfixturevalue("pg_url")
        eng = make_engine(url)
        _truncate_all(eng)
        yield eng
        eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path / 'cityops.db'}")
    ensure_schema(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def pg_engine(pg_url):
    """The session's PostGIS database, emptied: for tests of PostGIS-only behaviour."""
    eng = make_engine(pg_url)
    _truncate_all(eng)
    yield eng
    eng.dispose()


# --- private servers for outage tests (tests/services.py): stopped and restarted by the test ------


@pytest.fixture
def private_postgres():
    """A PostgreSQL + PostGIS server of the test's own (free port, temp dir), database ``cityops``
    with the postgis extension but no schema; ``stop()``/``start()`` it at will."""
    from tests.services import PrivatePostgres, ServiceUnavailable

    server = PrivatePostgres()
    try:
        server.start()
    except ServiceUnavailable as exc:
        server.close()
        _unavailable("A private PostgreSQL (initdb, pg_ctl, PostGIS)", str(exc))
    yield server
    server.close()


@pytest.fixture
def private_redis():
    """A redis-server of the test's own on a free port; ``stop()``/``start()`` keep the port."""
    from tests.services import PrivateRedis, ServiceUnavailable

    server = PrivateRedis()
    try:
        server.start()
    except ServiceUnavailable as exc:
        server.close()
        _unavailable("A private redis-server", str(exc))
    yield server
    server.close()
