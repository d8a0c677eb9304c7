"""The numbers a drill step shows: incidents or work orders counted per child of an area.

Points carry the codes of every level that contains them (assigned once at ingest), so a step is
a GROUP BY on one indexed column and never a spatial join. Every child is listed, with 0 where
nothing happened, in code order.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd
from sqlalchemy import Connection, func, select

from queries.cache import cached
from queries.schema import Area, Incident, WorkOrder

CHILD_LEVEL = {"city": "district", "district": "street", "street": "community", "community": "grid"}
POINT_SOURCES = {"incidents": (Incident, Incident.reported_at), "workorders": (WorkOrder, WorkOrder.call_time)}


class UnknownArea(LookupError):
    pass


@cached(tables=("areas",))
def get_area(conn: Connection, code: str) -> dict:
    row = conn.execute(select(Area.code, Area.name, Area.name_en, Area.level, Area.parent_code).where(Area.code == code)).first()
    if row is None:
        raise UnknownArea(f"no area with code {code!r}")
    return dict(row._mapping)


def ancestry(read_area, area_code: str) -> list[dict]:
    """Area ``area_code`` and its ancestors, the area first and the city last; ``read_area(code)``
    reads one (``get_area`` on a connection, or through the query cache)."""
    path = [read_area(area_code)]
    while path[-1]["parent_code"] is not None:
        path.append(read_area(path[-1]["parent_code"]))
    return path


@cached(tables=("areas",))
def children(conn: Connection, code: str) -> pd.DataFrame:
    rows = conn.execute(select(Area.code, Area.name, Area.name_en, Area.level).where(Area.parent_code == code).order_by(Area.code)).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=["code", "name", "name_en", "level"])


def filtered_points(
    source: str,
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    categories: Sequence[str] | None = None,
    severities: Sequence[int] | None = None,
    statuses: Sequence[str] | None = None,
    channels: Sequence[str] | None = None,
):
    """(table, WHERE clauses) for a point source and the usual filters; time window is [start, end)."""
    table, time_column = POINT_SOURCES[source]
    where = []
    if start is not None:
        where.append(time_column >= start)
    if end is not None:
        where.append(time_column < end)
    if source == "incidents":
        if categories:
            where.append(Incident.category.in_(categories))
        if severities:
            where.append(Incident.severity.in_([int(s) for s in severities]))
        if statuses:
            where.append(Incident.status.in_(statuses))
        if channels:
            where.append(Incident.channel.in_(channels))
    else:
        if categories:
            where.append(WorkOrder.demand_type.in_(categories))
        if statuses:
            where.append(WorkOrder.state.in_(statuses))
        if channels:
            where.append(WorkOrder.source_type.in_(channels))
    return table, where


@cached(tables=("incidents", "work_orders", "areas"), area="area_code")
def child_counts(conn: Connection, area_code: str, source: str = "incidents", **filters) -> pd.DataFrame:
    """``code, name, name_en, value`` for every child of ``area_code`` (empty for a unit grid)."""
    area = get_area(conn, area_code)
    kids = children(conn, area_code)
    child_level = CHILD_LEVEL.get(area["level"])
    if child_level is None or kids.empty:
        return kids.assign(value=pd.Series(dtype="int64"))[["code", "name", "name_en", "value"]]
    table, where = filtered_points(source, **filters)
    child_column = getattr(table, f"{child_level}_code")
    if area["level"] == "city":
        where.append(child_column.in_(kids["code"].tolist()))
    else:
        where.append(getattr(table, f"{area['level']}_code") == area_code)
    stmt = select(child_column, func.count()).where(*where).group_by(child_column)
    counts = dict(conn.execute(stmt).all())
    return kids.assign(value=[int(counts.get(code, 0)) for code in kids["code"]])[["code", "name", "name_en", "value"]]
