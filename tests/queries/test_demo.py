"""The demo city (queries.demo): structure, realism of its patterns, determinism, reset.

Most checks read one small city built per backend (module fixture ``city``: a fresh SQLite file,
or a PostGIS database of its own so that other tests' TRUNCATEs cannot touch it). Determinism and
reset build again through the shared ``engine`` fixture.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import math
import os
import uuid
from pathlib import Path

import numpy as np
import pytest
import shapely
from sqlalchemy import create_engine, func, select, text

from queries.db import make_engine
from queries.demo import DemoCityExists, build_demo_city
from queries.migrate import ensure_schema
from queries.schema import (
    AirQualityReading,
    Area,
    ChangeLog,
    Dataset,
    Incident,
    IncidentEvent,
    Indicator,
    IndicatorValue,
    Meta,
    Resource,
    RoadSegment,
    RoadSpeed,
    Sensor,
    SensorReading,
    WorkOrder,
)
from queries.vocab import (
    AREA_CODE_LENGTH,
    DEMAND_TYPES,
    INCIDENT_STATUS_CODES,
    INCIDENT_SUBTYPES,
    UPDATE_CYCLE_SECONDS,
    WORK_ORDER_STATES,
    codes,
)

NOW = dt.datetime(2026, 11, 21, 8, tzinfo=dt.timezone.utc)  # 16:00 in Beijing
SEED = 11
# The repo's vendored copy of ../shared/reference/hj633_2012_iaqi.json: present in every clone.
HJ633_TABLE = Path(__file__).resolve().parents[2] / "queries" / "standards" / "aqi_hj633_2012.json"
PG_ADMIN_URL = os.environ.get("CITYOPS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def city(request, tmp_path_factory):
    """(engine, summary) of a small demo city, built once per backend for this module."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}")
        ensure_schema(engine)
        yield engine, build_demo_city(engine, "small", SEED, now=NOW)
        engine.dispose()
        return
    name = f"cityops_demo_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure means no usable server
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL/PostGIS is required in CI: {exc}")
        pytest.skip(f"PostgreSQL/PostGIS not available: {str(exc).splitlines()[0]}")
    engine = make_engine(PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
    try:
        ensure_schema(engine)
        yield engine, build_demo_city(engine, "small", SEED, now=NOW)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _rows(engine, stmt):
    with engine.connect() as conn:
        return conn.execute(stmt).all()


def _local_hour(moment: dt.datetime) -> int:
    return (moment.astimezone(dt.timezone.utc).hour + 8) % 24


# --- structure -----------------------------------------------------------------------------------


def test_summary_counts_every_table(city):
    engine, summary = city
    tables = summary["tables"]
    for table in ("areas", "road_segments", "sensors", "sensor_status_events", "resources", "road_speeds", "traffic_readings", "aq_readings",
                  "sensor_readings", "incidents", "incident_events", "work_orders", "indicators", "indicator_values", "datasets", "change_log"):
        assert tables[table] > 0, table
    assert tables["incidents"] == 2000 and tables["work_orders"] == 1500
    assert 300 <= tables["areas"] - 1 - 6 - 20 - 100 <= 420  # ~400 grids
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Incident)).scalar_one() == tables["incidents"]
        assert conn.execute(select(func.count()).select_from(RoadSpeed)).scalar_one() == tables["road_speeds"]
        meta = dict(conn.execute(select(Meta.key, Meta.value)).all())
    assert meta["demo_scale"] == "small" and meta["demo_seed"] == str(SEED) and meta["demo_now"] == NOW.isoformat() and meta["demo_built_at"]


