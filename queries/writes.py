"""Writing helpers shared by ingest, the demo city and live feeds.

* ``upsert``: INSERT … ON CONFLICT (natural key) DO UPDATE, the same on SQLite and PostgreSQL,
  so that re-importing a file replaces rows instead of duplicating them.
* ``record_change``: every committed batch bumps the global data version (max(change_log.id)),
  the dataset's own version and those of the districts it touched, its last-update time and row
  count, in the caller's transaction — a failed import therefore leaves the catalogue untouched
  as well.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import JSON, Connection, Table, func, insert, select, update
from sqlalchemy import column as sa_column
from sqlalchemy import table as sa_table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TypeDecorator

from queries.db import Geometry
from queries.schema import ALL_PARTITIONS, ChangeLog, Dataset, DatasetPartition, DatasetTable
from queries.vocab import UPDATE_CYCLES, lookup

# SQLite allows 32766 bound parameters per statement; PostgreSQL 65535. Stay under both.
_MAX_PARAMS = 30000
# From this many rows on, PostgreSQL upserts go through COPY into a temporary table.
COPY_MIN_ROWS = 2000


def upsert(conn: Connection, table: Table, rows: Sequence[Mapping], key: Sequence[str], update_columns: Iterable[str] | None = None) -> int:
    """Insert ``rows`` into ``table``, updating non-key columns where the natural ``key`` exists.

    Rows repeating a key within the batch collapse to the last one (a file's later line wins).
    Large batches bypass SQLAlchemy's per-row parameter handling — the cost of a 100k-row import
    was mostly there: PostgreSQL gets COPY into a temporary table and one INSERT … SELECT … ON
    CONFLICT; SQLite one driver-level executemany of the compiled statement. Column types still
    convert every value (``Geometry``, ``UTCDateTime``, JSON), so all paths store the same bytes.
    """
    if not rows:
        return 0
    columns = list(rows[0].keys())
    first_keys = rows[0].keys()
    if any(row.keys() != first_keys for row in rows):
        # Columns come from the first row: a row with other keys would silently lose or null values.
        raise ValueError(f"upsert into {table.name}: every row must have the same keys as the first ({', '.join(columns)})")
    rows = list({tuple(row[k] for k in key): row for row in rows}.values())
    defaults = {c.name: c.default.arg for c in table.c if c.name not in columns and c.default is not None and c.default.is_scalar}
    columns += list(defaults)
    to_update = [c for c in (update_columns if update_columns is not None else columns) if c not in key and c in columns]
    if conn.dialect.name == "postgresql" and len(rows) >= COPY_MIN_ROWS:
        _upsert_by_copy(conn, table, rows, columns, defaults, key, to_update)
    else:
        stmt = _upsert_statement(conn.dialect.name, table, key, to_update)
        if conn.dialect.name == "sqlite":
            _upsert_by_executemany(conn, table, stmt, rows, columns, defaults)
        else:
            chunk = max(1, _MAX_PARAMS // max(1, len(columns)))
            full_rows = [{name: (None if _is_missing(v) else v) for name, v in {**defaults, **row}.items()} for row in rows]
            for start in range(0, len(full_rows), chunk):
                conn.execute(stmt, full_rows[start : start + chunk])
    return len(rows)


def _dialect_insert(dialect_name: str):
    """The INSERT of this dialect, which has ``on_conflict_do_update`` (SQLite or PostgreSQL)."""
    return postgresql.insert if dialect_name == "postgresql" else sqlite.insert


def _upsert_statement(dialect_name: str, table, key: Sequence[str], to_update: list[str], source=None):
    stmt = _dialect_insert(dialect_name)(table)
    if source is not None:
        stmt = stmt.from_select(source[0], source[1])
    if to_update:
        return stmt.on_conflict_do_update(index_elements=list(key), set_={c: stmt.excluded[c] for c in to_update})
    return stmt.on_conflict_do_nothing(index_elements=list(key))


def _column_values(conn: Connection, table: Table, name: str, rows, defaults: dict, *, for_copy: bool = False) -> list:
    """One column's values converted as its type would bind them (or as COPY's text input wants them)."""
    column_type = table.c[name].type
    # pandas hands missing values over as NaN/NaT; in the database they are NULL on every path.
    values = [None if _is_missing(v) else v for v in (row.get(name, defaults.get(name)) for row in rows)]
    if isinstance(column_type, Geometry) and for_copy:
        shapes = np.array([None if v is None else (shapely.from_wkb(bytes(v)) if isinstance(v, (bytes, bytearray, memoryview)) else v) for v in values], dtype=object)
        # PostGIS reads hex EWKB; the SRID must match the column's.
        return list(shapely.to_wkb(shapely.set_srid(shapes, column_type.srid), hex=True, include_srid=True))
    if isinstance(column_type, JSON) and for_copy:
        return [None if v is None else json.dumps(v, ensure_ascii=False) for v in values]
    processor = column_type.bind_processor(conn.dialect)
    if isinstance(column_type, TypeDecorator) and for_copy:
        return [column_type.process_bind_param(v, conn.dialect) for v in values]
    return values if processor is None or for_copy else [processor(v) for v in values]


def _is_missing(value) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and value != value)


def _upsert_by_executemany(conn: Connection, table: Table, stmt, rows, columns: list[str], defaults: dict) -> None:
    compiled = stmt.compile(dialect=conn.dialect, column_keys=columns)
    converted = {name: _column_values(conn, table, name, rows, defaults) for name in compiled.positiontup}
    conn.exec_driver_sql(str(compiled), list(zip(*(converted[name] for name in compiled.positiontup))))


def _upsert_by_copy(conn: Connection, table: Table, rows, columns: list[str], defaults: dict, key: Sequence[str], to_update: list[str]) -> None:
    quote = conn.dialect.identifier_preparer.quote
    staging = f"staging_{table.name}"
    # DDL cannot take bound identifiers; both names are ours and quoted by the dialect.
    conn.exec_driver_sql(f"CREATE TEMP TABLE {quote(staging)} (LIKE {quote(table.name)} INCLUDING DEFAULTS) ON COMMIT DROP")
    converted = [_column_values(conn, table, name, rows, defaults, for_copy=True) for name in columns]
    cursor = conn.connection.driver_connection.cursor()
    copy_sql = f"COPY {quote(staging)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
    with cursor.copy(copy_sql) as copy:
        for record in zip(*converted):
            copy.write_row(record)
    source = sa_table(staging, *(sa_column(c) for c in columns))
    conn.execute(_upsert_statement("postgresql", table, key, to_update, source=(columns, select(*source.c))))
    conn.exec_driver_sql(f"DROP TABLE {quote(staging)}")


def data_version(conn: Connection) -> int:
    return conn.execute(select(func.coalesce(func.max(ChangeLog.id), 0))).scalar_one()


def ensure_dataset(conn: Connection, code: str, **fields) -> None:
    """Create a catalogue entry if it is missing (fields as in ``Dataset``); existing entries are kept."""
    if conn.execute(select(Dataset.code).where(Dataset.code == code)).first() is not None:
        return
    cycle = lookup(UPDATE_CYCLES, fields.get("update_cycle", "daily"))
    fields["update_cycle"] = cycle.code if cycle else "daily"
    fields.setdefault("name", code)
    fields.setdefault("provider", "未登记")
    conn.execute(insert(Dataset).values(code=code, row_count=0, version=0, **fields))


def record_change(
    conn: Connection,
    dataset_code: str,
    action: str,
    rows: int,
    *,
    tables: Sequence[str] = (),
    row_count: int | None = None,
    detail: dict | None = None,
    at: dt.datetime | None = None,
    data_time: dt.datetime | None = None,
    partitions: Iterable[str | None] | None = None,
) -> int:
    """Log a committed batch and bump versions; returns the new global data version.

    ``at`` is when the batch was written; ``data_time`` the newest time the data reflects (the
    dataset's last update for freshness), defaulting to ``at``. ``tables`` names the tables the
    batch wrote: the cache invalidates exactly the queries reading them (a dataset that never
    declares its tables is taken to touch every table). ``partitions``: the districts of the rows
    the batch wrote *and* of those rows before it (a row moved between districts changes both);
    their versions in ``dataset_partitions`` are bumped, so cached answers about other districts
    stay valid. None (not known) bumps ``ALL_PARTITIONS``, which every district's answers
    depend on. Rows without a district are in no area below the city: the dataset's own version,
    always bumped, covers them.
    """
    at = at or dt.datetime.now(dt.timezone.utc)
    result = conn.execute(insert(ChangeLog).values(at=at, dataset_code=dataset_code, action=action, rows=rows, detail=detail))
    values = {"version": Dataset.version + 1, "last_update_at": data_time or at}
    if row_count is not None:
        values["row_count"] = row_count
    in_catalogue = conn.execute(update(Dataset).where(Dataset.code == dataset_code).values(**values)).rowcount > 0
    if tables:
        pairs = [{"dataset_code": dataset_code, "table_name": name} for name in sorted(set(tables))]
        upsert(conn, DatasetTable.__table__, pairs, key=["dataset_code", "table_name"])
    names = [ALL_PARTITIONS] if partitions is None else sorted({name for name in partitions if name})
    if names and in_catalogue:  # a dataset outside the catalogue keys nothing (queries.cache)
        _bump_partitions(conn, dataset_code, names)
    return result.inserted_primary_key[0]


def _bump_partitions(conn: Connection, dataset_code: str, names: Sequence[str]) -> None:
    """version + 1 for each (dataset, partition), created at 1; atomic under concurrent writers."""
    table = DatasetPartition.__table__
    stmt = _dialect_insert(conn.dialect.name)(table).values([{"dataset_code": dataset_code, "partition": name, "version": 1} for name in names])
    conn.execute(stmt.on_conflict_do_update(index_elements=["dataset_code", "partition"], set_={"version": table.c.version + 1}))
