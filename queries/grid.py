"""Point datasets aggregated into unit grids, or into H3 hexagons where grids are missing.

Grid aggregation is a GROUP BY on ``grid_code`` (assigned at ingest), so it runs in the database
on both dialects. H3 is the fallback for a city that has no unit grids loaded yet: points are
binned by their lon/lat with ``h3.latlng_to_cell``; the result says which one it is.
"""
from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
from sqlalchemy import Connection, func, select

from queries.cache import cached
from queries.db import read_frame
from queries.drill import filtered_points, get_area
from queries.schema import Area, Sensor

H3_DEFAULT_RESOLUTION = 8  # ≈0.74 km² cells, the size of a suburban unit grid


def _within(table, area: dict | None) -> list:
    if area is None or area["level"] == "city":
        return []
    return [getattr(table, f"{area['level']}_code") == area["code"]]


def _points_source(source: str, filters: dict):
    if source == "sensors":
        where = []
        if filters.get("kinds"):
            where.append(Sensor.kind.in_(filters["kinds"]))
        if filters.get("statuses"):
            where.append(Sensor.status.in_(filters["statuses"]))
        return Sensor, where
    return filtered_points(source, **filters)


def has_grids(conn: Connection, within: str | None = None) -> bool:
    """Whether unit grids are loaded (below ``within``: codes are hierarchical prefixes, checked at ingest)."""
    stmt = select(Area.code).where(Area.level == "grid")
    if within and get_area(conn, within)["level"] != "city":
        stmt = stmt.where(Area.code.startswith(within, autoescape=True))
    return conn.execute(stmt.limit(1)).first() is not None


@cached(tables=("incidents", "work_orders", "sensors", "areas"), area="within")
def grid_aggregate(conn: Connection, source: str = "incidents", within: str | None = None, value_column: str | None = None,
                   with_geometry: bool = False, **filters) -> pd.DataFrame | gpd.GeoDataFrame:
    """Per unit grid: ``count`` of points, and ``mean`` of ``value_column`` when given."""
    table, where = _points_source(source, filters)
    area = get_area(conn, within) if within else None
    where = [*where, *_within(table, area), table.grid_code.is_not(None)]
    measures = [func.count().label("count")]
    if value_column:
        measures.append(func.avg(getattr(table, value_column)).label("mean"))
    stmt = select(table.grid_code.label("code"), *measures).where(*where).group_by(table.grid_code).order_by(table.grid_code)
    frame = read_frame(conn, stmt, ["code", "count", *(["mean"] if value_column else [])])
    if not with_geometry:
        return frame
    shapes = dict(conn.execute(select(Area.code, Area.geom).where(Area.code.in_(frame["code"].tolist()))).all()) if len(frame) else {}
    return gpd.GeoDataFrame(frame, geometry=[shapes.get(c) for c in frame["code"]], crs="EPSG:4326")


@cached(tables=("incidents", "work_orders", "sensors", "areas"), area="within")
def h3_aggregate(conn: Connection, source: str = "incidents", within: str | None = None, resolution: int = H3_DEFAULT_RESOLUTION,
                 value_column: str | None = None, **filters) -> pd.DataFrame:
    """Per H3 cell: ``count`` (and ``mean`` of ``value_column``), with the cell centre's lon/lat."""
    if not 0 <= resolution <= 15:
        raise ValueError(f"H3 resolution must be 0–15, not {resolution}")
    table, where = _points_source(source, filters)
    area = get_area(conn, within) if within else None
    columns = [table.lon, table.lat, *([getattr(table, value_column)] if value_column else [])]
    where = [*where, *_within(table, area), table.lon.is_not(None), table.lat.is_not(None)]
    points = read_frame(conn, select(*columns).where(*where), ["lon", "lat", *(["value"] if value_column else [])])
    if points.empty:
        return pd.DataFrame(columns=["h3", "count", *(["mean"] if value_column else []), "lon", "lat"])
    points["h3"] = [h3.latlng_to_cell(la, lo, resolution) for lo, la in zip(points["lon"].to_numpy(), points["lat"].to_numpy())]
    grouped = points.groupby("h3", sort=True)
    frame = grouped.size().rename("count").to_frame()
    if value_column:
        frame["mean"] = grouped["value"].mean()
    frame = frame.reset_index()
    centres = np.array([h3.cell_to_latlng(c) for c in frame["h3"]])
    frame["lat"], frame["lon"] = centres[:, 0], centres[:, 1]
    return frame
