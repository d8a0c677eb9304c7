"""The read-only JSON API on SQLite and PostGIS.

A small platform is seeded below (a city, two districts, streets, communities, unit grids, incidents,
12345 work orders, air-quality readings, road speeds, a catalogue) and every expected number is
computed here from the seed rows or by hand, never by calling the query code the API uses.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert

from app.server import create_app
from queries.schema import AirQualityReading, Area, Incident, IncidentEvent, RoadSegment, RoadSpeed, Sensor, WorkOrder
from queries.writes import ensure_dataset, record_change
from tests.app.conftest import make_settings, url_of

UTC = dt.timezone.utc
SHANGHAI = ZoneInfo("Asia/Shanghai")
HOUR = dt.timedelta(hours=1)
# Whole hours keep the windows of the test away from the seeded event times.
NOW = dt.datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
FROM, TO = NOW - 24 * HOUR, NOW
WINDOW = {"from": FROM.isoformat(), "to": TO.isoformat()}
LEVEL_ORDER = ("city", "district", "street", "community", "grid")


def area(code, level, name, name_en, parent, box):
    minx, miny, maxx, maxy = box
    return {
        "code": code, "level": level, "name": name, "name_en": name_en, "parent_code": parent,
        "geom": shapely.MultiPolygon([shapely.box(*box)]), "area_km2": round((maxx - minx) * 92.0 * (maxy - miny) * 111.0, 1),
        "label_lon": (minx + maxx) / 2, "label_lat": (miny + maxy) / 2, "minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy,
    }


AREAS = [
    area("320700", "city", "连云港市", "Lianyungang", None, (119.0, 34.5, 119.4, 34.7)),
    area("320706", "district", "海州区", "Haizhou", "320700", (119.0, 34.5, 119.2, 34.7)),
    area("320707", "district", "赣榆区", "Ganyu", "320700", (119.2, 34.5, 119.4, 34.7)),
    area("320706001", "street", "新浦街道", "Xinpu", "320706", (119.0, 34.5, 119.1, 34.7)),
    area("320706002", "street", "海州街道", "Haizhou Subdistrict", "320706", (119.1, 34.5, 119.2, 34.7)),
    area("320707001", "street", "青口镇", "Qingkou", "320707", (119.2, 34.5, 119.4, 34.7)),
    area("320706001001", "community", "建国社区", None, "320706001", (119.0, 34.5, 119.1, 34.6)),
    area("320706001002", "community", "新东社区", None, "320706001", (119.0, 34.6, 119.1, 34.7)),
    area("320706002001", "community", "幸福路社区", None, "320706002", (119.1, 34.5, 119.2, 34.7)),
    area("320707001001", "community", "城东社区", None, "320707001", (119.2, 34.5, 119.4, 34.7)),
    area("320706001001001", "grid", "建国社区第1网格", None, "320706001001", (119.0, 34.5, 119.05, 34.6)),
    area("320706001001002", "grid", "建国社区第2网格", None, "320706001001", (119.05, 34.5, 119.1, 34.6)),
    area("320706001002001", "grid", "新东社区第1网格", None, "320706001002", (119.0, 34.6, 119.1, 34.7)),
    area("320706002001001", "grid", "幸福路社区第1网格", None, "320706002001", (119.1, 34.5, 119.2, 34.7)),
    area("320707001001001", "grid", "城东社区第1网格", None, "320707001001", (119.2, 34.5, 119.4, 34.7)),
]


def codes_of(grid):
    """Every level's code of a point in ``grid`` (assigned at ingest in real life)."""
    return {"district_code": grid[:6], "street_code": grid[:9], "community_code": grid[:12], "grid_code": grid}


def incident(id_, grid, hours_ago, category, severity, status, channel, casualties=None):
    return {
        "id": id_, "category": category, "subtype": None, "severity": severity, "status": status, "channel": channel,
        "title": f"{category} {id_}", "description": "现场情况", "address": "海州区建国路18号3单元",
        "reporter_name": "张三", "reporter_phone": "13812345678", "lon": 119.05, "lat": 34.55,
        "reported_at": NOW - hours_ago * HOUR, "casualties": casualties, **codes_of(grid),
    }


