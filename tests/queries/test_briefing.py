"""The briefing's own queries (queries.briefing) on SQLite and PostGIS: what needs attention, open
incidents, the 12345 hotline's day, the usual congestion at this hour, the worst stations.

Expectations are computed here from the rows the test writes (plain Python over the same numbers),
never by calling the function under test a second time.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from queries.briefing import (
    attention_items,
    hotline_day,
    open_incidents,
    usual_congestion,
    worst_stations,
)
from queries.schema import (
    AirQualityReading,
    Area,
    Incident,
    Indicator,
    IndicatorValue,
    RoadSegment,
    RoadSpeed,
    Sensor,
    WorkOrder,
)
from queries.writes import ensure_dataset, record_change

UTC = dt.timezone.utc
T = dt.datetime(2026, 11, 21, 2, 30, tzinfo=UTC)  # 10:30 in Beijing
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
CITY, HAIZHOU, GANYU, LIANYUN = "320700", "320706", "320707", "320703"
STREET = "320706001"


def areas() -> list[dict]:
    return [
        {"code": CITY, "level": "city", "name": "连云港市", "name_en": "Lianyungang", "parent_code": None},
        {"code": HAIZHOU, "level": "district", "name": "海州区", "name_en": "Haizhou", "parent_code": CITY},
        {"code": GANYU, "level": "district", "name": "赣榆区", "name_en": "Ganyu", "parent_code": CITY},
        {"code": LIANYUN, "level": "district", "name": "连云区", "name_en": "Lianyun", "parent_code": CITY},
        {"code": STREET, "level": "street", "name": "新浦街道", "name_en": "Xinpu", "parent_code": HAIZHOU},
    ]


@pytest.fixture
def city(engine):
    with engine.begin() as conn:
        conn.execute(insert(Area), areas())
    return engine


def codes(district: str, street: str | None = None) -> dict:
    return {"district_code": district, "street_code": street, "community_code": None, "grid_code": None}


# --- open_incidents -------------------------------------------------------------------------------


def incident(id_, district, severity, status, hours_ago, title=None):
    return {"id": id_, "category": "accident", "severity": severity, "status": status, "title": title or f"事件 {id_}",
            "reported_at": T - hours_ago * HOUR, **codes(district, STREET if district == HAIZHOU else None)}


INCIDENTS = [
    incident("A1", HAIZHOU, 3, "reported", 1),
    incident("A2", HAIZHOU, 1, "dispatched", 30),
    incident("A3", GANYU, 2, "on_scene", 2),
    incident("A4", HAIZHOU, 2, "accepted", 5),
    incident("A5", HAIZHOU, 1, "resolved", 0.5),  # resolved: not open
    incident("A6", GANYU, 3, "closed", 0.2),  # closed: not open
    incident("A7", GANYU, 4, "reported", 0.1),  # severity IV
    incident("A8", HAIZHOU, 2, "reported", 3),
    incident("A9", LIANYUN, 3, "accepted", 0.3),
    incident("A10", GANYU, 1, "reported", 8),
]


@pytest.fixture
def incident_db(city):
    with city.begin() as conn:
        conn.execute(insert(Incident), INCIDENTS)
    return city


def expected_open(district: str | None, severities=(1, 2, 3)) -> list[dict]:
    rows = [i for i in INCIDENTS if i["status"] not in ("resolved", "closed") and i["severity"] in severities
            and (district is None or i["district_code"] == district)]
    return sorted(rows, key=lambda i: (i["severity"], -i["reported_at"].timestamp()))


def test_open_incidents_of_the_city_most_severe_then_newest_with_total(incident_db):
    with incident_db.connect() as conn:
        result = open_incidents(conn, CITY, (1, 2, 3), limit=4)
    expected = expected_open(None)
    assert [r["id"] for r in result["rows"]] == [i["id"] for i in expected[:4]] == ["A10", "A2", "A3", "A8"]
    assert result["total"] == len(expected) == 7
    first = result["rows"][0]
    assert (first["severity"], first["status"], first["title"], first["district_code"]) == (1, "reported", "事件 A10", GANYU)
    assert first["reported_at"] == T - 8 * HOUR


def test_open_incidents_of_a_district_and_severity_filter(incident_db):
    with incident_db.connect() as conn:
        haizhou = open_incidents(conn, HAIZHOU, (1, 2, 3), limit=10)
        street = open_incidents(conn, STREET, (1, 2, 3), limit=10)
        majors = open_incidents(conn, CITY, (1, 2), limit=10)
        minor = open_incidents(conn, CITY, (4,), limit=10)
    expected = expected_open(HAIZHOU)
    assert [r["id"] for r in haizhou["rows"]] == [i["id"] for i in expected] == ["A2", "A8", "A4", "A1"]
    assert {r["district_code"] for r in haizhou["rows"]} == {HAIZHOU}
    assert haizhou["total"] == 4 and haizhou["data_time"] == max(i["reported_at"] for i in expected) == T - HOUR
    assert [r["id"] for r in street["rows"]] == ["A2", "A8", "A4", "A1"]  # every Haizhou incident lies in that street
    assert [r["id"] for r in majors["rows"]] == [i["id"] for i in expected_open(None, (1, 2))]
    assert majors["total"] == 5
    assert [r["id"] for r in minor["rows"]] == ["A7"] and minor["total"] == 1


def test_open_incidents_none(incident_db):
    with incident_db.connect() as conn:
        result = open_incidents(conn, LIANYUN, (1, 2), limit=10)
    assert result == {"total": 0, "rows": [], "data_time": None}


# --- hotline_day ----------------------------------------------------------------------------------

START, END = T - 10 * HOUR, T  # "today" as the briefing passes it


def order(num, district, call_hours_ago, topic, deadline_hours_from_end=None, completed=False):
    return {"order_num": num, "call_time": T - call_hours_ago * HOUR, "question_name": topic, "state": "completed" if completed else "dispatched",
            "deadline": None if deadline_hours_from_end is None else END + deadline_hours_from_end * HOUR,
            "complete_time": T - 0.1 * HOUR if completed else None, **codes(district)}


ORDERS = [
    # In the window, Haizhou: 供水 ×3, 路灯 ×2, 环境 ×2, 供水 again below; a ties order check (count, then name).
    order("H1", HAIZHOU, 1, "供水", deadline_hours_from_end=-0.5),  # open, past its deadline at END: overdue
    order("H2", HAIZHOU, 2, "供水", deadline_hours_from_end=-3, completed=True),  # past deadline but completed
    order("H3", HAIZHOU, 3, "路灯", deadline_hours_from_end=4),  # deadline still ahead
    order("H4", HAIZHOU, 4, "环境"),  # no deadline: never overdue
    order("H5", HAIZHOU, 5, "路灯"),
    order("H6", HAIZHOU, 6, "环境", deadline_hours_from_end=0),  # deadline == END: not yet past
    order("H7", HAIZHOU, 7, None),  # no topic: counted in volume, not in topics
    order("H8", HAIZHOU, 9.9, "供水"),
    # Ganyu in the window.
    order("G1", GANYU, 1, "噪声", deadline_hours_from_end=-1),  # overdue
    order("G2", GANYU, 2, "噪声"),
    order("G3", GANYU, 3, "噪声"),
    order("G4", GANYU, 4, "物业"),
    # Before the window (called yesterday) but still open past its deadline: overdue, not in volume.
    order("Y1", HAIZHOU, 30, "供水", deadline_hours_from_end=-20),
    order("Y2", GANYU, 12, "物业", deadline_hours_from_end=-2, completed=True),
    # Exactly at END: outside [START, END).
    order("E1", HAIZHOU, 0, "供水"),
]


@pytest.fixture
def hotline_db(city):
    with city.begin() as conn:
        conn.execute(insert(WorkOrder), ORDERS)
    return city


def expected_hotline(district: str | None, top: int) -> dict:
    scoped = [o for o in ORDERS if district is None or o["district_code"] == district]
    window = [o for o in scoped if START <= o["call_time"] < END]
    counts: dict[str, int] = {}
    for o in window:
        if o["question_name"] is not None:
            counts[o["question_name"]] = counts.get(o["question_name"], 0) + 1
    topics = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]
    overdue = [o for o in scoped if o["deadline"] is not None and o["deadline"] < END and o["complete_time"] is None]
    return {"volume": len(window), "topics": [{"name": n, "count": c} for n, c in topics], "overdue": len(overdue),
            "data_time": max((o["call_time"] for o in window), default=None)}


def test_hotline_day_of_the_city(hotline_db):
    with hotline_db.connect() as conn:
        result = hotline_day(conn, CITY, START, END, top=3)
    expected = expected_hotline(None, 3)
    assert result == expected
    assert result["volume"] == 12 and result["overdue"] == 3  # H1, G1, Y1
    assert [t["name"] for t in result["topics"]] == ["供水", "噪声", "环境"]  # 3, 3, then the 2-way tie 环境 < 路灯


def test_hotline_day_of_a_district_ties_in_name_order(hotline_db):
    with hotline_db.connect() as conn:
        haizhou = hotline_day(conn, HAIZHOU, START, END, top=5)
        ganyu = hotline_day(conn, GANYU, START, END, top=1)
    assert haizhou == expected_hotline(HAIZHOU, 5)
    assert haizhou["topics"] == [{"name": "供水", "count": 3}, {"name": "环境", "count": 2}, {"name": "路灯", "count": 2}]
    assert haizhou["volume"] == 8 and haizhou["overdue"] == 2  # H1 and yesterday's Y1
    assert haizhou["data_time"] == T - HOUR
    assert ganyu == expected_hotline(GANYU, 1) and ganyu["topics"] == [{"name": "噪声", "count": 3}] and ganyu["overdue"] == 1


def test_hotline_day_empty_area(hotline_db):
    with hotline_db.connect() as conn:
        result = hotline_day(conn, LIANYUN, START, END, top=5)
    assert result == {"volume": 0, "topics": [], "overdue": 0, "data_time": None}


# --- usual_congestion -----------------------------------------------------------------------------

SEGMENTS = [  # length-weighted: the 3 km road counts three times the 1 km one
    {"id": "h-long", "name": "海宁大道", "road_class": "arterial", "length_m": 3000.0, **codes(HAIZHOU)},
    {"id": "h-short", "name": "解放路", "road_class": "secondary", "length_m": 1000.0, **codes(HAIZHOU)},
    {"id": "g-road", "name": "沈海高速", "road_class": "expressway", "length_m": 2000.0, **codes(GANYU)},
]
AT = T  # 02:30 UTC: the hour is 02:00–03:00 UTC, the "usual" mean is over 02:xx of the previous seven days


def speeds() -> list[dict]:
    """Per segment and day: the value at the briefing's hour (and noise that must not count)."""
    hour = AT.replace(minute=0)
    rows = []
    for day in range(9):  # day 0 = today's hour itself (excluded), 1..7 counted, 8 before the window
        base = hour - day * DAY
        for segment, offset in (("h-long", 0.0), ("h-short", 4.0), ("g-road", 1.5)):
            rows.append({"segment_id": segment, "ts": base, "speed_kmh": 30.0, "congestion_index": 2.0 + offset + day * 0.25})
            rows.append({"segment_id": segment, "ts": base + HOUR, "speed_kmh": 30.0, "congestion_index": 9.5})  # next hour
            rows.append({"segment_id": segment, "ts": base - HOUR, "speed_kmh": 30.0, "congestion_index": 0.5})  # previous hour
    # A second reading within the hour on day 2 (02:30): its own time, also of the same hour.
    rows.append({"segment_id": "h-long", "ts": hour - 2 * DAY + HOUR / 2, "speed_kmh": 10.0, "congestion_index": 8.0})
    return rows