def test_area_tree_codes_names_and_population(city):
    engine, _ = city
    rows = _rows(engine, select(Area.code, Area.level, Area.name, Area.parent_code, Area.population, Area.area_km2, Area.label_lon, Area.label_lat, Area.geom))
    by_code = {r.code: r for r in rows}
    levels = [r.level for r in rows]
    assert levels.count("city") == 1 and levels.count("district") == 6
    assert {r.code: r.name for r in rows if r.level == "district"} == {
        "320703": "连云区", "320706": "海州区", "320707": "赣榆区", "320722": "东海县", "320723": "灌云县", "320724": "灌南县"}
    for row in rows:
        assert len(row.code) == AREA_CODE_LENGTH[row.level] and row.code.isdigit()
        assert row.geom.geom_type == "MultiPolygon" and row.geom.is_valid
        assert row.geom.intersects(shapely.Point(row.label_lon, row.label_lat))
        if row.level == "city":
            assert row.parent_code is None
            continue
        parent = by_code[row.parent_code]
        expected_parent_level = {"district": "city", "street": "district", "community": "street", "grid": "community"}[row.level]
        assert parent.level == expected_parent_level
        if row.level != "district":
            assert row.code.startswith(parent.code)
    streets = [r.name for r in rows if r.level == "street"]
    communities = [r.name for r in rows if r.level == "community"]
    assert all(n.endswith(("街道", "镇", "乡")) for n in streets) and all(n.endswith(("社区", "村")) for n in communities)
    # Population is density-weighted and adds up level by level (city ≈ 4.6 M).
    assert abs(by_code["320700"].population - 4_600_000) < 5_000
    for level in ("district", "street", "community"):
        for row in (r for r in rows if r.level == level):
            assert sum(c.population for c in rows if c.parent_code == row.code) == row.population
    grids = [r for r in rows if r.level == "grid"]
    density = np.array([g.population / g.area_km2 for g in grids])
    area = np.array([g.area_km2 for g in grids])
    dense = density > np.quantile(density, 0.8)
    assert np.median(area[dense]) < np.median(area[~dense]) / 3  # small grids in dense cores
    assert 7000 < by_code["320700"].area_km2 < 8300


def test_grid_sequences_run_west_to_east_north_to_south(city):
    engine, _ = city
    rows = _rows(engine, select(Area.code, Area.parent_code, Area.label_lon, Area.label_lat).where(Area.level == "grid").order_by(Area.code))
    by_community: dict[str, list] = {}
    for row in rows:
        by_community.setdefault(row.parent_code, []).append(row)
    correlations = []
    for grids in by_community.values():
        assert [int(g.code[-3:]) for g in grids] == list(range(1, len(grids) + 1))
        if len(grids) >= 4:  # numbered in rows from north to south: latitude falls as the number rises
            correlations.append(np.corrcoef(np.arange(len(grids)), [g.label_lat for g in grids])[0, 1])
    assert correlations and np.mean(correlations) < -0.5


def test_unit_grids_tile_each_community_exactly(city):
    engine, _ = city
    rows = _rows(engine, select(Area.code, Area.level, Area.parent_code, Area.geom, Area.area_km2).where(Area.level.in_(["community", "grid"])))
    communities = {r.code: r for r in rows if r.level == "community"}
    grids = [r for r in rows if r.level == "grid"]
    children: dict[str, list] = {}
    for grid in grids:
        children.setdefault(grid.parent_code, []).append(grid)
    assert set(children) == set(communities)
    for code, community in communities.items():
        union = shapely.union_all([g.geom for g in children[code]])
        assert shapely.symmetric_difference(union, community.geom).area <= 1e-6 * community.geom.area
        assert math.isclose(sum(g.area_km2 for g in children[code]), community.area_km2, rel_tol=1e-4)
    # No two grids overlap (shared edges only).
    geoms = np.array([g.geom for g in grids], dtype=object)
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pairs = left < right
    overlap = shapely.area(shapely.intersection(geoms[left[pairs]], geoms[right[pairs]]))
    assert overlap.max(initial=0) < 1e-9


def test_city_is_land_with_islands_and_sea_excluded(city):
    engine, _ = city
    (geom,) = _rows(engine, select(Area.geom).where(Area.level == "city"))[0]
    assert geom.contains(shapely.Point(119.17, 34.60))  # 海州 centre
    assert not geom.intersects(shapely.Point(119.55, 34.85))  # 海州湾, at sea
    assert not geom.intersects(shapely.Point(119.95, 34.40))  # the Yellow Sea off 灌云
    assert len(geom.geoms) >= 3  # the mainland and islands such as 连岛
    assert any(part.contains(shapely.Point(119.468, 34.772)) and part.area < 0.01 for part in geom.geoms)  # 连岛 is its own part


def test_every_point_lies_in_its_grid(city):
    engine, _ = city
    grid_geoms = dict(_rows(engine, select(Area.code, Area.geom).where(Area.level == "grid")))
    for model in (Incident, WorkOrder, Sensor, Resource):
        rows = _rows(engine, select(model.lon, model.lat, model.district_code, model.street_code, model.community_code, model.grid_code))
        assert rows, model.__tablename__
        for row in rows:
            assert row.grid_code is not None and len(row.grid_code) == 15
            assert row.grid_code[:6] == row.district_code and row.grid_code[:9] == row.street_code and row.grid_code[:12] == row.community_code
            assert shapely.dwithin(grid_geoms[row.grid_code], shapely.Point(row.lon, row.lat), 1e-9), (model.__tablename__, row)