INCIDENTS = [
    incident("INC-1", "320706001001001", 2, "accident", 2, "dispatched", "110", casualties=1),
    incident("INC-2", "320706001001002", 5, "accident", 4, "closed", "12345"),
    incident("INC-3", "320706001002001", 10, "natural_disaster", 3, "reported", "grid_officer"),
    incident("INC-4", "320706002001001", 20, "public_health", 1, "on_scene", "120", casualties=0),
    incident("INC-5", "320707001001001", 3, "social_security", 4, "resolved", "12345"),
    incident("INC-6", "320707001001001", 30, "accident", 2, "closed", "119"),  # before the window
    incident("INC-7", "320706001001001", 47, "natural_disaster", 4, "closed", "iot"),  # before the window
    incident("INC-8", "320706001001002", 1, "accident", 3, "accepted", "119"),
]
EVENTS = [  # inserted out of order: the API must sort them by time
    {"incident_id": "INC-1", "status": "dispatched", "at": NOW - 1.5 * HOUR, "actor": "指挥中心", "note": "派遣消防"},
    {"incident_id": "INC-1", "status": "reported", "at": NOW - 2 * HOUR, "actor": "110", "note": None},
    {"incident_id": "INC-1", "status": "accepted", "at": NOW - 1.8 * HOUR, "actor": "指挥中心", "note": None},
]


def work_order(num, grid, hours_ago, demand_type, state, deadline_in_hours, completed_hours_ago=None):
    return {
        "order_num": num, "call_time": NOW - hours_ago * HOUR, "demand_type": demand_type, "state": state,
        "deadline": NOW + deadline_in_hours * HOUR, "caller_phone": "13900000000", "source_type": "phone",
        "complete_time": None if completed_hours_ago is None else NOW - completed_hours_ago * HOUR, **codes_of(grid),
    }


WORK_ORDERS = [
    work_order("W1", "320706001001001", 3, "complaint", "dispatched", -1),  # overdue at TO
    work_order("W2", "320706001001002", 6, "consult", "completed", 48, completed_hours_ago=5),
    work_order("W3", "320706002001001", 12, "help", "dispatched", 24),
    work_order("W4", "320707001001001", 2, "complaint", "accepted", -0.5),  # overdue at TO
    work_order("W5", "320706001002001", 28, "report", "completed", 24, completed_hours_ago=20),  # before the window
]

ZERO_CONCENTRATIONS = {f: 0.0 for f in ("pm2_5", "pm10", "so2", "so2_24h", "no2", "no2_24h", "co", "co_24h", "o3", "o3_8h", "o3_8h_24h")}
STATIONS = [
    {"id": "1001A", "kind": "air_quality", "name": "海州站", "status": "online", "lon": 119.02, "lat": 34.55, **codes_of("320706001001001")},
    {"id": "1002A", "kind": "air_quality", "name": "赣榆站", "status": "online", "lon": 119.3, "lat": 34.6, **codes_of("320707001001001")},
]
AQ_READINGS = [
    {"station_id": "1001A", "ts": NOW - 5 * HOUR, **ZERO_CONCENTRATIONS, "pm2_5_24h": 500.0, "pm10_24h": 500.0},  # superseded
    {"station_id": "1001A", "ts": NOW - HOUR, **ZERO_CONCENTRATIONS, "pm2_5_24h": 115.0, "pm10_24h": 50.0},
    {"station_id": "1002A", "ts": NOW - HOUR, **ZERO_CONCENTRATIONS, "pm2_5_24h": 35.0, "pm10_24h": 150.0},
]
# By hand from HJ 633-2012 (PM2.5 24-h 35/75/115 → IAQI 50/100/150; PM10 24-h 50/150 → 50/100):
# 1001A: PM2.5 115 → 150, PM10 50 → 50: AQI 150, 轻度污染 (level 三级, orange), primary PM2.5.
# 1002A: PM2.5 35 → 50, PM10 150 → 100: AQI 100, 良 (二级, yellow), primary PM10.
# City: mean PM2.5 75 → 100, mean PM10 100 → 75: AQI 100 (not the mean of 150 and 100), primary PM2.5.
AQI_OF = {"320706": (150, "轻度污染", "三级", "#ff7e00"), "320707": (100, "良", "二级", "#ffff00"), "320700": (100, "良", "二级", "#ffff00")}