@pytest.fixture
def traffic_db(city):
    with city.begin() as conn:
        conn.execute(insert(RoadSegment), SEGMENTS)
        conn.execute(insert(RoadSpeed), speeds())
    return city


def expected_usual(district: str | None, at: dt.datetime) -> float | None:
    """Mean over the timestamps of the same UTC hour in [hour − 7 days, hour) of each time's length-weighted index."""
    hour = at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    length = {s["id"]: s["length_m"] for s in SEGMENTS if district is None or s["district_code"] == district}
    by_time: dict[dt.datetime, list[tuple[float, float]]] = {}
    for row in speeds():
        if row["segment_id"] in length and hour - 7 * DAY <= row["ts"] < hour and row["ts"].hour == hour.hour:
            by_time.setdefault(row["ts"], []).append((row["congestion_index"], length[row["segment_id"]]))
    if not by_time:
        return None
    per_time = [sum(v * w for v, w in pairs) / sum(w for _, w in pairs) for pairs in by_time.values()]
    return round(sum(per_time) / len(per_time), 2)


def test_usual_congestion_is_the_mean_of_the_same_hour_over_seven_days(traffic_db):
    with traffic_db.connect() as conn:
        city = usual_congestion(conn, CITY, AT)
        haizhou = usual_congestion(conn, HAIZHOU, AT)
        ganyu = usual_congestion(conn, GANYU, AT)
    # Haizhou by hand: day d at 02:00 → (3·(2 + d/4) + 1·(6 + d/4)) / 4 = 3 + d/4; mean over d = 1..7 → 4.0;
    # plus day 2's 02:30 reading (h-long only, 8.0): (7·4.0 + 8.0) / 8 = 4.5.
    assert haizhou == expected_usual(HAIZHOU, AT) == 4.5
    # Ganyu: 3.5 + d/4 over d = 1..7 → 4.5.
    assert ganyu == expected_usual(GANYU, AT) == 4.5
    # The city: (3·(2 + d/4) + (6 + d/4) + 2·(3.5 + d/4)) / 6 = 19/6 + d/4 → 25/6 over the days; with 8.0 → 4.65.
    assert city == expected_usual(None, AT) == 4.65


