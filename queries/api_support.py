"""Small reads the JSON API needs that the other query modules do not offer (yet).

Everything else the API serves comes straight from ``queries.drill``, ``queries.incidents``,
``queries.environment``, ``queries.traffic``, ``queries.areas`` and ``queries.freshness``.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd
from sqlalchemy import Connection, func, select

from queries.areas import list_areas
from queries.cache import cached
from queries.db import read_frame
from queries.drill import POINT_SOURCES, filtered_points
from queries.schema import Area


@cached(tables=("areas",))
def area_listing(conn: Connection, level: str | None = None, parent: str | None = None) -> pd.DataFrame:
    """``list_areas`` with each area's English name (``list_areas`` does not carry it)."""
    frame = list_areas(conn, level=level, parent=parent)
    stmt = select(Area.code, Area.name_en)
    if level is not None:
        stmt = stmt.where(Area.level == level)
    if parent is not None:
        stmt = stmt.where(Area.parent_code == parent)
    english = read_frame(conn, stmt, ["code", "name_en"], dtype=object)
    # errors="ignore": should list_areas gain name_en itself, the merge still yields one column.
    return frame.drop(columns="name_en", errors="ignore").merge(english, on="code", how="left")


@cached(tables=("areas",))
def area_extent(conn: Connection, code: str) -> dict | None:
    """Size, label point and bounding box of one area (as stored at ingest), or None."""
    row = conn.execute(
        select(Area.area_km2, Area.label_lon, Area.label_lat, Area.minx, Area.miny, Area.maxx, Area.maxy).where(Area.code == code)
    ).first()
    return None if row is None else dict(row._mapping)


@cached(tables=("incidents", "work_orders"))
def newest_point_time(conn: Connection, source: str, area_column: str, area_codes: Sequence[str], **filters) -> dt.datetime | None:
    """Time of the newest incident/work order counted in ``area_codes`` (same filters as a drill step).

    ``area_column`` is the level column the codes belong to, e.g. ``street_code``: a drill step
    counts exactly the points whose child-level code is one of the children.
    """
    if not area_codes:
        return None
    table, time_column = POINT_SOURCES[source]
    _, where = filtered_points(source, **filters)
    where.append(getattr(table, area_column).in_(list(area_codes)))
    return conn.execute(select(func.max(time_column)).where(*where)).scalar()
