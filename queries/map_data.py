"""What the map draws, and only what it can see: shapes simplified to the zoom, points inside a bbox.

Every function takes a connection and returns (Geo)DataFrames in WGS84; ``layers/`` turns them into
deck.gl layers. ``bbox`` is ``(min_lon, min_lat, max_lon, max_lat)`` of the viewport — points are
filtered on their indexed lon/lat columns, road segments on their stored bounding boxes.
"""
from __future__ import annotations

import datetime as dt

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, select

from queries.cache import cached
from queries.db import read_frame
from queries.drill import filtered_points, get_area
from queries.grid import grid_aggregate
from queries.schema import Area, Incident, Resource, RoadSegment, Sensor
from queries.traffic import segment_congestion

WGS84 = "EPSG:4326"
METRES_PER_DEGREE = 111_320.0
SURFACE_H3_RESOLUTION = 7  # ≈5 km² hexagons where a city has no unit grids
WEB_MERCATOR_M_PER_PX_Z0 = 156_543.03  # ground metres per 256-px tile pixel at zoom 0, equator


def tolerance_for_zoom(zoom: float, lat: float = 34.6) -> float:
    """Simplification tolerance (metres) invisible at ``zoom``: half a screen pixel on the ground."""
    return round(0.5 * WEB_MERCATOR_M_PER_PX_Z0 * float(np.cos(np.radians(lat))) / 2.0 ** float(zoom), 1)


def _simplify(geometries: np.ndarray, tolerance_m: float) -> np.ndarray:
    """Topology-preserving simplification; areas of one level are simplified as a coverage so that
    shared edges move together and neighbours stay seamless."""
    if not tolerance_m or len(geometries) == 0:
        return geometries
    tolerance = tolerance_m / METRES_PER_DEGREE
    present = np.array([g is not None and not g.is_empty for g in geometries], dtype=bool)
    result = geometries.copy()
    shapes = geometries[present]
    if shapely.coverage_is_valid(shapes):
        result[present] = shapely.coverage_simplify(shapes, tolerance)
    else:
        result[present] = shapely.simplify(shapes, tolerance, preserve_topology=True)
    broken = present & ~shapely.is_valid(result)
    if broken.any():
        result[broken] = shapely.make_valid(result[broken])
    return result


def _area_scope(conn: Connection, table, area: str | None) -> list:
    """WHERE clauses keeping points of ``area`` (its level's code column; nothing for the city)."""
    if not area:
        return []
    found = get_area(conn, area)
    if found["level"] == "city":
        return []
    return [getattr(table, f"{found['level']}_code") == found["code"]]


def _bbox_points(table, bbox) -> list:
    if bbox is None:
        return []
    min_lon, min_lat, max_lon, max_lat = (float(v) for v in bbox)
    return [table.lon >= min_lon, table.lon <= max_lon, table.lat >= min_lat, table.lat <= max_lat]


@cached(tables=("areas",))
def area_shapes(conn: Connection, parent: str | None, level: str, simplify_m: float = 0) -> gpd.GeoDataFrame:
    """Areas of ``level`` under ``parent`` (None or the city: all of them), simplified by ``simplify_m`` metres.

    Columns: code, name, name_en, level, parent_code, label_lon, label_lat, geometry.
    """
    stmt = select(Area.code, Area.name, Area.name_en, Area.level, Area.parent_code, Area.label_lon, Area.label_lat, Area.geom).where(Area.level == level)
    if parent and get_area(conn, parent)["level"] != "city":
        # Codes are hierarchical (checked at ingest): descendants start with the parent's code.
        stmt = stmt.where(Area.code.startswith(parent, autoescape=True))
    rows = conn.execute(stmt.order_by(Area.code)).all()
    columns = ["code", "name", "name_en", "level", "parent_code", "label_lon", "label_lat", "geometry"]
    frame = pd.DataFrame([tuple(r) for r in rows], columns=columns)
    geometries = _simplify(np.asarray(frame["geometry"].to_numpy(), dtype=object), float(simplify_m or 0))
    return gpd.GeoDataFrame(frame.drop(columns="geometry"), geometry=list(geometries), crs=WGS84)


MAIN_PART_SHARE = 0.2  # polygon parts smaller than this share of the largest are not framed