SEGMENTS = [  # area codes are those of each segment's midpoint, as writers assign them
    {"id": "s1", "name": "海宁大道", "road_class": "arterial", "length_m": 3000.0, "district_code": "320706", "street_code": "320706001", "geom": shapely.LineString([(119.02, 34.55), (119.08, 34.55)])},
    {"id": "s2", "name": "解放路", "road_class": "secondary", "length_m": 1000.0, "district_code": "320706", "street_code": "320706002", "geom": shapely.LineString([(119.12, 34.6), (119.18, 34.6)])},
    {"id": "s3", "name": "沈海高速", "road_class": "expressway", "length_m": 2000.0, "district_code": "320707", "street_code": None, "geom": shapely.LineString([(119.25, 34.6), (119.35, 34.6)])},
]
SPEEDS = [
    {"segment_id": "s1", "ts": NOW - 3 * HOUR, "speed_kmh": 60.0, "congestion_index": 2.0},  # older than the lookback
    {"segment_id": "s1", "ts": NOW - 0.5 * HOUR, "speed_kmh": 20.0, "congestion_index": 7.0},
    {"segment_id": "s2", "ts": NOW - 0.5 * HOUR, "speed_kmh": 45.0, "congestion_index": 3.0},
    {"segment_id": "s3", "ts": NOW - 0.5 * HOUR, "speed_kmh": 95.0, "congestion_index": 1.0},
]
# Length-weighted by hand: 320706 (7·3000 + 3·1000)/4000 = 6.0 (moderate); 320707 1.0 (free);
# city (21000 + 3000 + 2000)/6000 = 4.33 (light); street 320706001 has s1 only, 320706002 s2 only.
CONGESTION_OF = {"320706": (6.0, "moderate"), "320707": (1.0, "free"), "320700": (4.33, "light"), "320706001": (7.0, "moderate"), "320706002": (3.0, "basically_free")}

DATASET_UPDATES = [  # (code, cycle, age of its last update or None): freshness by the catalogue rule
    ("base.areas", "yearly", dt.timedelta(0), "fresh"),
    ("events.incidents", "realtime", dt.timedelta(minutes=2), "fresh"),  # within 1.5 × 5 min
    ("env.aq_hourly", "hourly", dt.timedelta(hours=5), "stale"),  # beyond 3 cycles
    ("hotline.orders", "daily", None, "unknown"),  # never delivered
]
DATA_VERSION = sum(1 for _, _, age, _ in DATASET_UPDATES if age is not None)  # one record_change per delivery


def seed_platform(engine) -> None:
    """All rows of one insert share the same keys: executemany silently drops keys the first row lacks."""
    now = dt.datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(insert(Area), AREAS)
        conn.execute(insert(Incident), INCIDENTS)
        conn.execute(insert(IncidentEvent), EVENTS)
        conn.execute(insert(WorkOrder), WORK_ORDERS)
        conn.execute(insert(Sensor), STATIONS)
        conn.execute(insert(AirQualityReading), AQ_READINGS)
        conn.execute(insert(RoadSegment), SEGMENTS)
        conn.execute(insert(RoadSpeed), SPEEDS)
        for code, cycle, age, _ in DATASET_UPDATES:
            ensure_dataset(conn, code, name=f"数据集 {code}", provider="市大数据局", update_cycle=cycle)
            if age is not None:
                record_change(conn, code, "ingest", 1, row_count=1, at=now - age)


@pytest.fixture
def client(engine, tmp_path):
    seed_platform(engine)
    server = create_app(make_settings(tmp_path, url_of(engine))).server
    yield server.test_client()
    context = server.extensions["cityops"]  # the app's own pools: PostgreSQL has few connections to spare
    context.read_engine.dispose()
    context.engine.dispose()


def get_json(client, path, expected_status=200, **params):
    response = client.get(path, query_string=params)
    assert response.status_code == expected_status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return response.get_json()


