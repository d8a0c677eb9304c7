"""Writing helpers shared by ingest, the demo city and live feeds.

* ``upsert``: INSERT … ON CONFLICT (natural key) DO UPDATE, the same on SQLite and PostgreSQL,
  so that re-importing a file replaces rows instead of duplicating them.
* ``record_change``: every committed batch bumps the global data version (max(change_log.id)),
  the dataset's own version, its last-update time and row count, in the caller's transaction —
  a failed import therefore leaves the catalogue untouched as well.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import Connection, Table, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from queries.schema import ChangeLog, Dataset
from queries.vocab import UPDATE_CYCLES, lookup

# SQLite allows 32766 bound parameters per statement; PostgreSQL 65535. Stay under both.
_MAX_PARAMS = 30000


def upsert(conn: Connection, table: Table, rows: Sequence[Mapping], key: Sequence[str], update_columns: Iterable[str] | None = None) -> int:
    """Insert ``rows`` into ``table``, updating non-key columns where the natural ``key`` exists."""
    if not rows:
        return 0
    columns = list(rows[0].keys())
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = dialect_insert(table)
    to_update = [c for c in (update_columns if update_columns is not None else columns) if c not in key]
    if to_update:
        stmt = stmt.on_conflict_do_update(index_elements=list(key), set_={c: stmt.excluded[c] for c in to_update})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(key))
    chunk = max(1, _MAX_PARAMS // max(1, len(columns)))
    for start in range(0, len(rows), chunk):
        conn.execute(stmt, list(rows[start : start + chunk]))
    return len(rows)


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
    row_count: int | None = None,
    detail: dict | None = None,
    at: dt.datetime | None = None,
    data_time: dt.datetime | None = None,
) -> int:
    """Log a committed batch and bump versions; returns the new global data version.

    ``at`` is when the batch was written; ``data_time`` the newest time the data reflects (the
    dataset's last update for freshness), defaulting to ``at``.
    """
    at = at or dt.datetime.now(dt.timezone.utc)
    result = conn.execute(insert(ChangeLog).values(at=at, dataset_code=dataset_code, action=action, rows=rows, detail=detail))
    values = {"version": Dataset.version + 1, "last_update_at": data_time or at}
    if row_count is not None:
        values["row_count"] = row_count
    conn.execute(update(Dataset).where(Dataset.code == dataset_code).values(**values))
    return result.inserted_primary_key[0]