@cached(tables=("areas",))
def area_frame_bounds(conn: Connection, code: str) -> list[list[float]] | None:
    """``[[west, south], [east, north]]`` to frame area ``code``: its main land, not far-off
    islets (coastal districts and communities own small islands tens of kilometres out; framing
    their full extent would shrink the area itself to a corner of the map). None for an unknown
    code or an area without a shape.

    Its own small entry: every step of a drill frames its area, and reading the bounds off the
    siblings' full-resolution shapes decoded all of them each time."""
    geometry = conn.execute(select(Area.geom).where(Area.code == code)).scalar()
    if geometry is None or geometry.is_empty:
        return None
    parts = list(getattr(geometry, "geoms", [geometry]))
    largest = max(part.area for part in parts)
    main = [part for part in parts if part.area >= MAIN_PART_SHARE * largest]
    west, south = min(p.bounds[0] for p in main), min(p.bounds[1] for p in main)
    east, north = max(p.bounds[2] for p in main), max(p.bounds[3] for p in main)
    return [[float(west), float(south)], [float(east), float(north)]]


@cached(tables=("areas", "road_segments"))
def land_and_roads(conn: Connection, simplify_m: float = 0) -> dict:
    """The drawn basemap: ``land`` (one row: the union of the districts) and ``roads``
    (id, name, road_class, geometry), simplified by ``simplify_m`` metres. Static data, cached
    until the areas or roads change."""
    districts = [g for (g,) in conn.execute(select(Area.geom).where(Area.level == "district")).all() if g is not None]
    if not districts:  # a city imported without districts: its own outline
        districts = [g for (g,) in conn.execute(select(Area.geom).where(Area.level == "city")).all() if g is not None]
    land = shapely.union_all(np.asarray(districts, dtype=object)) if districts else shapely.Polygon()
    land = _simplify(np.array([land], dtype=object), float(simplify_m or 0))[0]
    roads = conn.execute(select(RoadSegment.id, RoadSegment.name, RoadSegment.road_class, RoadSegment.geom).order_by(RoadSegment.id)).all()
    road_frame = pd.DataFrame([tuple(r) for r in roads], columns=["id", "name", "road_class", "geometry"])
    road_lines = np.asarray(road_frame["geometry"].to_numpy(), dtype=object)
    if simplify_m and len(road_lines):
        road_lines = shapely.simplify(road_lines, float(simplify_m) / METRES_PER_DEGREE, preserve_topology=True)
    return {
        "land": gpd.GeoDataFrame({"name": ["land"]}, geometry=[land], crs=WGS84),
        "roads": gpd.GeoDataFrame(road_frame.drop(columns="geometry"), geometry=list(road_lines), crs=WGS84),
    }


@cached(tables=("incidents", "work_orders", "sensors", "areas"), area="within")
def grid_values(conn: Connection, source: str = "incidents", within: str | None = None, simplify_m: float = 0, **filters) -> gpd.GeoDataFrame:
    """Every unit grid under ``within`` (simplified shapes) with its ``count`` of points (0 where none):
    the choropleth's data. Columns: code, name, name_en, count, geometry."""
    return grid_values_of(area_shapes(conn, within, "grid", simplify_m), grid_aggregate(conn, source, within, **filters))


def grid_values_of(shapes: gpd.GeoDataFrame, counts: pd.DataFrame) -> gpd.GeoDataFrame:
    """``grid_values`` from its parts: the grids' ``area_shapes`` and their ``grid_aggregate``. A
    caller going through the query cache reads the parts as two entries: the shapes change once a
    year and are the boundaries layer's entry too, the counts with every report."""
    merged = shapes[["code", "name", "name_en", "geometry"]].merge(counts[["code", "count"]], on="code", how="left")
    merged["count"] = merged["count"].fillna(0).astype("int64")
    return gpd.GeoDataFrame(merged[["code", "name", "name_en", "count"]], geometry=merged["geometry"].tolist(), crs=WGS84)


@cached(tables=("incidents", "areas"), area="area")
def incident_points(conn: Connection, area: str | None, start: dt.datetime | None, end: dt.datetime | None,
                    bbox: tuple | None = None, **filters) -> pd.DataFrame:
    """Incidents reported in [start, end) inside ``area`` and ``bbox``, filtered as in ``filtered_points``.

    Columns: id, lon, lat, severity, category, status, reported_at — what a marker needs, nothing personal.
    """
    _, where = filtered_points("incidents", start=start, end=end, **filters)
    where += _area_scope(conn, Incident, area) + _bbox_points(Incident, bbox) + [Incident.lon.is_not(None), Incident.lat.is_not(None)]
    columns = ["id", "lon", "lat", "severity", "category", "status", "reported_at"]
    stmt = select(*(getattr(Incident, c) for c in columns)).where(*where).order_by(Incident.reported_at, Incident.id)
    return read_frame(conn, stmt, columns)


