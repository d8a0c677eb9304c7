"""The wall's own queries (queries.wall) on SQLite and PostGIS: rankings of child areas, the
congestion of every child area, and which catalogue datasets a panel reads.

Expectations are computed here from the rows the test writes (plain Python over the same
numbers), never by calling the function under test a second time.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert

from queries.schema import (
    Area,
    Incident,
    Indicator,
    IndicatorValue,
    RoadSegment,
    RoadSpeed,
    WorkOrder,
)
from queries.wall import (
    child_congestion,
    count_ranking,
    datasets_reading,
    indicator_ranking,
)
from queries.writes import ensure_dataset, record_change

T = dt.datetime(2026, 11, 21, 8, 0, tzinfo=dt.timezone.utc)
HOUR = dt.timedelta(hours=1)
CITY = "320700"
DISTRICTS = {"320703": ("连云区", "Lianyun"), "320706": ("海州区", "Haizhou"), "320707": ("赣榆区", "Ganyu"),
             "320722": ("东海县", "Donghai"), "320723": ("灌云县", "Guanyun")}
STREETS = {"320706001": "新浦街道", "320706002": "浦西街道", "320706003": "新东街道"}


def areas() -> list[dict]:
    rows = [{"code": CITY, "level": "city", "name": "连云港市", "name_en": "Lianyungang", "parent_code": None}]
    rows += [{"code": code, "level": "district", "name": zh, "name_en": en, "parent_code": CITY} for code, (zh, en) in DISTRICTS.items()]
    rows += [{"code": code, "level": "street", "name": name, "name_en": None, "parent_code": "320706"} for code, name in STREETS.items()]
    rows += [{"code": "320706001001", "level": "community", "name": "海连社区", "name_en": None, "parent_code": "320706001"}]
    return rows


@pytest.fixture
def city(engine):
    with engine.begin() as conn:
        conn.execute(insert(Area), areas())
    return engine


# --- indicator_ranking ----------------------------------------------------------------------------

# Latest value per district at its own newest time; older values must not count.
AQI = {  # district: [(ts, value)…]
    "320703": [(T - 3 * HOUR, 300.0), (T - HOUR, 61.0)],
    "320706": [(T, 88.0), (T - HOUR, 20.0)],
    "320707": [(T - 2 * HOUR, 140.0)],
    "320722": [(T, 61.0)],
    # 320723 has no value at all: left out, not ranked as zero
}
RATE = {"320703": 91.5, "320706": 97.0, "320707": 88.0, "320722": 99.5, "320723": 93.0}


@pytest.fixture
def indicator_db(city):
    with city.begin() as conn:
        ensure_dataset(conn, "aq", name="空气质量", provider="市生态环境局", update_cycle="hourly")
        conn.execute(insert(Indicator), [
            {"code": "aqi", "name_zh": "空气质量指数", "name_en": "AQI", "unit": None, "domain": "environment", "good_direction": "down",
             "dataset_code": "aq", "aggregation": "mean"},
            {"code": "online_rate", "name_zh": "网办率", "name_en": "Online rate", "unit": "%", "domain": "government_service",
             "good_direction": "up", "dataset_code": None, "aggregation": "mean"},
        ])
        rows = [{"indicator_code": "aqi", "area_code": code, "ts": ts, "value": value} for code, series in AQI.items() for ts, value in series]
        rows += [{"indicator_code": "online_rate", "area_code": code, "ts": T - 5 * HOUR, "value": value} for code, value in RATE.items()]
        # Not children of the city: the city itself and a street; neither may appear.
        rows += [{"indicator_code": "aqi", "area_code": CITY, "ts": T + HOUR, "value": 999.0},
                 {"indicator_code": "aqi", "area_code": "320706001", "ts": T + HOUR, "value": 998.0}]
        conn.execute(insert(IndicatorValue), rows)
    return city


def latest(series):
    return max(series)  # (ts, value) tuples: the newest time wins


def test_indicator_ranking_worst_first_when_lower_is_better(indicator_db):
    with indicator_db.connect() as conn:
        result = indicator_ranking(conn, CITY, "aqi", top=8)
    newest = {code: latest(series) for code, series in AQI.items()}
    # Highest AQI first; equal values (61.0 twice) in code order.
    expected = sorted(newest, key=lambda code: (-newest[code][1], code))
    assert [row["code"] for row in result["rows"]] == expected == ["320707", "320706", "320703", "320722"]
    assert [row["value"] for row in result["rows"]] == [newest[code][1] for code in expected]
    assert result["rows"][1] == {"code": "320706", "name": "海州区", "name_en": "Haizhou", "value": 88.0}
    assert result["ts"] == max(ts for ts, _ in newest.values()) == T
    assert result["unit"] is None


def test_indicator_ranking_worst_first_when_higher_is_better_and_top_n(indicator_db):
    with indicator_db.connect() as conn:
        result = indicator_ranking(conn, CITY, "online_rate", top=3)
    expected = sorted(RATE, key=lambda code: RATE[code])[:3]  # lowest rate first
    assert [row["code"] for row in result["rows"]] == expected == ["320707", "320703", "320723"]
    assert [row["value"] for row in result["rows"]] == [88.0, 91.5, 93.0]
    assert result["ts"] == T - 5 * HOUR and result["unit"] == "%"


def test_indicator_ranking_of_a_district_ranks_its_streets(indicator_db):
    with indicator_db.connect() as conn:
        result = indicator_ranking(conn, "320706", "aqi")
    assert [(row["code"], row["value"]) for row in result["rows"]] == [("320706001", 998.0)]
    assert result["ts"] == T + HOUR


def test_indicator_ranking_breaks_ties_by_code_among_many_children(indicator_db):
    # More than 16 rows: a plain one-column sort is no longer stable there.
    streets = [f"320722{n:03d}" for n in range(1, 41)]
    values = {code: float(n % 3) for n, code in enumerate(streets)}
    with indicator_db.begin() as conn:
        conn.execute(insert(Area), [{"code": code, "level": "street", "name": code, "parent_code": "320722"} for code in streets])
        conn.execute(insert(IndicatorValue), [{"indicator_code": "aqi", "area_code": code, "ts": T, "value": v} for code, v in values.items()])
    with indicator_db.connect() as conn:
        result = indicator_ranking(conn, "320722", "aqi", top=20)
    expected = sorted(streets, key=lambda code: (-values[code], code))[:20]
    assert [row["code"] for row in result["rows"]] == expected


def test_indicator_ranking_empty_cases(indicator_db):
    with indicator_db.connect() as conn:
        unknown = indicator_ranking(conn, CITY, "no_such_indicator")
        leaf = indicator_ranking(conn, "320706001001", "aqi")  # a community without children here
    assert unknown == {"rows": [], "ts": None, "unit": None}
    assert leaf["rows"] == [] and leaf["ts"] is None


# --- count_ranking -------------------------------------------------------------------------------

START, END = T - 24 * HOUR, T


def incident(id_, district, street, reported_at):
    return {"id": id_, "category": "accident", "subtype": "fire", "severity": 4, "status": "reported", "title": id_,
            "reported_at": reported_at, "district_code": district, "street_code": street}


INCIDENTS = [
    # (district, street, minutes after START)
    ("320706", "320706001", 0),  # at START: inside [START, END)
    ("320706", "320706001", 60), ("320706", "320706002", 61), ("320706", "320706002", 62), ("320706", None, 63),
    ("320722", None, 100), ("320722", None, 101),
    ("320707", None, 102), ("320707", None, 103),
    ("320703", None, 24 * 60),  # at END: outside
    ("320723", None, -1),  # before START: outside
]


@pytest.fixture
def count_db(city):
    with city.begin() as conn:
        conn.execute(insert(Incident), [incident(f"I{n}", d, s, START + dt.timedelta(minutes=m)) for n, (d, s, m) in enumerate(INCIDENTS)])
        conn.execute(insert(WorkOrder), [
            {"order_num": f"W{n}", "call_time": START + dt.timedelta(hours=n), "state": "accepted", "district_code": district}
            for n, district in enumerate(["320723", "320723", "320706", "320723", "320703"])
        ])
    return city


def expected_counts(children: list[str], level: str) -> list[tuple[str, int]]:
    column = {"district": 0, "street": 1}[level]
    counts = {code: 0 for code in children}
    for row in INCIDENTS:
        at = START + dt.timedelta(minutes=row[2])
        if START <= at < END and row[column] in counts:
            counts[row[column]] += 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def test_count_ranking_of_incidents_by_district_most_first(count_db):
    with count_db.connect() as conn:
        result = count_ranking(conn, CITY, "incidents", START, END, top=8)
    expected = expected_counts(list(DISTRICTS), "district")
    assert [(row["code"], row["value"]) for row in result["rows"]] == expected
    assert expected == [("320706", 5), ("320707", 2), ("320722", 2), ("320703", 0), ("320723", 0)]  # ties in code order
    assert result["rows"][0]["name"] == "海州区" and result["rows"][0]["name_en"] == "Haizhou"
    assert result["ts"] == END and result["unit"] is None


def test_count_ranking_top_n_of_a_district_and_work_orders(count_db):
    with count_db.connect() as conn:
        streets = count_ranking(conn, "320706", "incidents", START, END, top=2)
        orders = count_ranking(conn, CITY, "work_orders", START, END, top=3)
    assert [(row["code"], row["value"]) for row in streets["rows"]] == expected_counts(list(STREETS), "street")[:2] == [("320706001", 2), ("320706002", 2)]
    assert [(row["code"], row["value"]) for row in orders["rows"]] == [("320723", 3), ("320703", 1), ("320706", 1)]


def test_count_ranking_refuses_an_unknown_source(count_db):
    with count_db.connect() as conn, pytest.raises(ValueError, match="unknown ranking source 'sensors'"):
        count_ranking(conn, CITY, "sensors", START, END)


# --- child_congestion ----------------------------------------------------------------------------

# segment: (district, street, length_m, [(ts, congestion index)…]); the newest reading within the
# lookback (2 h before the newest delivery) counts.
SEGMENTS = {
    "s1": ("320706", "320706001", 3000.0, [(T - HOUR, 9.0), (T, 3.0)]),
    "s2": ("320706", "320706002", 1000.0, [(T, 9.0)]),
    "s3": ("320706", "320706002", None, [(T, 5.0)]),  # no length: weight 1
    "s4": ("320707", None, 2000.0, [(T, 1.0)]),
    "s5": ("320722", None, 500.0, [(T, 7.5)]),
    "s6": ("320722", None, 1500.0, [(T, 6.5)]),
    "s7": ("320723", None, 800.0, [(T - 3 * HOUR, 9.9)]),  # silent for 3 h: left out
    "s8": ("320703", None, 0.2, [(T, 2.0)]),  # weights are at least 1 m
}
BANDS = [(2, "free"), (4, "basically_free"), (6, "light"), (8, "moderate"), (float("inf"), "severe")]  # GB/T 33171 bands


def band_of(index):
    return next(name for upper, name in BANDS if index < upper)


def weighted(segment_ids):
    pairs = [(SEGMENTS[s][3][-1][1], max(1.0, SEGMENTS[s][2] or 1.0)) for s in segment_ids]
    return sum(index * weight for index, weight in pairs) / sum(weight for _, weight in pairs)


@pytest.fixture
def road_db(city):
    with city.begin() as conn:
        conn.execute(insert(RoadSegment), [
            {"id": sid, "name": sid, "road_class": "arterial", "length_m": length, "district_code": district, "street_code": street}
            for sid, (district, street, length, _) in SEGMENTS.items()
        ])
        conn.execute(insert(RoadSpeed), [
            {"segment_id": sid, "ts": ts, "speed_kmh": 30.0, "congestion_index": index}
            for sid, (_, _, _, readings) in SEGMENTS.items() for ts, index in readings
        ])
    return city


def test_child_congestion_of_the_city_is_length_weighted_per_district(road_db):
    with road_db.connect() as conn:
        result = child_congestion(conn, CITY, at=T)
    live = [s for s in SEGMENTS if s != "s7"]
    assert result["congestion_index"] == round(weighted(live), 2) and result["band"] == band_of(weighted(live))
    assert result["ts"] == T and result["area_code"] == CITY
    by_code = {child["code"]: child for child in result["children"]}
    assert list(by_code) == sorted(DISTRICTS)  # every district, in code order
    for code in DISTRICTS:
        mine = [s for s in live if SEGMENTS[s][0] == code]
        if not mine:
            assert by_code[code]["congestion_index"] is None and by_code[code]["band"] is None
            continue
        assert by_code[code]["congestion_index"] == round(weighted(mine), 2), code
        assert by_code[code]["band"] == band_of(weighted(mine)), code
    # Spelled out for the record: (3·3000 + 9·1000 + 5·1) / 4001, (7.5·500 + 6.5·1500) / 2000.
    assert by_code["320706"]["congestion_index"] == 4.5 and by_code["320706"]["band"] == "light"
    assert by_code["320722"]["congestion_index"] == 6.75 and by_code["320722"]["band"] == "moderate"
    assert by_code["320707"]["band"] == "free" and by_code["320703"]["congestion_index"] == 2.0 and by_code["320703"]["band"] == "basically_free"
    assert by_code["320723"]["congestion_index"] is None  # its only segment is outside the lookback
    assert by_code["320706"]["name"] == "海州区" and by_code["320706"]["name_en"] == "Haizhou"


def test_child_congestion_of_a_district_by_street_and_in_the_past(road_db):
    with road_db.connect() as conn:
        now = child_congestion(conn, "320706", at=T)
        before = child_congestion(conn, "320706", at=T - HOUR)
    streets = {child["code"]: child["congestion_index"] for child in now["children"]}
    assert streets == {"320706001": 3.0, "320706002": round(weighted(["s2", "s3"]), 2), "320706003": None}
    assert now["congestion_index"] == round(weighted(["s1", "s2", "s3"]), 2)
    # An hour earlier only s1 had reported (9.0): severe.
    assert before["congestion_index"] == 9.0 and before["band"] == "severe" and before["ts"] == T - HOUR
    assert {child["code"]: child["band"] for child in before["children"]} == {"320706001": "severe", "320706002": None, "320706003": None}


def test_child_congestion_without_speeds_or_children(road_db):
    with road_db.connect() as conn:
        empty = child_congestion(conn, CITY, at=T - 10 * HOUR)  # nothing within the lookback
        leaf = child_congestion(conn, "320706001001", at=T)  # a community: no segment has its code
    assert empty == {"area_code": CITY, "ts": None, "congestion_index": None, "band": None, "children": []}
    assert leaf["congestion_index"] is None and leaf["children"] == []


# --- datasets_reading ----------------------------------------------------------------------------


@pytest.fixture
def catalogue_db(engine):
    with engine.begin() as conn:
        for code in ("incidents-ds", "roads-ds", "speeds-ds", "aq-ds", "silent-ds"):
            ensure_dataset(conn, code, name=code, provider="p", update_cycle="hourly")
        record_change(conn, "incidents-ds", "ingest", 1, tables=["incidents", "incident_events"], at=T)
        record_change(conn, "roads-ds", "ingest", 1, tables=["road_segments"], at=T)
        record_change(conn, "speeds-ds", "feed", 1, tables=["road_speeds"], at=T)
        record_change(conn, "aq-ds", "feed", 1, tables=["aq_readings", "sensors"], at=T)
        conn.execute(insert(Indicator), [
            {"code": "aqi", "name_zh": "AQI", "name_en": "AQI", "domain": "environment", "dataset_code": "aq-ds"},
            {"code": "speed", "name_zh": "车速", "name_en": "Speed", "domain": "traffic", "dataset_code": "speeds-ds"},
            {"code": "orphan", "name_zh": "无来源", "name_en": "No source", "domain": "traffic", "dataset_code": None},
        ])
    return engine


@pytest.mark.parametrize("tables, indicators, expected", [
    (("incidents",), (), ["incidents-ds"]),
    (("road_segments", "road_speeds"), (), ["roads-ds", "speeds-ds"]),
    (("sensors",), (), ["aq-ds"]),
    ((), ("aqi",), ["aq-ds"]),
    ((), ("orphan",), []),
    (("road_speeds",), ("speed", "aqi"), ["aq-ds", "speeds-ds"]),  # sorted, each once
    (("work_orders",), ("no_such",), []),
    ((), (), []),
])
def test_datasets_reading(catalogue_db, tables, indicators, expected):
    with catalogue_db.connect() as conn:
        assert datasets_reading(conn, tables, indicators) == expected