def utc(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    assert value.utcoffset() == dt.timedelta(0), f"{text} is not UTC with an offset"
    return value


def in_window(rows, time_key, start=FROM, end=TO):
    return [r for r in rows if start <= r[time_key] < end]


def inside(rows, code):
    """Rows whose point lies in area ``code`` (the city contains them all)."""
    return [r for r in rows if code == "320700" or code in (r["district_code"], r["street_code"], r["community_code"], r["grid_code"])]


# --- areas ------------------------------------------------------------------------------------


def test_areas_lists_every_area_city_first_then_by_level_and_code(client):
    body = get_json(client, "/api/v1/areas")
    expected = sorted(AREAS, key=lambda a: (LEVEL_ORDER.index(a["level"]), a["code"]))
    assert [item["code"] for item in body["items"]] == [a["code"] for a in expected]
    first_street = next(item for item in body["items"] if item["code"] == "320706001")
    assert first_street == {"code": "320706001", "name": "新浦街道", "name_en": "Xinpu", "level": "street", "parent": "320706", "area_km2": 204.2}


def test_areas_filter_by_level_and_parent(client):
    streets = get_json(client, "/api/v1/areas", level="street")["items"]
    assert [s["code"] for s in streets] == ["320706001", "320706002", "320707001"]
    kids = get_json(client, "/api/v1/areas", parent="320706001")["items"]
    assert [k["code"] for k in kids] == ["320706001001", "320706001002"]
    assert get_json(client, "/api/v1/areas", level="grid", parent="320706")["items"] == []


def test_one_area_has_label_point_and_bbox(client):
    body = get_json(client, "/api/v1/areas/320706")
    assert body == {
        "code": "320706", "name": "海州区", "name_en": "Haizhou", "level": "district", "parent": "320700",
        "area_km2": round(0.2 * 92.0 * 0.2 * 111.0, 1), "label_point": {"lon": 119.1, "lat": 34.6}, "bbox": [119.0, 34.5, 119.2, 34.7],
    }
    assert get_json(client, "/api/v1/areas/320706001001001")["parent"] == "320706001001"


# --- summary ----------------------------------------------------------------------------------


def count_by(rows, key):
    counts = {}
    for row in rows:
        counts[str(row[key])] = counts.get(str(row[key]), 0) + 1
    return counts


@pytest.mark.parametrize("code", ["320700", "320706", "320706001"])
def test_summary_counts_match_the_seed(client, code):
    body = get_json(client, f"/api/v1/areas/{code}/summary", **WINDOW)
    incidents = in_window(inside(INCIDENTS, code), "reported_at")
    orders = in_window(inside(WORK_ORDERS, code), "call_time")
    assert body["area"]["code"] == code
    assert utc(body["from"]) == FROM and utc(body["to"]) == TO
    block = body["incidents"]
    assert block["total"] == len(incidents)
    assert block["by_severity"] == count_by(incidents, "severity")
    assert block["by_category"] == count_by(incidents, "category")
    assert block["open"] == sum(1 for i in incidents if i["status"] not in ("resolved", "closed"))
    assert utc(block["data_time"]) == max(i["reported_at"] for i in incidents)
    block = body["workorders"]
    assert block["total"] == len(orders)
    assert block["by_demand_type"] == count_by(orders, "demand_type")
    assert block["by_state"] == count_by(orders, "state")
    assert block["overdue"] == sum(1 for o in orders if o["deadline"] < TO and o["complete_time"] is None)
    assert utc(block["data_time"]) == max(o["call_time"] for o in orders)


def test_summary_air_quality_and_traffic_carry_their_data_times(client):
    district = get_json(client, "/api/v1/areas/320706/summary", **WINDOW)
    aq = district["air_quality"]
    assert (aq["aqi"], aq["category"], aq["level"], aq["colour"]) == AQI_OF["320706"]
    assert aq["primary_pollutant_en"] == "PM2.5" and aq["rgb"] == [255, 126, 0] and aq["scope_code"] == "320706"
    assert utc(aq["data_time"]) == NOW - HOUR
    traffic = district["traffic"]
    assert (traffic["congestion_index"], traffic["band"]) == CONGESTION_OF["320706"]
    assert utc(traffic["data_time"]) == NOW - 0.5 * HOUR
    assert traffic["worst"][0]["segment_id"] == "s1"
    city = get_json(client, "/api/v1/areas/320700/summary", **WINDOW)
    assert (city["air_quality"]["aqi"], city["air_quality"]["primary_pollutant_en"]) == (100, "PM2.5")
    assert (city["traffic"]["congestion_index"], city["traffic"]["band"]) == CONGESTION_OF["320700"]


def test_summary_defaults_to_the_last_24_hours(client):
    before = dt.datetime.now(UTC)
    body = get_json(client, "/api/v1/areas/320700/summary")
    to, start = utc(body["to"]), utc(body["from"])
    assert before <= to <= dt.datetime.now(UTC) and to - start == 24 * HOUR
    assert body["incidents"]["total"] == len(in_window(INCIDENTS, "reported_at", to - 24 * HOUR, to))


def test_naive_times_are_asia_shanghai(client):
    # 2.5 hours ago, written as Beijing wall-clock time without an offset: only INC-1 and INC-8 are newer.
    naive_local = (NOW - 2.5 * HOUR).astimezone(SHANGHAI).replace(tzinfo=None).isoformat()
    body = get_json(client, "/api/v1/incidents", **{"from": naive_local, "to": TO.isoformat()})
    assert utc(body["from"]) == NOW - 2.5 * HOUR
    assert [i["id"] for i in body["items"]] == ["INC-8", "INC-1"]


# --- children (drill step) ----------------------------------------------------------------------


def children_of(code):
    return [a for a in AREAS if a["parent_code"] == code]


def expected_counts(code, rows, time_key, predicate=lambda r: True):
    kids = children_of(code)
    level = kids[0]["level"]
    return {k["code"]: sum(1 for r in in_window(rows, time_key) if r[f"{level}_code"] == k["code"] and predicate(r)) for k in kids}


@pytest.mark.parametrize("code", ["320700", "320706", "320706001", "320706001001"])
def test_children_incident_counts(client, code):
    body = get_json(client, f"/api/v1/areas/{code}/children", **WINDOW)
    assert body["metric"] == "incidents" and body["area"]["code"] == code
    assert {item["code"]: item["value"] for item in body["items"]} == expected_counts(code, INCIDENTS, "reported_at")
    assert [item["name"] for item in body["items"]] == [k["name"] for k in children_of(code)]
    counted = in_window(inside(INCIDENTS, code), "reported_at")
    assert utc(body["data_time"]) == max(r["reported_at"] for r in counted)


def test_children_incident_filters(client):
    def keep(r):
        return r["severity"] in (3, 4) and r["category"] == "accident" and r["channel"] in ("119", "12345")

    body = get_json(client, "/api/v1/areas/320706/children", severity="III,IV", category="accident", channel="119,12345", **WINDOW)
    assert {item["code"]: item["value"] for item in body["items"]} == expected_counts("320706", INCIDENTS, "reported_at", keep)
    body = get_json(client, "/api/v1/areas/320700/children", status="closed,resolved", **WINDOW)
    assert {i["code"]: i["value"] for i in body["items"]} == expected_counts("320700", INCIDENTS, "reported_at", lambda r: r["status"] in ("closed", "resolved"))


def test_children_work_order_counts(client):
    body = get_json(client, "/api/v1/areas/320700/children", metric="workorders", **WINDOW)
    assert {i["code"]: i["value"] for i in body["items"]} == expected_counts("320700", WORK_ORDERS, "call_time")
    assert utc(body["data_time"]) == max(o["call_time"] for o in in_window(WORK_ORDERS, "call_time"))


def test_children_aqi_and_congestion_per_child(client):
    body = get_json(client, "/api/v1/areas/320700/children", metric="aqi", **WINDOW)
    assert {i["code"]: (i["value"], i["category"], i["level"], i["colour"]) for i in body["items"]} == {c: AQI_OF[c] for c in ("320706", "320707")}
    assert all(utc(i["data_time"]) == NOW - HOUR for i in body["items"]) and utc(body["data_time"]) == NOW - HOUR
    streets = get_json(client, "/api/v1/areas/320706/children", metric="aqi", **WINDOW)["items"]
    # 海州街道 has no station: it reports its district, and says so.
    assert {i["code"]: (i["value"], i["scope_code"]) for i in streets} == {"320706001": (150, "320706001"), "320706002": (150, "320706")}
    for code in ("320700", "320706"):
        items = get_json(client, f"/api/v1/areas/{code}/children", metric="congestion", **WINDOW)["items"]
        assert {i["code"]: (i["value"], i["band"]) for i in items} == {k["code"]: CONGESTION_OF[k["code"]] for k in children_of(code)}
        assert all(utc(i["data_time"]) == NOW - 0.5 * HOUR for i in items)


def test_children_of_a_unit_grid_is_an_empty_list(client):
    body = get_json(client, "/api/v1/areas/320706001001001/children", **WINDOW)
    assert body["items"] == [] and body["data_time"] is None


# --- incidents --------------------------------------------------------------------------------


def test_incident_list_newest_first_without_personal_data(client):
    body = get_json(client, "/api/v1/incidents", **WINDOW)
    expected = sorted(in_window(INCIDENTS, "reported_at"), key=lambda i: i["reported_at"], reverse=True)
    assert [i["id"] for i in body["items"]] == [i["id"] for i in expected]
    first = body["items"][0]
    assert first["severity"] == 3 and isinstance(first["severity"], int) and utc(first["reported_at"]) == NOW - HOUR
    inc1 = next(i for i in body["items"] if i["id"] == "INC-1")
    assert inc1["casualties"] == 1 and isinstance(inc1["casualties"], int)
    text = json.dumps(body, ensure_ascii=False)
    for personal in ("address", "reporter_name", "reporter_phone"):
        assert all(personal not in item for item in body["items"])
    assert "13812345678" not in text and "张三" not in text and "建国路18号" not in text


def test_incident_list_filters_area_paging(client):
    def ids(**params):
        return [i["id"] for i in get_json(client, "/api/v1/incidents", **WINDOW, **params)["items"]]

    newest_first = sorted(in_window(INCIDENTS, "reported_at"), key=lambda i: i["reported_at"], reverse=True)
    assert ids(area="320706001") == [i["id"] for i in newest_first if i["street_code"] == "320706001"]
    assert ids(severity="I,2") == [i["id"] for i in newest_first if i["severity"] in (1, 2)]
    assert ids(category="accident", status="closed") == [i["id"] for i in newest_first if i["category"] == "accident" and i["status"] == "closed"]
    assert ids(channel="12345") == [i["id"] for i in newest_first if i["channel"] == "12345"]
    assert ids(limit="2", offset="1") == [i["id"] for i in newest_first[1:3]]
    wide = {"from": (NOW - 48 * HOUR).isoformat(), "to": TO.isoformat()}
    assert len(get_json(client, "/api/v1/incidents", **wide)["items"]) == len(INCIDENTS)


def test_incident_detail_with_lifecycle_in_time_order(client):
    body = get_json(client, "/api/v1/incidents/INC-1")
    assert body["id"] == "INC-1" and body["category"] == "accident" and body["severity"] == 2
    assert [e["status"] for e in body["events"]] == ["reported", "accepted", "dispatched"]
    assert [utc(e["at"]) for e in body["events"]] == sorted(e["at"] for e in EVENTS)
    assert not {"address", "reporter_name", "reporter_phone"} & set(body)


# --- datasets ---------------------------------------------------------------------------------


def test_datasets_with_freshness(client):
    body = get_json(client, "/api/v1/datasets")
    assert utc(body["as_of"])
    assert {d["code"]: d["freshness"] for d in body["items"]} == {code: state for code, _, _, state in DATASET_UPDATES}
    never = next(d for d in body["items"] if d["code"] == "hotline.orders")
    assert never["last_update_at"] is None and never["age_s"] is None


# --- headers and encoding ---------------------------------------------------------------------


def test_responses_carry_data_version_and_cache_control(client):
    for path in ("/api/v1/areas", "/api/v1/areas/320706/summary", "/api/v1/incidents", "/api/v1/datasets", "/api/v1/incidents?limit=0", "/api/v1/areas/999999"):
        response = client.get(path)
        assert response.headers["X-Data-Version"] == str(DATA_VERSION), path
        assert response.headers["Cache-Control"]
    assert "max-age" in client.get("/api/v1/areas").headers["Cache-Control"]
    assert client.get("/api/v1/areas/999999").headers["Cache-Control"] == "no-store"


def test_json_keeps_chinese_readable(client):
    raw = client.get("/api/v1/areas/320700").get_data(as_text=True)
    assert "连云港市" in raw and "\\u" not in raw


# --- bad parameters and missing things ----------------------------------------------------------

BAD_REQUESTS = [
    ("/api/v1/incidents?from=yesterday", "from"),
    ("/api/v1/incidents?to=2026-13-01", "to"),
    ("/api/v1/incidents?from=1900-01-01", "from"),
    ("/api/v1/incidents?from=2026-11-21T10:00Z&to=2026-11-21T10:00Z", "from"),  # from = to
    ("/api/v1/incidents?from=2026-11-22&to=2026-11-21", "from"),  # from after to
    ("/api/v1/incidents?from=2024-01-01&to=2026-01-01", "from"),  # window over 366 days
    ("/api/v1/incidents?severity=5", "severity"),
    ("/api/v1/incidents?severity=1,V", "severity"),
    ("/api/v1/incidents?category=fire", "category"),
    ("/api/v1/incidents?status=open", "status"),
    ("/api/v1/incidents?channel=999", "channel"),
    ("/api/v1/areas?level=province", "level"),
    ("/api/v1/areas/320700/children?metric=population", "metric"),
    ("/api/v1/areas/320700/children?metric=aqi&severity=1", "severity"),  # incident filter on another metric
    ("/api/v1/areas/32070A", "code"),
    ("/api/v1/areas/32070", "code"),  # too short
    ("/api/v1/areas/3207060010010011", "code"),  # too long
    ("/api/v1/areas?parent=abc", "parent"),
    ("/api/v1/incidents?area=12", "area"),
    ("/api/v1/incidents?limit=0", "limit"),
    ("/api/v1/incidents?limit=1001", "limit"),
    ("/api/v1/incidents?limit=-1", "limit"),
    ("/api/v1/incidents?limit=ten", "limit"),
    ("/api/v1/incidents?offset=-5", "offset"),
    ("/api/v1/incidents?limit=", "limit"),
    ("/api/v1/incidents?limit=5&limit=6", "limit"),  # repeated
    ("/api/v1/incidents?page=2", "page"),  # unknown
    ("/api/v1/areas/320706?from=2026-11-21", "from"),  # known elsewhere, not here
    ("/api/v1/datasets?format=csv", "format"),
]


@pytest.mark.parametrize("url, parameter", BAD_REQUESTS)
def test_bad_parameters_are_400_naming_the_parameter(client, url, parameter):
    response = client.get(url)
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == "bad_parameter" and body["parameter"] == parameter and parameter in body["message"]


@pytest.mark.parametrize("url, parameter", [
    ("/api/v1/areas/320799", "code"),
    ("/api/v1/areas/320799/summary", "code"),
    ("/api/v1/areas/320799/children", "code"),
    ("/api/v1/areas?parent=320799", "parent"),
    ("/api/v1/incidents?area=320706009", "area"),
    ("/api/v1/incidents/INC-404", "id"),
])
def test_unknown_areas_and_incidents_are_404(client, url, parameter):
    response = client.get(url)
    assert response.status_code == 404
    body = response.get_json()
    assert body["error"] == "not_found" and body["parameter"] == parameter and body["message"]


def test_unknown_endpoints_and_methods_are_json(client):
    response = client.get("/api/v1/nowhere")
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"
    response = client.post("/api/v1/areas")
    assert response.status_code == 405 and response.get_json()["error"] == "method_not_allowed"


# --- the OpenAPI document against the routes' behaviour -------------------------------------------


def documented_operations(client):
    """The documented GET operations (the walls' POST routes are tested in test_wall_api.py)."""
    document = get_json(client, "/api/v1/openapi.json")
    return document, [(path, item["get"]) for path, item in document["paths"].items() if "get" in item]


def url_for(path_template, operation):
    path_values = {p["name"]: p["example"] for p in operation["parameters"] if p["in"] == "path"}
    return "/api/v1" + re.sub(r"\{(\w+)\}", lambda m: path_values[m.group(1)], path_template)


def test_openapi_document_shape(client):
    document, operations = documented_operations(client)
    assert document["openapi"].startswith("3.1.") and document["info"]["title"] and document["info"]["version"]
    assert "personal data" in document["info"]["description"].lower()
    assert {path for path, _ in operations} == {
        "/areas", "/areas/{code}", "/areas/{code}/summary", "/areas/{code}/children", "/incidents", "/incidents/{id}", "/datasets", "/openapi.json",
        "/walls/{wall_id}/emergency",
    }
    schemas = document["components"]["schemas"]
    for path, operation in operations:
        assert operation["operationId"] and operation["summary"]
        assert {"200", "400", "503"} <= set(operation["responses"])
        if "{" in path and not path.startswith("/walls/"):  # any well-formed wall id is a wall
            assert "404" in operation["responses"]
        for response in operation["responses"].values():
            ref = response["content"]["application/json"]["schema"]["$ref"]
            assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas
        for param in operation["parameters"]:
            assert {"name", "in", "required", "schema", "description"} <= set(param)
            assert param["in"] in ("path", "query")
            if param["in"] == "path":
                assert param["required"] is True and "{" + param["name"] + "}" in path
    severity = next(p for _, op in operations for p in op["parameters"] if p["name"] == "severity")
    assert set(severity["schema"]["items"]["enum"]) == {"1", "2", "3", "4", "I", "II", "III", "IV"}


def test_every_documented_parameter_is_accepted_and_nothing_else(client):
    _, operations = documented_operations(client)
    for path, operation in operations:
        url = url_for(path, operation)
        query = [p for p in operation["parameters"] if p["in"] == "query"]
        for param in query:
            if operation["operationId"] == "getAreaChildren" and param["name"] in ("severity", "category", "status", "channel"):
                params = {param["name"]: param["example"], "metric": "incidents"}
            else:
                params = {param["name"]: param["example"]}
            if param["name"] in ("from", "to"):  # the documented examples are a valid window together
                params = {p["name"]: p["example"] for p in query if p["name"] in ("from", "to")}
            response = client.get(url, query_string=params)
            assert response.status_code in (200, 404), (url, params, response.get_data(as_text=True))
        response = client.get(url, query_string={"undocumented": "1"})
        assert response.status_code == 400 and response.get_json()["parameter"] == "undocumented"


def test_documented_response_fields_are_present(client):
    document, operations = documented_operations(client)
    schemas = document["components"]["schemas"]
    for path, operation in operations:
        response = client.get(url_for(path, operation))
        if response.status_code != 200:
            continue
        schema = schemas[operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
        body = response.get_json()
        assert set(schema.get("required", [])) <= set(body), path
        items = schema.get("properties", {}).get("items", {})
        item_schema = schemas[items["items"]["$ref"].rsplit("/", 1)[1]] if "$ref" in items.get("items", {}) else items.get("items", {})
        for item in body.get("items", []):
            assert set(item_schema.get("required", [])) <= set(item), path


# --- never a 500 ------------------------------------------------------------------------------

FUZZ_TARGETS = [
    ("/api/v1/areas", ("level", "parent")),
    ("/api/v1/areas/320706/summary", ("from", "to")),
    ("/api/v1/areas/320706/children", ("metric", "from", "to", "severity", "category", "status", "channel")),
    ("/api/v1/incidents", ("area", "from", "to", "severity", "category", "status", "channel", "limit", "offset")),
]
FUZZ_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
ISO_LIKE = st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)).map(dt.datetime.isoformat)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from([(path, name) for path, names in FUZZ_TARGETS for name in names]),
       value=st.one_of(FUZZ_TEXT, ISO_LIKE, st.integers(-10**20, 10**20).map(str), st.from_regex(r"[0-9]{1,16}", fullmatch=True)))
