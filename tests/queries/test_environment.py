import datetime as dt

import pytest
import shapely
from sqlalchemy import insert

from queries.environment import area_air_quality, station_air_quality
from queries.schema import AirQualityReading, Area, Sensor

T = dt.datetime(2026, 11, 21, 6, tzinfo=dt.timezone.utc)
BASE = {f: 0.0 for f in ("pm2_5", "pm10", "so2", "so2_24h", "no2", "no2_24h", "co", "co_24h", "o3", "o3_8h", "o3_8h_24h")}


def reading(station, ts, pm25_24h, pm10_24h, **extra):
    return {"station_id": station, "ts": ts, **BASE, "pm2_5_24h": pm25_24h, "pm10_24h": pm10_24h, **extra}


@pytest.fixture
def aq_db(engine):
    box = shapely.MultiPolygon([shapely.box(0, 0, 1, 1)])
    with engine.begin() as conn:
        conn.execute(insert(Area), [
            {"code": "320700", "level": "city", "name": "连云港市", "parent_code": None, "geom": box},
            {"code": "320706", "level": "district", "name": "海州区", "parent_code": "320700", "geom": box},
            {"code": "320703", "level": "district", "name": "连云区", "parent_code": "320700", "geom": box},
            {"code": "320706001", "level": "street", "name": "新浦街道", "parent_code": "320706", "geom": box},
        ])
        conn.execute(insert(Sensor), [
            {"id": "1001A", "kind": "air_quality", "name": "海州站", "status": "online", "district_code": "320706", "street_code": None},
            {"id": "1002A", "kind": "air_quality", "name": "墟沟站", "status": "online", "district_code": "320703", "street_code": None},
            {"id": "1003A", "kind": "air_quality", "name": "停用站", "status": "offline", "district_code": "320703", "street_code": None},
        ])
        conn.execute(insert(AirQualityReading), [
            reading("1001A", T - dt.timedelta(hours=1), 10, 10),
            reading("1001A", T, 100, 120),
            reading("1002A", T, 50, 40),
            reading("1003A", T - dt.timedelta(hours=10), 500, 500),  # silent for 10 h: not "latest" at T
        ])
    return engine


def test_station_latest_and_rating(aq_db):
    with aq_db.connect() as conn:
        stations = station_air_quality(conn, at=T).set_index("station_id")
    assert list(stations.index) == ["1001A", "1002A"]
    # 1001A: PM2.5 100 → 100 + 50/40*25 = 131.25 → 132; PM10 120 → 50 + 50/100*70 = 85
    assert stations.loc["1001A", "aqi"] == 132 and stations.loc["1001A", "primary_pollutant"] == "细颗粒物(PM2.5)"
    assert stations.loc["1001A", "category"] == "轻度污染" and stations.loc["1001A", "rgb"] == (255, 126, 0)


def test_city_aqi_from_mean_concentrations_not_mean_aqi(aq_db):
    with aq_db.connect() as conn:
        city = area_air_quality(conn, "320700", at=T)
    # mean PM2.5 75 → 100; mean PM10 80 → 65. Averaging station AQIs (132 and 69) would give 100.5 → 101.
    assert city["aqi"] == 100 and city["stations"] == 2 and city["ts"] == T
    assert city["category"] == "良" and city["scope_code"] == "320700"


def test_area_without_station_reports_its_ancestor(aq_db):
    with aq_db.connect() as conn:
        street = area_air_quality(conn, "320706001", at=T)
    assert street["scope_code"] == "320706" and street["aqi"] == 132 and street["stations"] == 1


def test_an_area_rated_from_the_whole_citys_cached_readings_is_rated_as_on_its_own(aq_db):
    """``air_quality_in`` over ``station_air_quality`` read back from the query cache (what a
    drill's KPIs use) gives each area exactly ``area_air_quality`` — scope fallback included."""
    from queries.cache import QueryCache
    from queries.drill import ancestry, get_area
    from queries.environment import air_quality_in

    cache = QueryCache(None)
    stations = cache.call(aq_db, station_air_quality, at=T)
    with aq_db.connect() as conn:
        for code in ("320700", "320706", "320703", "320706001"):
            assert air_quality_in(stations, ancestry(lambda c: get_area(conn, c), code)) == area_air_quality(conn, code, at=T)
        assert air_quality_in(stations, ancestry(lambda c: get_area(conn, c), "320706001"))["scope_code"] == "320706"