def test_usual_congestion_ignores_minutes_and_the_time_zone_of_at(traffic_db):
    beijing = AT.astimezone(ZoneInfo("Asia/Shanghai"))  # the same instant, 10:30 local
    with traffic_db.connect() as conn:
        at_hour = usual_congestion(conn, HAIZHOU, AT.replace(minute=0))
        at_end = usual_congestion(conn, HAIZHOU, AT.replace(minute=59, second=59))
        local = usual_congestion(conn, HAIZHOU, beijing)
    assert at_hour == at_end == local == expected_usual(HAIZHOU, AT)


def test_usual_congestion_without_history(traffic_db):
    with traffic_db.connect() as conn:
        assert usual_congestion(conn, LIANYUN, AT) is None  # no roads
        assert usual_congestion(conn, HAIZHOU, AT - 30 * DAY) is None  # before any reading


# --- worst_stations -------------------------------------------------------------------------------

ZERO = {f: 0.0 for f in ("pm2_5", "pm10", "pm10_24h", "so2", "so2_24h", "no2", "no2_24h", "co", "co_24h", "o3", "o3_8h", "o3_8h_24h")}
# PM2.5 24-h breakpoints of HJ 633-2012 (everything else zero), so the AQI is exact by hand:
AQI_OF_PM25 = {35.0: 50, 75.0: 100, 115.0: 150, 150.0: 200, 250.0: 300}
STATIONS = [  # (id, district, PM2.5 24 h at T − 1 h)
    ("1001A", HAIZHOU, 115.0),
    ("1002A", HAIZHOU, 35.0),
    ("1003A", GANYU, 250.0),
    ("1004A", GANYU, 75.0),
    ("1005A", HAIZHOU, 75.0),  # ties with 1004A: station id order
    ("1006A", LIANYUN, 150.0),
]


