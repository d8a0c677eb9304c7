"""Translators for both languages and small hand-made frames every layer can render."""
from __future__ import annotations

import datetime as dt

import geopandas as gpd
import h3
import pandas as pd
import pytest
import shapely

from app.i18n import t as translate

NOW = dt.datetime(2026, 11, 21, 8, tzinfo=dt.UTC)


def translator(lang: str):
    return lambda key: translate(key, lang)


@pytest.fixture(params=["zh", "en"])
def lang(request) -> str:
    return request.param


@pytest.fixture
def t(lang):
    return translator(lang)


def incident_frame() -> pd.DataFrame:
    rows = [
        ("i1", 119.20, 34.60, 1, "natural_disaster", "reported", NOW - dt.timedelta(minutes=5)),
        ("i2", 119.21, 34.61, 2, "accident", "dispatched", NOW - dt.timedelta(hours=3)),
        ("i3", 119.22, 34.62, 3, "public_health", "on_scene", NOW - dt.timedelta(hours=5)),
        ("i4", 119.23, 34.63, 4, "social_security", "closed", NOW - dt.timedelta(days=1)),
        ("i5", 119.24, 34.64, 4, "accident", "reported", NOW - dt.timedelta(minutes=20)),
        ("i6", 119.245, 34.645, 2, "accident", "accepted", NOW - dt.timedelta(days=2)),
    ]
    return pd.DataFrame(rows, columns=["id", "lon", "lat", "severity", "category", "status", "reported_at"])


def area_frame() -> gpd.GeoDataFrame:
    west, east = shapely.box(119.1, 34.5, 119.2, 34.6), shapely.box(119.2, 34.5, 119.3, 34.6)
    return gpd.GeoDataFrame({
        "code": ["320706", "320707"], "name": ["海州区", "赣榆区"], "name_en": ["Haizhou", "Ganyu"], "level": ["district", "district"],
        "parent_code": ["320700", "320700"], "label_lon": [119.15, None], "label_lat": [34.55, None],
    }, geometry=[shapely.MultiPolygon([west]), shapely.MultiPolygon([east])], crs="EPSG:4326")


def grid_frame() -> gpd.GeoDataFrame:
    boxes = [shapely.box(119.1 + 0.01 * i, 34.5, 119.11 + 0.01 * i, 34.51) for i in range(8)]
    return gpd.GeoDataFrame({"code": [f"32070600100100{i}" for i in range(8)], "name": [f"网格{i}" for i in range(8)],
                             "name_en": [f"Grid {i}" for i in range(8)], "count": [0, 1, 2, 3, 5, 8, 13, 40]},
                            geometry=boxes, crs="EPSG:4326")


def h3_frame() -> pd.DataFrame:
    cells = sorted(h3.grid_disk(h3.latlng_to_cell(34.6, 119.2, 8), 1))
    return pd.DataFrame({"h3": cells, "count": list(range(1, len(cells) + 1))})


def basemap_data() -> dict:
    land = shapely.union_all([g for g in area_frame().geometry])
    roads = gpd.GeoDataFrame({"id": ["r1", "r2", "r3"], "name": ["海连路", None, "支路"], "road_class": ["expressway", "arterial", "branch"]},
                             geometry=[shapely.LineString([(119.1, 34.55), (119.3, 34.56)]), shapely.LineString([(119.2, 34.5), (119.21, 34.6)]),
                                       shapely.LineString([(119.15, 34.52), (119.16, 34.53)])], crs="EPSG:4326")
    return {"land": gpd.GeoDataFrame({"name": ["land"]}, geometry=[land], crs="EPSG:4326"), "roads": roads}


def traffic_frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({
        "segment_id": ["s1", "s2", "s3"], "name": ["海连路", "朝阳路", None], "road_class": ["expressway", "arterial", "secondary"],
        "length_m": [900.0, 500.0, 300.0], "congestion_index": [9.1, 1.0, None], "band": ["severe", "free", None],
        "speed_kmh": [8.0, 55.0, None], "ts": [NOW, NOW, None],
    }, geometry=[shapely.LineString([(119.1, 34.55), (119.2, 34.56)]), shapely.LineString([(119.2, 34.5), (119.21, 34.6)]),
                 shapely.LineString([(119.15, 34.52), (119.16, 34.53)])], crs="EPSG:4326")


def station_frame() -> pd.DataFrame:
    from queries.airquality import load_standard
    from queries.environment import _rate

    raw = pd.DataFrame({
        "station_id": ["1001A", "1002A", "1003A"], "name": ["市监测站", "海州站", "赣榆站"], "lon": [119.15, 119.25, 119.2], "lat": [34.55, 34.58, 34.7],
        "status": ["online"] * 3, "ts": [NOW] * 3,
        "pm2_5": [30.0, 80.0, 160.0], "pm2_5_24h": [30.0, 80.0, 160.0], "pm10": [50.0, 90.0, 200.0], "pm10_24h": [50.0, 90.0, 200.0],
        "so2": [8.0, 10.0, 12.0], "so2_24h": [8.0, 10.0, 12.0], "no2": [20.0, 40.0, 60.0], "no2_24h": [20.0, 40.0, 60.0],
        "co": [0.5, 0.8, 1.2], "co_24h": [0.5, 0.8, 1.2], "o3": [60.0, 80.0, 100.0], "o3_8h": [50.0, 70.0, 90.0], "o3_8h_24h": [50.0, 70.0, 90.0],
    })
    return _rate(raw, load_standard())


def resource_frame() -> pd.DataFrame:
    return pd.DataFrame({"id": ["f1", "h1"], "kind": ["fire_station", "hospital"], "name": ["海州消防站", "第一人民医院"], "lon": [119.16, 119.22],
                         "lat": [34.56, 34.59], "capacity": [6.0, 800.0], "capacity_unit": ["vehicles", "beds"]})


def sensor_frame() -> pd.DataFrame:
    return pd.DataFrame({"id": ["s1", "s2", "s3"], "kind": ["smoke", "manhole", "water_level"], "name": ["烟感1", None, "水位站"],
                         "lon": [119.16, 119.17, 119.18], "lat": [34.56, 34.57, 34.58], "status": ["alarm", "online", "offline"], "status_at": [NOW] * 3})


def route_data() -> dict:
    resources = resource_frame().assign(distance_m=[1800.0, 650.0], travel_s=[300.0, 140.0], method=["network", "straight_line"])
    return {"incident": {"lon": 119.2, "lat": 34.6}, "resources": resources}


def sample_inputs() -> dict:
    """Registry name → (data, options) rendering every layer from hand-made frames."""
    return {
        "basemap": (basemap_data(), {"zoom": 14}),
        "boundaries": (area_frame(), {"selected": "320707"}),
        "grid_choropleth": (grid_frame(), {}),
        "h3": (h3_frame(), {}),
        "incidents": (incident_frame(), {"zoom": 14, "now": NOW}),
        "incident_heatmap": (incident_frame(), {}),
        "traffic": (traffic_frame(), {}),
        "air_stations": (station_frame(), {}),
        "aqi_surface": ({"stations": station_frame(), "cells": grid_frame().assign(lon=lambda f: shapely.get_x(shapely.centroid(f.geometry.values)), lat=lambda f: shapely.get_y(shapely.centroid(f.geometry.values)))}, {}),
        "resources": (resource_frame(), {}),
        "sensors": (sensor_frame(), {}),
        "route": (route_data(), {}),
    }
