"""Air quality per station and per area (HJ 633 via ``queries.airquality``).

An area's AQI is computed the way the national platform computes a city's: from the mean
concentrations of the stations inside it, then rated — never by averaging station AQIs. An area
without a station (a street, a community) reports its nearest ancestor that has one, and says so
in ``scope_code``. Hourly real-time rating: SO2/NO2/CO/O3 by 1-h values, O3 also by the 8-h moving
average, PM2.5/PM10 by 24-h moving averages.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sqlalchemy import Connection, and_, func, select

from queries.airquality import AqiStandard, aqi, level_of, load_standard, primary_label
from queries.cache import cached
from queries.db import read_frame
from queries.drill import ancestry, get_area
from queries.schema import AirQualityReading, Sensor

# Table of the standard ← field of the national real-time feed (aq_readings columns).
REALTIME_INPUTS = {
    "pm25_24h": "pm2_5_24h", "pm10_24h": "pm10_24h", "so2_1h": "so2", "so2_24h": "so2_24h",
    "no2_1h": "no2", "co_1h": "co", "o3_1h": "o3", "o3_8h": "o3_8h",
}
CONCENTRATION_FIELDS = ("pm2_5", "pm2_5_24h", "pm10", "pm10_24h", "so2", "so2_24h", "no2", "no2_24h", "co", "co_24h", "o3", "o3_8h", "o3_8h_24h")
LOOKBACK = dt.timedelta(hours=3)  # a station silent for longer is left out of "latest"


def _rate(frame: pd.DataFrame, standard: AqiStandard) -> pd.DataFrame:
    values, primaries = aqi(standard, {table: frame[field].to_numpy(dtype="float64") for table, field in REALTIME_INPUTS.items()})
    levels = [level_of(standard, v) for v in values]
    return frame.assign(
        aqi=values,
        primary_pollutant=[primary_label(p) for p in primaries],
        primary_pollutant_en=[primary_label(p, "en") for p in primaries],
        category=[lv.category if lv else None for lv in levels],
        level=[lv.level if lv else None for lv in levels],
        rgb=[lv.rgb if lv else None for lv in levels],
    )


def _latest_readings(conn: Connection, at: dt.datetime | None) -> pd.DataFrame:
    """Each station's newest reading at or before ``at`` (within LOOKBACK), unrated."""
    window = [AirQualityReading.ts <= at, AirQualityReading.ts > at - LOOKBACK] if at is not None else []
    newest = select(AirQualityReading.station_id, func.max(AirQualityReading.ts).label("ts")).where(*window).group_by(AirQualityReading.station_id).subquery()
    fields = [getattr(AirQualityReading, f) for f in CONCENTRATION_FIELDS]
    stmt = (
        select(Sensor.id.label("station_id"), Sensor.name, Sensor.lon, Sensor.lat, Sensor.status, Sensor.district_code, Sensor.street_code,
               Sensor.community_code, Sensor.grid_code, AirQualityReading.ts, *fields)
        .join(newest, newest.c.station_id == Sensor.id)
        .join(AirQualityReading, and_(AirQualityReading.station_id == newest.c.station_id, AirQualityReading.ts == newest.c.ts))
        .where(Sensor.kind == "air_quality")
        .order_by(Sensor.id)
    )
    columns = ["station_id", "name", "lon", "lat", "status", "district_code", "street_code", "community_code", "grid_code", "ts", *CONCENTRATION_FIELDS]
    return read_frame(conn, stmt, columns)


@cached(tables=("aq_readings", "sensors"))
def station_air_quality(conn: Connection, at: dt.datetime | None = None) -> pd.DataFrame:
    """Latest reading of every station at or before ``at`` (within LOOKBACK), rated."""
    return _rate(_latest_readings(conn, at), load_standard())


def _inside(stations: pd.DataFrame, area: dict) -> pd.DataFrame:
    """The rows of ``stations`` (latest readings, with their area codes) inside ``area``."""
    if area["level"] == "city":
        return stations[stations["district_code"].notna()]
    return stations[stations[f"{area['level']}_code"] == area["code"]]


@cached(tables=("aq_readings", "sensors", "areas"))
def area_air_quality(conn: Connection, area_code: str, at: dt.datetime | None = None) -> dict:
    """AQI of an area from its stations' mean concentrations, with data time and scope."""
    return air_quality_in(_latest_readings(conn, at), ancestry(lambda code: get_area(conn, code), area_code))


def air_quality_in(stations: pd.DataFrame, path: list[dict]) -> dict:
    """``area_air_quality`` of ``path[0]`` (``ancestry``: the area, then its ancestors) from
    ``stations``, the latest readings of every station (``_latest_readings``, rated or not):
    a caller holding those for the whole city (``station_air_quality``, one cache entry per
    readings' version shared by every area) rates any area without another query."""
    standard = load_standard()
    area_code = path[0]["code"]
    scope = path[0]
    inside = _inside(stations, scope)
    for ancestor in path[1:]:
        if not inside.empty:
            break
        scope, inside = ancestor, _inside(stations, ancestor)
    result = {"area_code": area_code, "scope_code": scope["code"], "stations": int(len(inside)), "ts": None, "aqi": None}
    if inside.empty:
        return result
    means = inside[list(CONCENTRATION_FIELDS)].astype("float64").mean().to_frame().T
    rated = _rate(means, standard).iloc[0]
    result.update(
        ts=inside["ts"].max(),
        aqi=None if np.isnan(rated["aqi"]) else int(rated["aqi"]),
        primary_pollutant=rated["primary_pollutant"],
        primary_pollutant_en=rated["primary_pollutant_en"],
        category=rated["category"],
        level=rated["level"],
        rgb=rated["rgb"],
        concentrations={f: (None if np.isnan(v) else round(float(v), 3)) for f, v in means.iloc[0].items()},
    )
    return result