@pytest.fixture
def station_db(city):
    with city.begin() as conn:
        conn.execute(insert(Sensor), [{"id": sid, "kind": "air_quality", "name": f"站 {sid}", "status": "online", **codes(d)} for sid, d, _ in STATIONS]
                     + [{"id": "1009A", "kind": "air_quality", "name": "沉默站", "status": "online", **codes(HAIZHOU)},
                        {"id": "W1", "kind": "water_level", "name": "水位站", "status": "online", **codes(HAIZHOU)}])
        conn.execute(insert(AirQualityReading), [{"station_id": sid, "ts": T - HOUR, **ZERO, "pm2_5_24h": pm} for sid, _, pm in STATIONS]
                     + [{"station_id": "1001A", "ts": T - 2 * HOUR, **ZERO, "pm2_5_24h": 500.0},  # superseded by the newer reading
                        {"station_id": "1009A", "ts": T - 10 * HOUR, **ZERO, "pm2_5_24h": 500.0}])  # silent for 10 h: left out
    return city


def expected_worst(district: str | None, count: int) -> list[tuple[str, int]]:
    rows = [(sid, AQI_OF_PM25[pm]) for sid, d, pm in STATIONS if district is None or d == district]
    return sorted(rows, key=lambda r: (-r[1], r[0]))[:count]


def test_worst_stations_of_the_city_highest_aqi_first_ties_by_id(station_db):
    with station_db.connect() as conn:
        frame = worst_stations(conn, CITY, T, 5)
    assert list(zip(frame["station_id"], frame["aqi"].astype(int))) == expected_worst(None, 5)
    assert list(frame["station_id"]) == ["1003A", "1006A", "1001A", "1004A", "1005A"]
    assert frame.loc[0, "name"] == "站 1003A" and frame.loc[0, "district_code"] == GANYU