@cached(tables=("sensors", "areas"))
def sensor_points(conn: Connection, area: str | None = None, kinds: list[str] | None = None, bbox: tuple | None = None) -> pd.DataFrame:
    """Columns: id, kind, name, lon, lat, status, status_at."""
    where = _area_scope(conn, Sensor, area) + _bbox_points(Sensor, bbox) + [Sensor.lon.is_not(None), Sensor.lat.is_not(None)]
    if kinds:
        where.append(Sensor.kind.in_(list(kinds)))
    columns = ["id", "kind", "name", "lon", "lat", "status", "status_at"]
    return read_frame(conn, select(*(getattr(Sensor, c) for c in columns)).where(*where).order_by(Sensor.id), columns)


@cached(tables=("resources", "areas"))
def resource_points(conn: Connection, area: str | None = None, kinds: list[str] | None = None, bbox: tuple | None = None) -> pd.DataFrame:
    """Columns: id, kind, name, lon, lat, capacity, capacity_unit."""
    where = _area_scope(conn, Resource, area) + _bbox_points(Resource, bbox) + [Resource.lon.is_not(None), Resource.lat.is_not(None)]
    if kinds:
        where.append(Resource.kind.in_(list(kinds)))
    columns = ["id", "kind", "name", "lon", "lat", "capacity", "capacity_unit"]
    return read_frame(conn, select(*(getattr(Resource, c) for c in columns)).where(*where).order_by(Resource.id), columns)


@cached(tables=("road_segments", "road_speeds", "areas"))
def road_congestion_lines(conn: Connection, area: str | None = None, at: dt.datetime | None = None, bbox: tuple | None = None) -> gpd.GeoDataFrame:
    """Segments (inside ``area`` by their midpoint, overlapping ``bbox``) with their latest congestion.

    Columns: segment_id, name, road_class, length_m, congestion_index, band, speed_kmh, ts, geometry;
    a segment without a recent reading has band None (drawn as "no live data").
    """
    where = _area_scope(conn, RoadSegment, area)
    if bbox is not None:
        min_lon, min_lat, max_lon, max_lat = (float(v) for v in bbox)
        where += [RoadSegment.maxx >= min_lon, RoadSegment.minx <= max_lon, RoadSegment.maxy >= min_lat, RoadSegment.miny <= max_lat]
    stmt = select(RoadSegment.id, RoadSegment.name, RoadSegment.road_class, RoadSegment.length_m, RoadSegment.geom).where(*where).order_by(RoadSegment.id)
    segments = pd.DataFrame([tuple(r) for r in conn.execute(stmt).all()], columns=["segment_id", "name", "road_class", "length_m", "geometry"])
    latest = segment_congestion(conn, at)[["segment_id", "congestion_index", "band", "speed_kmh", "ts"]]
    merged = segments.merge(latest, on="segment_id", how="left")
    merged["band"] = merged["band"].astype(object).where(merged["band"].notna(), None)
    columns = ["segment_id", "name", "road_class", "length_m", "congestion_index", "band", "speed_kmh", "ts"]
    return gpd.GeoDataFrame(merged[columns], geometry=merged["geometry"].tolist(), crs=WGS84)


@cached(tables=("areas",))
def surface_cells(conn: Connection, within: str | None = None, simplify_m: float = 0, h3_resolution: int = SURFACE_H3_RESOLUTION,
                  use_grids: bool = True) -> pd.DataFrame:
    """Cells to interpolate a surface on: the unit grids under ``within`` (code, lon, lat, geometry),
    or the H3 cells covering it (h3, lon, lat) — for a city without grids, or with ``use_grids=False``
    (a whole-city view, where ten thousand grids of a few pixels each cost far more than they show)."""
    grids = area_shapes(conn, within, "grid", simplify_m) if use_grids else ()
    if len(grids):
        centres = shapely.point_on_surface(np.asarray(grids.geometry.array, dtype=object))
        return grids[["code", "geometry"]].assign(lon=shapely.get_x(centres), lat=shapely.get_y(centres))[["code", "lon", "lat", "geometry"]]
    outline = area_shapes(conn, within, "district") if not within or get_area(conn, within)["level"] == "city" else \
        area_shapes(conn, None, get_area(conn, within)["level"]).query("code == @within")
    cells: set[str] = set()
    for geometry in outline.geometry:
        if geometry is not None and not geometry.is_empty:
            cells |= set(h3.geo_to_cells(geometry, h3_resolution))
    ordered = sorted(cells)
    centres = np.array([h3.cell_to_latlng(c) for c in ordered]).reshape(-1, 2)
    return pd.DataFrame({"h3": ordered, "lon": centres[:, 1], "lat": centres[:, 0]})
