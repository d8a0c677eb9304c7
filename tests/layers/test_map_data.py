"""Map data queries on SQLite and PostGIS against independently computed expectations."""
from __future__ import annotations

import datetime as dt

import h3
import numpy as np
import pytest
import shapely
from sqlalchemy import insert

from queries.map_data import (
    area_shapes,
    grid_values,
    incident_points,
    land_and_roads,
    resource_points,
    road_congestion_lines,
    sensor_points,
    surface_cells,
    tolerance_for_zoom,
)
from queries.schema import Area, Incident, Resource, RoadSegment, RoadSpeed, Sensor

T = dt.datetime(2026, 11, 21, 8, tzinfo=dt.UTC)
CITY, WEST, EAST = "320700", "320706", "320707"


def wiggly_box(x0, y0, x1, y1, n=60):
    """A box whose edges carry many collinear-ish vertices (what simplification removes)."""
    t = np.linspace(0, 1, n, endpoint=False)
    jitter = 0.00001 * np.sin(t * 40)
    bottom = np.column_stack([x0 + (x1 - x0) * t, y0 + jitter])
    right = np.column_stack([x1 + jitter, y0 + (y1 - y0) * t])
    top = np.column_stack([x1 - (x1 - x0) * t, y1 + jitter])
    left = np.column_stack([x0 + jitter, y1 - (y1 - y0) * t])
    return shapely.Polygon(np.vstack([bottom, right, top, left]))


@pytest.fixture
def city(engine):
    west = wiggly_box(119.1, 34.5, 119.2, 34.6)
    east = shapely.Polygon(shapely.get_coordinates(west) + [0.1, 0])
    shared = shapely.box(119.1, 34.5, 119.3, 34.6)
    grids = [shapely.box(119.1 + 0.05 * i, 34.5, 119.15 + 0.05 * i, 34.55) for i in range(4)]
    incidents = [("a", 119.12, 34.52, 1, "accident", T - dt.timedelta(hours=1), WEST, grids_code(0)),
                 ("b", 119.18, 34.58, 4, "accident", T - dt.timedelta(hours=2), WEST, None),
                 ("c", 119.25, 34.52, 2, "public_health", T - dt.timedelta(hours=3), EAST, grids_code(3)),
                 ("d", 119.28, 34.59, 3, "social_security", T - dt.timedelta(days=3), EAST, None)]
    with engine.begin() as conn:
        conn.execute(insert(Area), [{"name_en": None, "label_lon": None, "label_lat": None, **row} for row in [
            {"code": CITY, "level": "city", "name": "连云港市", "parent_code": None, "geom": shapely.MultiPolygon([shared])},
            {"code": WEST, "level": "district", "name": "海州区", "name_en": "Haizhou", "parent_code": CITY, "geom": shapely.MultiPolygon([west]), "label_lon": 119.15, "label_lat": 34.55},
            {"code": EAST, "level": "district", "name": "赣榆区", "name_en": "Ganyu", "parent_code": CITY, "geom": shapely.MultiPolygon([east])},
            {"code": "320706001", "level": "street", "name": "街道", "parent_code": WEST, "geom": shapely.MultiPolygon([west])},
            {"code": "320706001001", "level": "community", "name": "社区", "parent_code": "320706001", "geom": shapely.MultiPolygon([west])},
            *({"code": grids_code(i), "level": "grid", "name": f"网格{i}", "parent_code": "320706001001", "geom": shapely.MultiPolygon([g])} for i, g in enumerate(grids)),
        ]])
        conn.execute(insert(Incident), [
            {"id": i, "lon": lon, "lat": lat, "severity": sev, "category": cat, "status": "reported", "reported_at": at, "district_code": district,
             "grid_code": grid, "reporter_phone": "13800000000"}
            for i, lon, lat, sev, cat, at, district, grid in incidents
        ])
        conn.execute(insert(Sensor), [
            {"id": "s1", "kind": "smoke", "status": "alarm", "lon": 119.12, "lat": 34.52, "district_code": WEST},
            {"id": "s2", "kind": "manhole", "status": "online", "lon": 119.25, "lat": 34.55, "district_code": EAST},
        ])
        conn.execute(insert(Resource), [
            {"id": "r1", "kind": "fire_station", "name": "消防站", "lon": 119.13, "lat": 34.53, "district_code": WEST},
            {"id": "r2", "kind": "hospital", "name": "医院", "lon": 119.27, "lat": 34.57, "district_code": EAST},
        ])
        segments = [("g1", shapely.LineString([(119.11, 34.52), (119.14, 34.53)]), WEST, "arterial"),
                    ("g2", shapely.LineString([(119.22, 34.56), (119.29, 34.58)]), EAST, "expressway")]
        conn.execute(insert(RoadSegment), [
            {"id": sid, "road_class": cls, "geom": line, "district_code": district, "length_m": 1000.0,
             "minx": line.bounds[0], "miny": line.bounds[1], "maxx": line.bounds[2], "maxy": line.bounds[3]}
            for sid, line, district, cls in segments
        ])
        conn.execute(insert(RoadSpeed), [{"segment_id": "g1", "ts": T - dt.timedelta(minutes=10), "speed_kmh": 12.0, "congestion_index": 8.5}])
    return engine


