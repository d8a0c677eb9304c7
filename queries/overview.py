"""What is loaded: row counts, the data version and the resource catalogue with its freshness
(``queries.freshness``: fresh / late / stale / unknown).

Read by the home page and by ``cityops serve`` (is the database empty?). Every function takes a
connection and returns plain values or DataFrames; nothing here knows about the UI.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, func, select

from queries.freshness import dataset_freshness
from queries.schema import Area, Incident, Sensor, WorkOrder
from queries.vocab import AREA_LEVEL_CODES
from queries.writes import data_version


def area_count(conn: Connection) -> int:
    """Rows in ``areas``: zero means an empty platform (``cityops serve`` then builds the demo city)."""
    return conn.execute(select(func.count()).select_from(Area)).scalar_one()


def area_counts_by_level(conn: Connection) -> dict[str, int]:
    """Areas per level, every known level present (0 when none), in the city → grid order."""
    rows = conn.execute(select(Area.level, func.count()).group_by(Area.level)).all()
    found = {level: count for level, count in rows}
    counts = {level: found.pop(level, 0) for level in AREA_LEVEL_CODES}
    counts.update(found)  # levels outside the vocabulary still show up rather than vanish
    return counts


def record_counts(conn: Connection) -> dict[str, int]:
    """Operational record counts: incidents, 12345 work orders, IoT sensors."""
    tables = {"incidents": Incident, "work_orders": WorkOrder, "sensors": Sensor}
    return {name: conn.execute(select(func.count()).select_from(model)).scalar_one() for name, model in tables.items()}


def overview(conn: Connection, now: dt.datetime | None = None) -> dict:
    """Everything the home page shows, read in one connection."""
    return {
        "areas_by_level": area_counts_by_level(conn),
        "records": record_counts(conn),
        "data_version": data_version(conn),
        "catalogue": dataset_freshness(conn, now),
    }