def test_worst_stations_of_a_district_and_the_count(station_db):
    with station_db.connect() as conn:
        haizhou = worst_stations(conn, HAIZHOU, T, 5)
        top1 = worst_stations(conn, GANYU, T, 1)
    assert list(zip(haizhou["station_id"], haizhou["aqi"].astype(int))) == expected_worst(HAIZHOU, 5) == [("1001A", 150), ("1005A", 100), ("1002A", 50)]
    assert list(top1["station_id"]) == ["1003A"]


def test_worst_stations_fall_back_to_the_citys_stations(station_db):
    with station_db.connect() as conn:
        street = worst_stations(conn, STREET, T, 3)  # the street has no station of its own
    assert list(zip(street["station_id"], street["aqi"].astype(int))) == expected_worst(None, 3)


def test_worst_stations_nothing_recent(station_db):
    with station_db.connect() as conn:
        assert worst_stations(conn, CITY, T + 10 * HOUR, 5).empty


# --- attention_items ------------------------------------------------------------------------------

INDICATORS = [  # code, good direction, warn, alarm
    ("aqi", "down", 100.0, 150.0),
    ("congestion", "down", 6.0, 8.0),
    ("online_rate", "up", 85.0, 80.0),
    ("pm25", "down", 75.0, 115.0),
    ("volume", "neutral", None, None),
]
VALUES = {  # (indicator, area): value at T − 1 h (older values do not count)
    ("aqi", CITY): 160.0,  # alarm
    ("congestion", CITY): 6.5,  # warn
    ("online_rate", CITY): 79.0,  # alarm (higher is better)
    ("pm25", CITY): 40.0,  # ok
    ("volume", CITY): 9999.0,  # no thresholds
    ("aqi", HAIZHOU): 120.0,  # warn
    ("congestion", HAIZHOU): 9.0,  # alarm
    ("online_rate", HAIZHOU): 90.0,  # ok
    ("pm25", HAIZHOU): 75.0,  # warn: at the threshold counts
}
DATASETS = [  # code, cycle, age of the last update (None = never): freshness by the catalogue rule
    ("d.fresh", "hourly", 1 * HOUR),  # ≤ 1.5 cycles: fresh
    ("d.late-b", "hourly", 2 * HOUR),  # ≤ 3 cycles: late
    ("d.late-a", "daily", 2 * DAY),  # late
    ("d.stale-b", "hourly", 5 * HOUR),  # stale
    ("d.stale-a", "realtime", 20 * dt.timedelta(minutes=1)),  # stale (5-min cycle)
    ("d.never", "daily", None),  # unknown: not an attention item
]
RANK = {"alarm": 1, "warn": 2, "stale": 3, "late": 4}


def status_of(direction, warn, alarm, value) -> str:
    worse = (lambda v, limit: v <= limit) if direction == "up" else (lambda v, limit: v >= limit)
    if alarm is not None and worse(value, alarm):
        return "alarm"
    if warn is not None and worse(value, warn):
        return "warn"
    return "ok"


def freshness(cycle_s: float, age: dt.timedelta) -> str:
    return "fresh" if age.total_seconds() <= 1.5 * cycle_s else "late" if age.total_seconds() <= 3 * cycle_s else "stale"


CYCLE_S = {"hourly": 3600, "daily": 86400, "realtime": 300}


@pytest.fixture
def attention_db(incident_db):
    with incident_db.begin() as conn:
        for code, cycle, age in DATASETS:
            ensure_dataset(conn, code, name=f"数据 {code}", name_en=f"Data {code}", provider="市大数据局", provider_en="Big Data Bureau", update_cycle=cycle)
            if age is not None:
                record_change(conn, code, "ingest", 1, row_count=1, at=T - age)
        conn.execute(insert(Indicator), [{"code": code, "name_zh": f"指标 {code}", "name_en": f"Indicator {code}", "unit": None, "domain": "test",
                                          "good_direction": direction, "warn_threshold": warn, "alarm_threshold": alarm}
                                         for code, direction, warn, alarm in INDICATORS])
        rows = [{"indicator_code": code, "area_code": area, "ts": T - HOUR, "value": value} for (code, area), value in VALUES.items()]
        rows += [{"indicator_code": "pm25", "area_code": CITY, "ts": T - 5 * HOUR, "value": 999.0}]  # an older alarm value: superseded
        conn.execute(insert(IndicatorValue), rows)
    return incident_db