def test_road_network_has_topology_and_real_roads(city):
    engine, _ = city
    rows = _rows(engine, select(RoadSegment.id, RoadSegment.name, RoadSegment.road_class, RoadSegment.from_node, RoadSegment.to_node,
                                RoadSegment.length_m, RoadSegment.geom, RoadSegment.lanes, RoadSegment.speed_limit_kmh, RoadSegment.district_code))
    names = {r.name for r in rows}
    assert {"G15沈海高速", "G30连霍高速"} <= names
    assert {r.road_class for r in rows} >= {"expressway", "arterial", "secondary"}
    g15 = [r for r in rows if r.name == "G15沈海高速"]
    assert np.mean([r.geom.centroid.x for r in g15]) < 119.17  # west of the main centre, N–S
    node_of: dict[str, tuple] = {}
    for row in rows:
        start, end = row.geom.coords[0], row.geom.coords[-1]
        for node, point in ((row.from_node, start), (row.to_node, end)):
            if node in node_of:  # one node, one place: segments meet exactly at their shared node
                assert math.dist(node_of[node], point) < 1e-5
            node_of[node] = point
        assert row.lanes >= 2 and row.speed_limit_kmh >= 30 and row.length_m > 0 and row.district_code
    degree: dict[str, int] = {}
    for row in rows:
        degree[row.from_node] = degree.get(row.from_node, 0) + 1
        degree[row.to_node] = degree.get(row.to_node, 0) + 1
    assert sum(1 for d in degree.values() if d >= 3) > 50  # intersections split the segments


# --- patterns ---------------------------------------------------------------------------------------


def test_rush_hour_is_more_congested_than_night(city):
    engine, _ = city
    rows = _rows(engine, select(RoadSpeed.ts, RoadSpeed.congestion_index, RoadSpeed.speed_kmh, RoadSegment.speed_limit_kmh)
                 .join(RoadSegment, RoadSegment.id == RoadSpeed.segment_id).where(RoadSegment.road_class == "arterial"))
    weekday_rush = [r.congestion_index for r in rows if r.ts.astimezone(dt.timezone(dt.timedelta(hours=8))).weekday() < 5 and _local_hour(r.ts) in (8, 18)]
    night = [r.congestion_index for r in rows if _local_hour(r.ts) in (2, 3, 4)]
    assert weekday_rush and night
    assert np.mean(weekday_rush) > np.mean(night) + 1.5
    assert all(0 <= r.congestion_index <= 10 for r in rows)
    # Speed follows congestion: the more congested, the slower relative to the limit.
    ratio = np.array([r.speed_kmh / r.speed_limit_kmh for r in rows])
    index = np.array([r.congestion_index for r in rows])
    assert np.corrcoef(ratio, index)[0, 1] < -0.9


def test_heavy_rain_brings_waterlogging_and_rising_rivers(city):
    engine, _ = city
    rows = _rows(engine, select(Incident.reported_at, Incident.subtype, Incident.district_code))
    logging_times = sorted(r.reported_at for r in rows if r.subtype == "waterlogging")
    by_day: dict[dt.date, int] = {}
    for moment in logging_times:
        by_day[moment.date()] = by_day.get(moment.date(), 0) + 1
    peak_day, peak = max(by_day.items(), key=lambda item: item[1])
    assert peak >= 30 and 14 <= (NOW.date() - peak_day).days <= 20  # the episode is ~17 days ago
    assert peak > 10 * np.median(list(by_day.values()) + [0] * 5)
    episode_start = dt.datetime.combine(peak_day, dt.time(), dt.timezone.utc) - dt.timedelta(days=1)
    gauges = _rows(engine, select(Sensor.id, Sensor.properties).where(Sensor.kind == "water_level"))
    rivers = {g.id: g.properties for g in gauges if g.properties.get("type") == "river"}
    assert rivers
    over_warning = 0
    for gauge, props in rivers.items():
        readings = _rows(engine, select(SensorReading.ts, SensorReading.value).where(SensorReading.sensor_id == gauge, SensorReading.metric == "water_level"))
        before = [r.value for r in readings if r.ts < episode_start]
        during = [r.value for r in readings if episode_start <= r.ts < episode_start + dt.timedelta(days=4)]
        assert max(during) - np.median(before) > 0.5, gauge
        over_warning += max(during) > props["warning_level_m"]
    assert over_warning >= 1


