import datetime as dt

import pytest
import shapely
from sqlalchemy import insert

from queries.schema import Area, RoadSegment, RoadSpeed
from queries.traffic import area_congestion, congestion_band, congestion_series, segment_congestion

T = dt.datetime(2026, 11, 21, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("index, band", [(0, "free"), (1.99, "free"), (2, "basically_free"), (5.5, "light"), (6, "moderate"), (8, "severe"), (10, "severe")])
def test_bands(index, band):
    assert congestion_band(index).code == band


@pytest.fixture
def road_db(engine):
    with engine.begin() as conn:
        conn.execute(insert(Area), [
            {"code": "320700", "level": "city", "name": "市", "parent_code": None, "geom": shapely.MultiPolygon([shapely.box(0, 0, 2, 1)])},
            {"code": "320706", "level": "district", "name": "海州区", "parent_code": "320700", "geom": shapely.MultiPolygon([shapely.box(0, 0, 1, 1)])},
            {"code": "320706001", "level": "street", "name": "街道", "parent_code": "320706", "geom": shapely.MultiPolygon([shapely.box(0, 0, 0.5, 1)])},
        ])
        conn.execute(insert(RoadSegment), [
            {"id": "s1", "name": "海连路", "road_class": "arterial", "length_m": 3000, "district_code": "320706", "street_code": "320706001", "geom": shapely.LineString([(0.1, 0.5), (0.3, 0.5)])},
            {"id": "s2", "name": "解放路", "road_class": "secondary", "length_m": 1000, "district_code": "320706", "street_code": None, "geom": shapely.LineString([(0.6, 0.5), (0.9, 0.5)])},
            {"id": "s3", "name": "沈海高速", "road_class": "expressway", "length_m": 6000, "district_code": "320703", "street_code": None, "geom": shapely.LineString([(1.2, 0.5), (1.8, 0.5)])},
        ])
        conn.execute(insert(RoadSpeed), [
            {"segment_id": "s1", "ts": T, "speed_kmh": 20, "congestion_index": 7.0},
            {"segment_id": "s1", "ts": T + dt.timedelta(hours=1), "speed_kmh": 40, "congestion_index": 3.0},
            {"segment_id": "s2", "ts": T + dt.timedelta(hours=1), "speed_kmh": 15, "congestion_index": 9.0},
            {"segment_id": "s3", "ts": T - dt.timedelta(hours=5), "speed_kmh": 100, "congestion_index": 1.0},
        ])
    return engine


def test_segment_latest_within_lookback(road_db):
    with road_db.connect() as conn:
        frame = segment_congestion(conn, at=T + dt.timedelta(hours=1)).set_index("segment_id")
    assert sorted(frame.index) == ["s1", "s2"]  # s3 is 6 h old
    assert frame.loc["s1", "congestion_index"] == 3.0 and frame.loc["s2", "band_zh"] == "严重拥堵"


def test_area_index_is_length_weighted(road_db):
    with road_db.connect() as conn:
        district = area_congestion(conn, "320706", at=T + dt.timedelta(hours=1))
        street = area_congestion(conn, "320706001", at=T + dt.timedelta(hours=1))
    assert district["congestion_index"] == 4.5  # (3*3000 + 9*1000) / 4000
    assert district["band"] == "light" and district["worst"][0]["segment_id"] == "s2"
    assert street["congestion_index"] == 3.0 and street["segments"] == 1  # only s1's midpoint is in the street


def test_series(road_db):
    with road_db.connect() as conn:
        series = congestion_series(conn, "320706", T, T + dt.timedelta(hours=2))
        street = congestion_series(conn, "320706001", T, T + dt.timedelta(hours=2))
    assert series["congestion_index"].tolist() == [7.0, 4.5]
    assert street["congestion_index"].tolist() == [7.0, 3.0]


def test_an_areas_congestion_from_the_whole_citys_cached_speeds_is_its_own(road_db):
    """``congestion_in`` over ``segment_congestion`` read back from the query cache (what a
    drill's KPIs use) equals ``area_congestion`` for the city, a district and a street."""
    from queries.cache import QueryCache
    from queries.drill import get_area
    from queries.traffic import congestion_in

    at = T + dt.timedelta(hours=1)
    segments = QueryCache(None).call(road_db, segment_congestion, at=at)
    with road_db.connect() as conn:
        for code in ("320700", "320706", "320706001"):
            assert congestion_in(segments, get_area(conn, code)) == area_congestion(conn, code, at=at)
