"""GCJ-02 / BD-09 ↔ WGS84 against published reference pairs, round trips and geometries."""
from __future__ import annotations

import math

import numpy as np
import pytest
import shapely

from queries import coords

# Reference pairs published with the eviltransform project's test suite (googollee/eviltransform,
# tests: wgsLat, wgsLng, gcjLat, gcjLng) — Shanghai, Shenzhen, Beijing.
WGS_GCJ_PAIRS = (
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),
)
# Baidu pairs from the same suite (bdLat, bdLng, wgsLat, wgsLng).
BD_WGS_PAIRS = ((29.199786, 120.019809, 29.196131605295484, 120.00877901149691),)


def metres(lon1, lat1, lon2, lat2) -> float:
    dy = (lat2 - lat1) * 111_320.0
    dx = (lon2 - lon1) * 111_320.0 * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(dx, dy)


@pytest.mark.parametrize("wgs_lat,wgs_lon,gcj_lat,gcj_lon", WGS_GCJ_PAIRS)
def test_wgs_to_gcj_matches_published_pairs(wgs_lat, wgs_lon, gcj_lat, gcj_lon):
    lon, lat = coords.wgs84_to_gcj02(wgs_lon, wgs_lat)
    assert metres(lon, lat, gcj_lon, gcj_lat) < 1.0


@pytest.mark.parametrize("wgs_lat,wgs_lon,gcj_lat,gcj_lon", WGS_GCJ_PAIRS)
def test_gcj_to_wgs_recovers_truth_within_a_few_metres(wgs_lat, wgs_lon, gcj_lat, gcj_lon):
    lon, lat = coords.gcj02_to_wgs84(gcj_lon, gcj_lat)
    assert metres(lon, lat, wgs_lon, wgs_lat) < 0.1
    # and the offset being removed is the real 300–700 m one
    assert 100 < metres(gcj_lon, gcj_lat, wgs_lon, wgs_lat) < 1000


def test_gcj_round_trip_is_well_under_a_tenth_of_a_metre():
    rng = np.random.default_rng(7)
    lon = rng.uniform(74, 134, 2000)
    lat = rng.uniform(18, 53, 2000)
    back_lon, back_lat = coords.gcj02_to_wgs84(*coords.wgs84_to_gcj02(lon, lat))
    error = np.hypot((back_lon - lon) * 111_320 * np.cos(np.radians(lat)), (back_lat - lat) * 111_320)
    assert error.max() < 0.01


@pytest.mark.parametrize("bd_lat,bd_lon,wgs_lat,wgs_lon", BD_WGS_PAIRS)
def test_bd09_to_wgs_close_to_published_pair(bd_lat, bd_lon, wgs_lat, wgs_lon):
    lon, lat = coords.bd09_to_wgs84(bd_lon, bd_lat)
    # BD-09's published formula is itself an approximation; implementations agree to ~10 m.
    assert metres(lon, lat, wgs_lon, wgs_lat) < 15


def test_bd09_round_trip():
    lon, lat = np.array([119.22, 121.47]), np.array([34.6, 31.23])
    back = coords.bd09_to_wgs84(*coords.wgs84_to_bd09(lon, lat))
    assert np.allclose(back[0], lon, atol=1e-5) and np.allclose(back[1], lat, atol=1e-5)


def test_outside_china_is_unchanged():
    lon, lat = coords.wgs84_to_gcj02(np.array([2.35, -74.0]), np.array([48.85, 40.7]))
    assert np.allclose(lon, [2.35, -74.0]) and np.allclose(lat, [48.85, 40.7])
    assert coords.gcj02_to_wgs84(2.35, 48.85) == (2.35, 48.85)


def test_nan_passes_through():
    lon, lat = coords.gcj02_to_wgs84(np.array([np.nan, 121.5]), np.array([np.nan, 31.2]))
    assert np.isnan(lon[0]) and np.isfinite(lon[1])


def test_transform_geometry_moves_every_vertex_and_drops_z():
    polygon = shapely.Polygon([(121.5, 31.2, 5), (121.6, 31.2, 5), (121.6, 31.3, 5), (121.5, 31.3, 5)])
    moved = coords.transform_geometry(polygon, coords.gcj02_to_wgs84)
    assert not moved.has_z
    original = shapely.get_coordinates(polygon)
    shifted = shapely.get_coordinates(moved)
    expected = np.column_stack(coords.gcj02_to_wgs84(original[:, 0], original[:, 1]))
    assert np.allclose(shifted, expected)