def grids_code(i: int) -> str:
    return f"320706001001{i:03d}"


def test_area_shapes_filter_by_parent_and_level_and_simplify_keeping_codes_and_validity(city):
    with city.connect() as conn:
        full = area_shapes(conn, None, "district")
        under_city = area_shapes(conn, CITY, "district")
        simplified = area_shapes(conn, CITY, "district", simplify_m=50)
        grids_of_west = area_shapes(conn, WEST, "grid")
        grids_of_east = area_shapes(conn, EAST, "grid")
    assert full["code"].tolist() == under_city["code"].tolist() == [WEST, EAST]
    assert list(full.columns) == ["code", "name", "name_en", "level", "parent_code", "label_lon", "label_lat", "geometry"]
    assert full["name_en"].tolist() == ["Haizhou", "Ganyu"] and full["label_lon"].iloc[0] == 119.15
    assert simplified["code"].tolist() == full["code"].tolist()
    before = shapely.get_num_coordinates(full.geometry.values)
    after = shapely.get_num_coordinates(simplified.geometry.values)
    assert (after < before / 4).all() and shapely.is_valid(simplified.geometry.values).all()
    # Shapes stay where they were (within the tolerance) and neighbours still touch.
    for a, b in zip(full.geometry, simplified.geometry):
        assert a.symmetric_difference(b).area < 0.01 * a.area
    assert simplified.geometry.iloc[0].buffer(1e-9).intersects(simplified.geometry.iloc[1])
    assert len(grids_of_west) == 4 and grids_of_east.empty


def test_incident_points_filter_by_time_area_bbox_and_carry_nothing_personal(city):
    start, end = T - dt.timedelta(days=1), T
    bbox = (119.1, 34.5, 119.2, 34.6)
    with city.connect() as conn:
        everything = incident_points(conn, None, start, end)
        east = incident_points(conn, EAST, start, end)
        visible = incident_points(conn, CITY, start, end, bbox=bbox)
        severe = incident_points(conn, None, start, end, severities=[1, 2])
    assert list(everything.columns) == ["id", "lon", "lat", "severity", "category", "status", "reported_at"]
    assert sorted(everything["id"]) == ["a", "b", "c"]  # d is older than a day
    assert east["id"].tolist() == ["c"]
    inside = [i for i, lon, lat in zip(everything["id"], everything["lon"], everything["lat"]) if bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]]
    assert sorted(visible["id"]) == sorted(inside) == ["a", "b"]
    assert sorted(severe["id"]) == ["a", "c"]


def test_sensor_and_resource_points_by_area_kind_and_bbox(city):
    with city.connect() as conn:
        assert sensor_points(conn)["id"].tolist() == ["s1", "s2"]
        assert sensor_points(conn, kinds=["manhole"])["id"].tolist() == ["s2"]
        assert sensor_points(conn, bbox=(119.1, 34.5, 119.2, 34.6))["id"].tolist() == ["s1"]
        assert resource_points(conn, area=EAST)["id"].tolist() == ["r2"]
        assert resource_points(conn, bbox=(119.2, 34.5, 119.3, 34.6))["id"].tolist() == ["r2"]
        assert list(resource_points(conn).columns) == ["id", "kind", "name", "lon", "lat", "capacity", "capacity_unit"]


