import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import insert

from queries.indicators import indicator_latest, indicator_series, threshold_status
from queries.schema import Indicator, IndicatorValue
from queries.writes import ensure_dataset

T = dt.datetime(2026, 11, 21, 10, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(
    "value, direction, expected",
    [(40, "down", "ok"), (100, "down", "warn"), (150, "down", "alarm"), (85, "up", "ok"), (80, "up", "warn"), (60, "up", "alarm"), (None, "down", "unknown")],
)
def test_threshold_status(value, direction, expected):
    warn, alarm = (100, 150) if direction == "down" else (80, 70)
    assert threshold_status(value, direction, warn, alarm) == expected


@pytest.fixture
def indicator_db(engine):
    with engine.begin() as conn:
        ensure_dataset(conn, "aq", name="空气质量", provider="市生态环境局", update_cycle="hourly")
        conn.execute(insert(Indicator), [
            {"code": "aqi", "name_zh": "空气质量指数", "name_en": "AQI", "unit": "", "domain": "environment", "good_direction": "down", "warn_threshold": 100, "alarm_threshold": 200, "dataset_code": "aq", "aggregation": "mean"},
            {"code": "online_rate", "name_zh": "网办率", "name_en": "Online-handling rate", "unit": "%", "domain": "government_service", "good_direction": "up", "warn_threshold": 80, "alarm_threshold": 70, "dataset_code": None, "aggregation": "mean"},
        ])
        values = [("aqi", T, 120.0), ("aqi", T - dt.timedelta(hours=1), 110.0), ("aqi", T - dt.timedelta(days=1, hours=2), 60.0),
                  ("aqi", T - dt.timedelta(days=7), 80.0), ("aqi", T - dt.timedelta(days=9), 10.0), ("aqi", T, 999.0)]
        conn.execute(insert(IndicatorValue), [{"indicator_code": c, "area_code": "320700", "ts": t, "value": v} for c, t, v in values[:-1]])
        conn.execute(insert(IndicatorValue), [{"indicator_code": "aqi", "area_code": "320706", "ts": T, "value": 999.0}])
    return engine


def test_latest_with_comparisons(indicator_db):
    with indicator_db.connect() as conn:
        frame = indicator_latest(conn, "320700").set_index("code")
    aqi = frame.loc["aqi"]
    assert aqi["value"] == 120 and aqi["ts"] == T and aqi["status"] == "warn"
    # yesterday = newest value at or before T − 24 h, i.e. the one of T − 26 h
    assert aqi["yesterday_value"] == 60 and aqi["yesterday_change"] == 60 and aqi["yesterday_change_pct"] == 100
    assert aqi["last_week_value"] == 80 and aqi["last_week_change"] == 40
    assert frame.loc["online_rate", "status"] == "unknown" and pd.isna(frame.loc["online_rate", "value"])


def test_latest_as_of_a_past_moment(indicator_db):
    with indicator_db.connect() as conn:
        frame = indicator_latest(conn, "320700", codes=["aqi"], as_of=T - dt.timedelta(minutes=1)).set_index("code")
    assert frame.loc["aqi", "value"] == 110


def test_series_is_ordered_and_windowed(indicator_db):
    with indicator_db.connect() as conn:
        series = indicator_series(conn, "aqi", "320700", start=T - dt.timedelta(days=2), end=T)
    assert series["value"].tolist() == [60, 110]