def test_aqi_equals_hj633_recomputed_from_the_reference_table(city):
    engine, _ = city
    table = json.loads(HJ633_TABLE.read_text(encoding="utf-8"))

    def iaqi(name: str, concentration: float) -> float:
        points = [(bp, ia) for bp, ia in zip(table[name], table["iaqi"]) if bp is not None]
        if concentration > points[-1][0]:
            return 500.0
        for (lo_bp, lo_ia), (hi_bp, hi_ia) in itertools.pairwise(points):
            if concentration <= hi_bp:
                return math.ceil(round((hi_ia - lo_ia) / (hi_bp - lo_bp) * (concentration - lo_bp) + lo_ia, 6))
        raise AssertionError("unreachable")

    rows = _rows(engine, select(AirQualityReading).order_by(AirQualityReading.pm2_5_24h.desc(), AirQualityReading.station_id, AirQualityReading.ts).limit(10))
    rows += _rows(engine, select(AirQualityReading).order_by(AirQualityReading.o3.desc(), AirQualityReading.station_id, AirQualityReading.ts).limit(5))
    rows += _rows(engine, select(AirQualityReading).order_by(AirQualityReading.aqi, AirQualityReading.station_id, AirQualityReading.ts).limit(5))
    assert len(rows) == 20
    labels = {"so2_1h": "二氧化硫", "no2_1h": "二氧化氮", "co_1h": "一氧化碳", "o3_1h": "臭氧1小时", "o3_8h": "臭氧8小时", "pm10_24h": "颗粒物(PM10)", "pm25_24h": "细颗粒物(PM2.5)"}
    for reading in rows:
        sub = {"so2_1h": iaqi("so2_1h", reading.so2), "no2_1h": iaqi("no2_1h", reading.no2), "co_1h": iaqi("co_1h", reading.co),
               "o3_1h": iaqi("o3_1h", reading.o3), "o3_8h": iaqi("o3_8h", reading.o3_8h),
               "pm10_24h": iaqi("pm10_24h", reading.pm10_24h), "pm25_24h": iaqi("pm25_24h", reading.pm2_5_24h)}
        expected = max(sub.values())
        assert reading.aqi == expected, (reading.station_id, reading.ts, sub)
        if expected <= 50:
            assert reading.primary_pollutant is None
        else:
            top = {labels[k] for k, v in sub.items() if v == expected}
            assert set(reading.primary_pollutant.split(",")) == top
    # Moving averages are what they say: pm2_5_24h is the mean of the last 24 hourly values.
    station, ts = rows[0].station_id, rows[0].ts
    window = _rows(engine, select(AirQualityReading.pm2_5).where(AirQualityReading.station_id == station, AirQualityReading.ts > ts - dt.timedelta(hours=24), AirQualityReading.ts <= ts))
    if len(window) == 24:
        assert abs(np.mean([w.pm2_5 for w in window]) - rows[0].pm2_5_24h) <= 0.5


def test_ozone_peaks_in_the_afternoon_and_pm25_builds_under_stagnant_air(city):
    engine, _ = city
    rows = _rows(engine, select(AirQualityReading.ts, AirQualityReading.o3, AirQualityReading.pm2_5))
    afternoon = [r.o3 for r in rows if _local_hour(r.ts) in (14, 15, 16)]
    night = [r.o3 for r in rows if _local_hour(r.ts) in (2, 3, 4, 5)]
    assert np.mean(afternoon) > 2 * np.mean(night)
    daily: dict[dt.date, list] = {}
    for r in rows:
        daily.setdefault(r.ts.date(), []).append(r.pm2_5)
    means = [np.mean(v) for v in daily.values()]
    assert max(means) > 2.5 * min(means)  # polluted spells and clean, washed-out days