def test_road_congestion_lines_with_latest_band_and_bbox(city):
    with city.connect() as conn:
        lines = road_congestion_lines(conn, at=T)
        west = road_congestion_lines(conn, area=WEST, at=T)
        visible = road_congestion_lines(conn, at=T, bbox=(119.2, 34.5, 119.3, 34.6))
    by_id = lines.set_index("segment_id")
    assert by_id.loc["g1", "band"] == "severe" and by_id.loc["g2", "band"] is None
    assert west["segment_id"].tolist() == ["g1"] and visible["segment_id"].tolist() == ["g2"]
    assert lines.geometry.iloc[0].geom_type == "LineString"


def test_land_and_roads_grid_values_and_surface_cells(city):
    with city.connect() as conn:
        basemap = land_and_roads(conn)
        simplified = land_and_roads(conn, simplify_m=50)
        values = grid_values(conn, "incidents", WEST)
        cells = surface_cells(conn, WEST)
    expected_land = shapely.union_all([shapely.MultiPolygon([wiggly_box(119.1, 34.5, 119.2, 34.6)]),
                                       shapely.MultiPolygon([shapely.Polygon(shapely.get_coordinates(wiggly_box(119.1, 34.5, 119.2, 34.6)) + [0.1, 0])])])
    assert basemap["land"].geometry.iloc[0].symmetric_difference(expected_land).area < 1e-9
    assert shapely.get_num_coordinates(simplified["land"].geometry.iloc[0]) < shapely.get_num_coordinates(basemap["land"].geometry.iloc[0])
    assert basemap["roads"]["road_class"].tolist() == ["arterial", "expressway"]
    assert dict(zip(values["code"], values["count"])) == {grids_code(0): 1, grids_code(1): 0, grids_code(2): 0, grids_code(3): 0}
    assert cells["code"].tolist() == [grids_code(i) for i in range(4)]
    assert all(shapely.contains_xy(g, x, y) for g, x, y in zip(cells.geometry, cells["lon"], cells["lat"]))


def test_surface_cells_on_hexagons_when_asked_even_with_grids(city):
    """A zoomed-out view asks for H3 cells over the area although it has unit grids."""
    with city.connect() as conn:
        hexagons = surface_cells(conn, WEST, h3_resolution=8, use_grids=False)
    assert list(hexagons.columns) == ["h3", "lon", "lat"] and len(hexagons) > 4
    assert all(h3.get_resolution(cell) == 8 for cell in hexagons["h3"])
    box = wiggly_box(119.1, 34.5, 119.2, 34.6)
    assert all(box.distance(shapely.Point(x, y)) < 0.01 for x, y in zip(hexagons["lon"], hexagons["lat"]))


def test_surface_cells_fall_back_to_h3_without_grids(engine):
    box = shapely.MultiPolygon([shapely.box(119.1, 34.5, 119.2, 34.6)])
    with engine.begin() as conn:
        conn.execute(insert(Area), [{"code": CITY, "level": "city", "name": "市", "parent_code": None, "geom": box},
                                    {"code": WEST, "level": "district", "name": "区", "parent_code": CITY, "geom": box}])
    with engine.connect() as conn:
        cells = surface_cells(conn, None, h3_resolution=7)
    assert list(cells.columns) == ["h3", "lon", "lat"] and len(cells) > 10
    assert all(shapely.contains_xy(box, x, y) or box.distance(shapely.Point(x, y)) < 0.02 for x, y in zip(cells["lon"], cells["lat"]))


def test_tolerance_for_zoom_halves_with_each_zoom_step():
    assert tolerance_for_zoom(10) == pytest.approx(2 * tolerance_for_zoom(11), rel=0.01)
    assert 40 < tolerance_for_zoom(10) < 80
