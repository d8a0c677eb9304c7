"""What is loaded: row counts, the data version and the resource catalogue with its freshness
(``queries.freshness``: fresh / late / stale / unknown).

Read by the home page and by ``cityops serve`` (is the database empty?). Every function takes a
connection and returns plain values or DataFrames; nothing here knows about the UI.

``areas`` (area-code prefixes, a union; empty = the whole city) limits the counts and the latest
incidents to a user's areas (``queries.auth.areas_within`` / ``records_within``). The data version
and the resource catalogue are the platform's, the same for everyone.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import Connection, func, select

from queries.auth import area_prefixes, areas_within, records_within
from queries.freshness import dataset_freshness
from queries.schema import Area, Incident, Sensor, WorkOrder
from queries.vocab import AREA_LEVEL_CODES
from queries.writes import data_version


def area_count(conn: Connection) -> int:
    """Rows in ``areas``: zero means an empty platform (``cityops serve`` then builds the demo city)."""
    return conn.execute(select(func.count()).select_from(Area)).scalar_one()


def area_counts_by_level(conn: Connection, areas: Iterable[str] | None = None) -> dict[str, int]:
    """Areas per level (within ``areas``), every known level present (0 when none), in the city → grid order."""
    stmt = select(Area.level, func.count()).group_by(Area.level)
    within = areas_within(Area.code, areas)
    if within is not None:
        stmt = stmt.where(within)
    found = {level: count for level, count in conn.execute(stmt).all()}
    counts = {level: found.pop(level, 0) for level in AREA_LEVEL_CODES}
    counts.update(found)  # levels outside the vocabulary still show up rather than vanish
    return counts


def record_counts(conn: Connection, areas: Iterable[str] | None = None) -> dict[str, int]:
    """Operational record counts (within ``areas``): incidents, 12345 work orders, IoT sensors."""
    tables = {"incidents": Incident, "work_orders": WorkOrder, "sensors": Sensor}
    counts = {}
    for name, model in tables.items():
        stmt = select(func.count()).select_from(model)
        within = records_within(model, areas)
        counts[name] = conn.execute(stmt if within is None else stmt.where(within)).scalar_one()
    return counts


def scope_areas(conn: Connection, areas: Iterable[str] | None) -> list[dict]:
    """The areas a scope names (``code``, ``name``, ``name_en``; a prefix no area has keeps its code as name)."""
    prefixes = area_prefixes(areas)
    if not prefixes:
        return []
    names = {row.code: row for row in conn.execute(select(Area.code, Area.name, Area.name_en).where(Area.code.in_(prefixes)))}
    return [{"code": code, "name": names[code].name if code in names else code, "name_en": names[code].name_en if code in names else None}
            for code in prefixes]


def latest_incidents(conn: Connection, limit: int = 8, areas: Iterable[str] | None = None) -> list:
    """The newest incidents (by report time) within ``areas``, in event form (``queries.bus``): what
    the home page's live list starts from."""
    from queries.bus import current_data_version, incident_events

    stmt = select(Incident.id).order_by(Incident.reported_at.desc(), Incident.id).limit(limit)
    within = records_within(Incident, areas)
    ids = conn.execute(stmt if within is None else stmt.where(within)).scalars().all()
    by_id = {event.payload["incident_id"]: event for event in incident_events(conn, ids, current_data_version(conn), new_ids=())}
    return [by_id[i] for i in ids if i in by_id]


def overview(conn: Connection, now: dt.datetime | None = None, areas: Iterable[str] | None = None) -> dict:
    """Everything the home page shows, read in one connection; counts within ``areas`` (empty: the city)."""
    return {
        "areas_by_level": area_counts_by_level(conn, areas),
        "records": record_counts(conn, areas),
        "scope": scope_areas(conn, areas),
        "data_version": data_version(conn),
        "catalogue": dataset_freshness(conn, now),
    }