def test_random_parameter_values_never_500(client, target, value):
    path, name = target
    response = client.get(path, query_string={name: value})
    assert response.status_code in (200, 400, 404), (path, name, value, response.get_data(as_text=True))
    assert response.mimetype == "application/json"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(segment=FUZZ_TEXT.filter(lambda s: s and "/" not in s and s not in (".", "..")))
def test_random_path_values_never_500(client, segment):
    for template in ("/api/v1/areas/{}", "/api/v1/areas/{}/summary", "/api/v1/areas/{}/children", "/api/v1/incidents/{}"):
        response = client.get(template.format(quote(segment, safe="")))
        assert response.status_code in (200, 400, 404), (template, segment, response.get_data(as_text=True))


def test_database_down_is_a_generic_503_and_the_document_still_serves(tmp_path, caplog):
    app = create_app(make_settings(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:1/cityops"))
    client = app.server.test_client()
    response = client.get("/api/v1/areas")
    assert response.status_code == 503
    body = response.get_json()
    assert body["error"] == "unavailable" and "Traceback" not in body["message"] and "127.0.0.1" not in body["message"]
    assert response.headers["Cache-Control"] == "no-store" and "X-Data-Version" not in response.headers
    assert any("API request" in r.getMessage() for r in caplog.records)  # logged server-side
    assert client.get("/api/v1/openapi.json").status_code == 200
    # Who is asking cannot be checked without the database (app.security.access): 503 before any validation.
    assert client.get("/api/v1/incidents?limit=0").status_code == 503
