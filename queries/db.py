"""Engines and the two portable column types the schema needs.

* ``Geometry``: a PostGIS ``geometry(TYPE, 4326)`` column on PostgreSQL (GiST-indexed by the
  migration), a WKB ``BLOB`` on SQLite. Python sees shapely geometries on both; tables that hold
  geometry also keep a bounding box (``minx``…``maxy``) so SQLite can pre-filter by index.
* ``UTCDateTime``: timezone-aware UTC in and out on both dialects. Naive datetimes are refused,
  because a naive time from a Chinese source is Asia/Shanghai and silently storing it as UTC
  would shift every number by eight hours. Ingest localises before it reaches here.

On SQLite, datetimes are stored as text in ``SQLITE_DATETIME_FORMAT``; bulk loaders that bypass
SQLAlchemy must write exactly that format or range comparisons break lexically.

Outages (PostgreSQL): engines connect with ``connect_timeout`` (``PG_CONNECT_TIMEOUT_SECONDS``), so
a query against a server that does not answer fails in seconds instead of hanging a request, and
with TCP keepalives, so a connection whose peer vanished is noticed within about a minute.
``pool_pre_ping`` discards pooled connections that died with a server restart: the first query
after the server is back succeeds on the same Engine. There is deliberately no engine-wide
``statement_timeout`` — ingest, migrations and the demo build run long statements on the same
engines; request paths bound theirs with ``with_statement_timeout(engine, seconds)``.
"""
from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import shapely
from sqlalchemy import DateTime, LargeBinary, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator, UserDefinedType

SQLITE_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
WGS84_SRID = 4326

# libpq/psycopg connection parameters every PostgreSQL engine gets unless its URL or the caller
# sets them. connect_timeout is whole seconds (libpq treats anything below 2 as 2).
PG_CONNECT_TIMEOUT_SECONDS = 5
STATEMENT_TIMEOUT_OPTION = "cityops_statement_timeout"  # execution option read by the ``begin`` listener
PG_CONNECT_DEFAULTS = {
    "connect_timeout": PG_CONNECT_TIMEOUT_SECONDS,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


class Geometry(UserDefinedType):
    """Shapely geometry stored as PostGIS geometry or SQLite WKB."""

    cache_ok = True

    def __init__(self, geometry_type: str = "GEOMETRY", srid: int = WGS84_SRID):
        self.geometry_type = geometry_type.upper()
        self.srid = srid

    def get_col_spec(self, **kw):
        return f"geometry({self.geometry_type},{self.srid})"

    def bind_expression(self, bindvalue):
        return GeomFromWKB(bindvalue, self.srid)

    def column_expression(self, col):
        return GeomAsWKB(col)

    def bind_processor(self, dialect):
        def process(value):
            if value is None:
                return None
            if isinstance(value, (bytes, bytearray, memoryview)):
                return bytes(value)
            return shapely.to_wkb(value, include_srid=False)

        return process


@compiles(Geometry, "sqlite")
def _geometry_sqlite_ddl(type_, compiler, **kw):
    return "BLOB"


class GeomFromWKB(FunctionElement):
    """WKB parameter → column value: ST_GeomFromWKB on PostGIS, the bytes themselves on SQLite."""

    inherit_cache = True

    def __init__(self, value, srid: int):
        self.srid = srid
        super().__init__(value)


@compiles(GeomFromWKB)
def _from_wkb_default(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


@compiles(GeomFromWKB, "postgresql")
def _from_wkb_pg(element, compiler, **kw):
    return f"ST_GeomFromWKB({compiler.process(element.clauses, **kw)}, {int(element.srid)})"


class _WKBResult(TypeDecorator):
    """Result type of ``GeomAsWKB``: WKB bytes decoded to shapely."""

    impl = LargeBinary
    cache_ok = True

    def process_result_value(self, value, dialect):
        return None if value is None else shapely.from_wkb(bytes(value))


class GeomAsWKB(FunctionElement):
    """Column → WKB bytes: ST_AsBinary on PostGIS, the stored bytes on SQLite."""

    inherit_cache = True
    type = _WKBResult()


@compiles(GeomAsWKB)
def _as_wkb_default(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


@compiles(GeomAsWKB, "postgresql")
def _as_wkb_pg(element, compiler, **kw):
    return f"ST_AsBinary({compiler.process(element.clauses, **kw)})"


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on both dialects; naive input is an error, not a guess."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: localise it (Asia/Shanghai for Chinese sources) first")
        value = value.astimezone(dt.timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs (psycopg2 is not a dependency)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, **kwargs) -> Engine:
    """An engine with the pragmas cityops relies on (WAL and foreign keys on SQLite); on PostgreSQL
    with ``PG_CONNECT_DEFAULTS`` (connect timeout, keepalives) and ``pool_pre_ping``.

    A parameter given in the URL's query (``?connect_timeout=10``) or in ``connect_args`` wins.
    """
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if parsed.get_backend_name() == "postgresql":
        connect_args = dict(kwargs.get("connect_args") or {})
        for name, value in PG_CONNECT_DEFAULTS.items():
            if name not in parsed.query:
                connect_args.setdefault(name, value)
        kwargs["connect_args"] = connect_args
        engine = create_engine(url, **kwargs)
        event.listen(engine, "begin", _transaction_statement_timeout)
        return engine
    return create_engine(url, **kwargs)


def with_statement_timeout(engine: Engine, seconds: float | None) -> Engine:
    """``engine`` whose every transaction bounds its statements to ``seconds`` (PostgreSQL; SQLite
    ignores it). A light proxy sharing the engine's pool; a statement cut off raises
    ``sqlalchemy.exc.OperationalError`` (``QueryCanceled``, SQLSTATE 57014). For request paths:
    ingest and demo builds keep the unbounded engine."""
    if seconds is None:
        return engine
    if not seconds > 0:
        raise ValueError(f"statement timeout must be positive seconds, not {seconds!r}")
    return engine.execution_options(**{STATEMENT_TIMEOUT_OPTION: float(seconds)})


def _transaction_statement_timeout(conn) -> None:
    """``begin`` listener of PostgreSQL engines: apply ``with_statement_timeout`` to this
    transaction only (``set_config(..., true)``), so the pooled connection goes back without it."""
    seconds = conn.get_execution_options().get(STATEMENT_TIMEOUT_OPTION)
    if seconds:
        conn.exec_driver_sql("SELECT set_config('statement_timeout', %(value)s, true)", {"value": str(max(1, int(seconds * 1000)))})


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def read_frame(conn, stmt, columns, **frame_options):
    """Run ``stmt`` and return its rows as a DataFrame with ``columns``.

    Rows go in as plain tuples: pandas probes SQLAlchemy Row objects attribute by attribute, which
    made building a frame ten times slower than the query itself.
    """
    import pandas as pd

    return pd.DataFrame([tuple(row) for row in conn.execute(stmt).all()], columns=list(columns), **frame_options)


def is_postgis(engine_or_connection) -> bool:
    return engine_or_connection.dialect.name == "postgresql"


def engine_from_settings(settings, *, read: bool = False) -> Engine:
    url = (settings.database_read_url if read else None) or settings.resolved_database_url()
    return make_engine(url)
