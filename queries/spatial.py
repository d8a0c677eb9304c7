"""Point → area assignment, done once at ingest so that every drill step is a GROUP BY.

``assign_points`` finds, for each point, the deepest loaded area containing it and reports the
codes of all its ancestors (via the parent chain, so it also works for ingested codes that do not
follow the prefix convention). Points outside the deepest level (e.g. a city that has district
boundaries but no unit grids yet, or a point in a gap of the grid layer) fall back level by level.
A point on a shared edge goes to one area deterministically (the first in code order).
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, select

from queries.schema import Area
from queries.vocab import AREA_LEVEL_CODES

ASSIGNED_LEVELS = ("district", "street", "community", "grid")
ASSIGNED_COLUMNS = tuple(f"{level}_code" for level in ASSIGNED_LEVELS)


def load_areas(conn: Connection, levels: tuple[str, ...] | None = None) -> gpd.GeoDataFrame:
    """Areas with their geometry as a GeoDataFrame (columns code, level, parent_code, name, geometry)."""
    stmt = select(Area.code, Area.level, Area.parent_code, Area.name, Area.geom).order_by(Area.code)
    if levels:
        stmt = stmt.where(Area.level.in_(levels))
    rows = conn.execute(stmt).all()
    frame = pd.DataFrame(rows, columns=["code", "level", "parent_code", "name", "geometry"])
    return gpd.GeoDataFrame(frame, geometry="geometry", crs="EPSG:4326")


def _ancestry(areas: pd.DataFrame) -> tuple[dict[str, int], np.ndarray]:
    """Row index per area code, and per row the code of itself/its ancestor at every assigned level."""
    parent = dict(zip(areas["code"], areas["parent_code"]))
    level = dict(zip(areas["code"], areas["level"]))
    row_of = {code: i for i, code in enumerate(areas["code"])}
    table = np.full((len(row_of), len(ASSIGNED_LEVELS)), None, dtype=object)
    for code, row in row_of.items():
        node, hops = code, 0
        while node is not None and hops <= len(AREA_LEVEL_CODES):  # hop limit guards against cycles
            if level.get(node) in ASSIGNED_LEVELS:
                table[row, ASSIGNED_LEVELS.index(level[node])] = node
            node, hops = parent.get(node), hops + 1
    return row_of, table


def assign_points(areas: gpd.GeoDataFrame, lon, lat) -> pd.DataFrame:
    """Codes of the containing district, street, community and grid for each (lon, lat).

    Returns a frame aligned with the input (same length and order); codes are None where no
    loaded area contains the point or where a level is not loaded.
    """
    lon = np.asarray(lon, dtype="float64")
    lat = np.asarray(lat, dtype="float64")
    codes = np.full((len(lon), len(ASSIGNED_COLUMNS)), None, dtype=object)
    if len(lon) == 0 or areas is None or areas.empty:
        return pd.DataFrame(codes, columns=list(ASSIGNED_COLUMNS), dtype=object)
    ancestry_rows, ancestry_codes = _ancestry(areas)
    points = shapely.points(lon, lat)
    pending = np.isfinite(lon) & np.isfinite(lat)
    for level in reversed(ASSIGNED_LEVELS):  # deepest first
        if not pending.any():
            break
        layer = areas[areas["level"] == level]
        if layer.empty:
            continue
        tree = shapely.STRtree(layer.geometry.values)
        candidates = np.flatnonzero(pending)
        point_idx, area_idx = tree.query(points[candidates], predicate="intersects")
        if len(point_idx) == 0:
            continue
        # First hit per point; the layer is in code order so ties resolve deterministically.
        order = np.lexsort((area_idx, point_idx))
        point_idx, area_idx = point_idx[order], area_idx[order]
        first = np.concatenate(([True], point_idx[1:] != point_idx[:-1]))
        hit_points = candidates[point_idx[first]]
        layer_rows = np.array([ancestry_rows[c] for c in layer["code"]])
        codes[hit_points] = ancestry_codes[layer_rows[area_idx[first]]]
        pending[hit_points] = False
    return pd.DataFrame(codes, columns=list(ASSIGNED_COLUMNS), dtype=object)