def expected_attention(district: str | None, area_code: str) -> list[tuple]:
    """(kind, key) in the order the briefing must show them."""
    majors = sorted((i for i in INCIDENTS if i["severity"] <= 2 and i["status"] not in ("resolved", "closed")
                     and (district is None or i["district_code"] == district)), key=lambda i: (i["severity"], -i["reported_at"].timestamp()))
    items = [("incident", i["id"]) for i in majors]
    indicators = []
    for code, direction, warn, alarm in INDICATORS:
        value = VALUES.get((code, area_code))
        status = "ok" if value is None else status_of(direction, warn, alarm, value)
        if status in ("alarm", "warn"):
            indicators.append((RANK[status], code, status))
    items += [("indicator", code, status) for _, code, status in sorted(indicators)]
    datasets = []
    for code, cycle, age in DATASETS:
        state = None if age is None else freshness(CYCLE_S[cycle], age)
        if state in ("stale", "late"):
            datasets.append((RANK[state], code, state))
    items += [("dataset", code, state) for _, code, state in sorted(datasets)]
    return items


def keys(items: list[dict]) -> list[tuple]:
    return [("incident", i["id"]) if i["kind"] == "incident" else
            (i["kind"], i["code"], i["status"] if i["kind"] == "indicator" else i["freshness"]) for i in items]


def test_attention_order_incidents_alarm_warn_stale_late(attention_db):
    with attention_db.connect() as conn:
        items = attention_items(conn, CITY, T, limit=30)
    assert keys(items) == expected_attention(None, CITY) == [
        ("incident", "A10"), ("incident", "A2"), ("incident", "A3"), ("incident", "A8"), ("incident", "A4"),
        ("indicator", "aqi", "alarm"), ("indicator", "online_rate", "alarm"), ("indicator", "congestion", "warn"),
        ("dataset", "d.stale-a", "stale"), ("dataset", "d.stale-b", "stale"),
        ("dataset", "d.late-a", "late"), ("dataset", "d.late-b", "late"),
    ]
    ranks = [i["rank"] for i in items]
    assert ranks == sorted(ranks)
    aqi = next(i for i in items if i.get("code") == "aqi")
    assert (aqi["value"], aqi["threshold"], aqi["name_zh"], aqi["name_en"]) == (160.0, 150.0, "指标 aqi", "Indicator aqi")
    assert aqi["data_time"] == T - HOUR
    congestion = next(i for i in items if i.get("code") == "congestion")
    assert congestion["threshold"] == 6.0  # the warn threshold for a warning
    stale = next(i for i in items if i.get("code") == "d.stale-b")
    assert (stale["update_cycle"], stale["provider_en"], stale["data_time"]) == ("hourly", "Big Data Bureau", T - 5 * HOUR)
    first = items[0]
    assert (first["severity"], first["title"], first["data_time"]) == (1, "事件 A10", T - 8 * HOUR)


def test_attention_of_a_district(attention_db):
    with attention_db.connect() as conn:
        items = attention_items(conn, HAIZHOU, T, limit=30)
    assert keys(items) == expected_attention(HAIZHOU, HAIZHOU)
    assert [k for k in keys(items) if k[0] == "incident"] == [("incident", "A2"), ("incident", "A8"), ("incident", "A4")]
    assert [k for k in keys(items) if k[0] == "indicator"] == [("indicator", "congestion", "alarm"), ("indicator", "aqi", "warn"), ("indicator", "pm25", "warn")]
    assert all(i["district_code"] == HAIZHOU for i in items if i["kind"] == "incident")


def test_attention_limit_keeps_the_most_urgent(attention_db):
    with attention_db.connect() as conn:
        three = attention_items(conn, CITY, T, limit=3)
        seven = attention_items(conn, CITY, T, limit=7)
    everything = expected_attention(None, CITY)
    assert keys(three) == everything[:3]
    assert keys(seven) == everything[:7]


def test_attention_nothing_to_report(city):
    with city.begin() as conn:
        ensure_dataset(conn, "d.fresh", name="数据", provider="市大数据局", update_cycle="daily")
        record_change(conn, "d.fresh", "ingest", 1, row_count=1, at=T - HOUR)
    with city.connect() as conn:
        assert attention_items(conn, CITY, T) == []