def test_incidents_are_realistic(city):
    engine, _ = city
    incidents = _rows(engine, select(Incident))
    severities = [i.severity for i in incidents]
    assert severities.count(4) / len(severities) > 0.85 and severities.count(1) <= 2
    for incident in incidents:
        assert incident.subtype in codes(INCIDENT_SUBTYPES[incident.category])
        assert incident.status in INCIDENT_STATUS_CODES and incident.title and incident.address and incident.reported_at <= NOW
        if incident.reporter_phone:
            assert len(incident.reporter_phone) == 11 and incident.reporter_phone[0] == "1" and incident.reporter_phone[1] in "3456789"
    open_recent = [i for i in incidents if i.status != "closed" and NOW - i.reported_at < dt.timedelta(hours=6)]
    assert open_recent  # recent ones are still being handled
    hours = np.bincount([_local_hour(i.reported_at) for i in incidents], minlength=24)
    assert hours[9:21].mean() > 2 * hours[1:5].mean()  # where and when people are about
    # Lifecycle: the status is the last step reached, one event per step, in order.
    events: dict[str, list] = {}
    for event in _rows(engine, select(IncidentEvent.incident_id, IncidentEvent.status, IncidentEvent.at).order_by(IncidentEvent.id)):
        events.setdefault(event.incident_id, []).append(event)
    steps = ["reported", "accepted", "dispatched", "on_scene", "resolved", "closed"]
    for incident in incidents[:300]:
        log = events[incident.id]
        reached = list(dict.fromkeys(e.status for e in log))
        assert reached == steps[: len(reached)] and reached[-1] == incident.status
        assert [e.at for e in log] == sorted(e.at for e in log)
        assert log[0].at == incident.reported_at
        times = [getattr(incident, f"{s}_at") for s in reached]
        assert times == sorted(times)


def test_hazardous_chemicals_incident_with_follow_ups(city):
    engine, _ = city
    (main,) = _rows(engine, select(Incident).where(Incident.subtype == "hazchem"))
    assert main.severity == 2 and main.district_code == "320703" and main.category == "accident"
    assert 119.5 < main.lon < 119.7 and 34.45 < main.lat < 34.65
    log = _rows(engine, select(IncidentEvent.status, IncidentEvent.note).where(IncidentEvent.incident_id == main.id))
    assert len(log) >= 8 and any("Ⅱ级应急响应" in (e.note or "") for e in log)
    after = _rows(engine, select(Incident.title).where(Incident.reported_at > main.reported_at, Incident.reported_at < main.reported_at + dt.timedelta(days=2), Incident.district_code == "320703", Incident.severity <= 3))
    assert len(after) >= 3
    odour = _rows(engine, select(func.count()).select_from(WorkOrder).where(WorkOrder.question_code == "0302", WorkOrder.call_time > main.reported_at, WorkOrder.call_time < main.reported_at + dt.timedelta(days=2)))
    assert odour[0][0] >= 5


def test_work_orders_follow_the_hotline_model(city):
    engine, _ = city
    rows = _rows(engine, select(WorkOrder))
    assert {o.demand_type for o in rows} <= set(codes(DEMAND_TYPES)) and {o.state for o in rows} <= set(codes(WORK_ORDER_STATES))
    assert {"consult", "help", "complaint", "report", "suggestion"} <= {o.demand_type for o in rows}
    assert len({o.order_num for o in rows}) == len(rows)
    for order in rows:
        assert order.question_code and order.question_name and order.organization_name and order.call_time <= NOW
        if order.deadline is not None:
            assert order.dispatch_time is None or order.deadline > order.dispatch_time
        if order.state == "visited":
            assert order.satisfaction in ("满意", "基本满意", "不满意") and order.visit_time >= order.complete_time
    assert any(o.incident_id for o in rows)
    # Volume peaks after the heavy rain: drainage and power calls in the days after it.
    drainage = [o.call_time for o in rows if o.question_code == "0102"]
    days_ago = np.array([(NOW - t).days for t in drainage])
    assert ((days_ago >= 13) & (days_ago <= 18)).sum() > 3 * ((days_ago >= 20) & (days_ago <= 25)).sum()


def test_catalogue_freshness_indicators_and_change_log(city):
    engine, summary = city
    datasets = _rows(engine, select(Dataset))
    assert len(datasets) >= 10
    stale = []
    for ds in datasets:
        assert ds.provider.startswith(("市", "国网")) and ds.update_cycle in UPDATE_CYCLE_SECONDS and ds.sharing_type in ("unconditional", "conditional", "none")
        assert ds.last_update_at is not None and ds.last_update_at <= NOW and ds.row_count > 0 and ds.version >= 1
        cycle = UPDATE_CYCLE_SECONDS[ds.update_cycle]
        if cycle and (NOW - ds.last_update_at).total_seconds() > 2 * cycle:
            stale.append(ds.code)
    assert "LYG-STHJ-0002" in stale  # water quality: hourly, but last updated three days ago
    by_code = {d.code: d for d in datasets}
    assert by_code["LYG-STHJ-0002"].last_update_at <= NOW - dt.timedelta(days=2)
    assert by_code["LYG-YJ-0001"].row_count == summary["tables"]["incidents"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ChangeLog)).scalar_one() == len(datasets)
        indicators = conn.execute(select(Indicator)).all()
        online = conn.execute(select(IndicatorValue.area_code, IndicatorValue.value).where(IndicatorValue.indicator_code == "gov_online_rate")).all()
        areas_with_values = set(conn.execute(select(IndicatorValue.area_code).where(IndicatorValue.indicator_code == "incidents_today").distinct()).scalars())
        hourly_aqi = conn.execute(select(func.count()).select_from(IndicatorValue).where(IndicatorValue.indicator_code == "aqi", IndicatorValue.area_code == "320700")).scalar_one()
    assert 15 <= len(indicators) <= 25 and {i.domain for i in indicators} >= {"emergency", "traffic", "environment", "hotline", "government_service", "iot"}
    online_rate = next(i for i in indicators if i.code == "gov_online_rate")
    assert online_rate.unit == "%" and online_rate.good_direction == "up" and online_rate.alarm_threshold == 80
    assert all(60 <= v <= 100 for _, v in online)
    assert areas_with_values == {"320700", "320703", "320706", "320707", "320722", "320723", "320724"}
    assert hourly_aqi > 30 * 24  # hourly values (and daily) over the 30 days of the small city


# --- determinism and reset --------------------------------------------------------------------------


def _fingerprint(engine) -> str:
    digest = hashlib.sha256()
    with engine.connect() as conn:
        for stmt in (
            select(Area.code, Area.name, Area.population, Area.area_km2, Area.geom).order_by(Area.code),
            select(RoadSegment.id, RoadSegment.name, RoadSegment.from_node, RoadSegment.to_node, RoadSegment.geom).order_by(RoadSegment.id),
            select(Incident.id, Incident.subtype, Incident.severity, Incident.status, Incident.lon, Incident.lat, Incident.title, Incident.reporter_phone, Incident.reported_at, Incident.closed_at).order_by(Incident.id),
            select(WorkOrder.order_num, WorkOrder.call_time, WorkOrder.state, WorkOrder.caller_name).order_by(WorkOrder.order_num),
            select(AirQualityReading.station_id, AirQualityReading.ts, AirQualityReading.aqi, AirQualityReading.pm2_5).order_by(AirQualityReading.station_id, AirQualityReading.ts),
            select(RoadSpeed.segment_id, RoadSpeed.ts, RoadSpeed.speed_kmh).order_by(RoadSpeed.segment_id, RoadSpeed.ts),
            select(IndicatorValue.indicator_code, IndicatorValue.area_code, IndicatorValue.ts, IndicatorValue.value).order_by(IndicatorValue.indicator_code, IndicatorValue.area_code, IndicatorValue.ts),
        ):
            for row in conn.execute(stmt):
                digest.update(repr(tuple(shapely.to_wkb(v) if isinstance(v, shapely.Geometry) else v for v in row)).encode())
    return digest.hexdigest()


def test_same_seed_same_city_reset_and_refusal(engine):
    first = build_demo_city(engine, "small", 5, now=NOW)
    fingerprint = _fingerprint(engine)
    with pytest.raises(DemoCityExists, match="reset"):
        build_demo_city(engine, "small", 5, now=NOW)
    again = build_demo_city(engine, "small", 5, reset=True, now=NOW)
    assert again["tables"] == first["tables"]
    assert _fingerprint(engine) == fingerprint  # reset empties everything, and the same seed rebuilds the same rows
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ChangeLog)).scalar_one() == first["tables"]["datasets"]
    build_demo_city(engine, "small", 6, reset=True, now=NOW)
    assert _fingerprint(engine) != fingerprint


def test_unknown_scale_is_refused(engine):
    with pytest.raises(ValueError, match="unknown demo scale"):
        build_demo_city(engine, "huge", 1, now=NOW)
