"""cityops simulate: a short, fast run writes incidents with their lifecycle, readings and
alarms through the ingest path, bumps the data version and has no batch rejected."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import func, insert, select

from queries.bus import LocalBus
from queries.ingest import ingest_records
from queries.schema import AirQualityReading, Area, Incident, IncidentEvent, Sensor, SensorReading, SensorStatusEvent, TrafficReading
from queries.simulate import CitySimulator, NoAreas
from queries.writes import data_version


def seed_city(engine, now: dt.datetime) -> None:
    """A district, a street, a community and three grids with people, and one sensor of each kind."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    with engine.begin() as conn:
        conn.execute(insert(Area), [
            {"code": "320706", "level": "district", "name": "海州区", "parent_code": None, "population": 900000, "label_lon": 119.18, "label_lat": 34.58},
            {"code": "320706001", "level": "street", "name": "新海街道", "parent_code": "320706", "population": None, "label_lon": 119.18, "label_lat": 34.58},
            {"code": "320706001001", "level": "community", "name": "朝阳社区", "parent_code": "320706001", "population": None, "label_lon": 119.18, "label_lat": 34.58},
            *[{"code": f"320706001001{n:03d}", "level": "grid", "name": f"朝阳社区{n}号网格", "parent_code": "320706001001", "population": 800 * n,
               "label_lon": 119.18 + n * 0.003, "label_lat": 34.58} for n in (1, 2, 3)],
        ])
        conn.execute(insert(Sensor), [
            {"id": "SW0001", "kind": "water_level", "status": "online", "lon": 119.2, "lat": 34.6, "properties": {"base_level_m": 2.0, "warning_level_m": 3.5}},
            {"id": "JC00001", "kind": "traffic_detector", "status": "online", "lon": 119.2, "lat": 34.6, "properties": {"interval_min": 5}},
            {"id": "1001A", "kind": "air_quality", "status": "online", "lon": 119.2, "lat": 34.6, "properties": None},
        ])
        conn.execute(insert(SensorReading).values(sensor_id="SW0001", metric="water_level", ts=hour, value=2.1))
        conn.execute(insert(TrafficReading).values(detector_id="JC00001", ts=hour, flow=900.0, speed_kmh=42.0, occupancy=12.0))
        conn.execute(insert(AirQualityReading).values(station_id="1001A", ts=hour, aqi=60, pm2_5=40.0, pm2_5_24h=38.0, pm10=70.0, pm10_24h=65.0, so2=8.0, no2=30.0, co=0.7, o3=80.0, o3_8h=70.0))


def count(engine, table, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def test_a_short_fast_run_writes_a_plausible_feed(engine):
    now = dt.datetime.now(dt.timezone.utc)
    seed_city(engine, now)
    bus = LocalBus()
    events = []
    bus.subscribe(events.append)
    simulator = CitySimulator(engine, rate=300, seed=7, bus=bus, lifecycle_speed=300)
    version_before = simulator.report.data_version_before
    # Eight simulated minutes, stepped explicitly (readings come once a minute).
    for minute in range(8, -1, -1):
        simulator.step(now - dt.timedelta(minutes=minute))
    report = simulator.report

    assert report.rejected_batches == 0, report.errors
    assert report.incidents_new > 100
    assert count(engine, Incident) == report.incidents_new
    # Every incident has its "reported" step; lifecycles moved on, with one row per step.
    assert count(engine, IncidentEvent, IncidentEvent.status == "reported") == report.incidents_new
    assert count(engine, IncidentEvent, IncidentEvent.status != "reported") == report.lifecycle_steps > 0
    assert count(engine, Incident, Incident.status == "closed") > 0
    # Located where people are: in the seeded grids (area codes assigned by ingest need geometries,
    # so check the coordinates instead).
    with engine.connect() as conn:
        lons = conn.execute(select(Incident.lon)).scalars().all()
        severities = conn.execute(select(Incident.severity, func.count()).group_by(Incident.severity)).all()
    assert all(119.17 < lon < 119.2 for lon in lons)
    assert dict(severities).get(4, 0) > sum(n for s, n in severities if s != 4)  # mostly IV
    # Readings every minute, continuing the series.
    assert count(engine, SensorReading, SensorReading.metric == "water_level") >= 9
    assert count(engine, TrafficReading) >= 2
    assert count(engine, AirQualityReading) >= 1
    assert report.readings > 0
    # Breaches: the gauge went over its warning level → alarm event and status history.
    assert report.alarms >= 1
    assert count(engine, SensorStatusEvent, SensorStatusEvent.status == "alarm") == report.alarms
    assert any(e.type == "alarm" and e.payload["sensor_id"] == "SW0001" for e in events)
    # Data version bumped, and published.
    with engine.connect() as conn:
        assert data_version(conn) > version_before
    assert {"incident.new", "incident.updated", "data_version"} <= {e.type for e in events}


def test_the_records_it_writes_pass_the_ingest_validation_again(engine):
    now = dt.datetime.now(dt.timezone.utc)
    seed_city(engine, now)
    simulator = CitySimulator(engine, rate=120, seed=3)
    simulator.step(now - dt.timedelta(minutes=1))
    simulator.step(now)
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(select(Incident.id, Incident.category, Incident.subtype, Incident.severity, Incident.status, Incident.reported_at, Incident.lon, Incident.lat, Incident.title)).all())
    assert len(frame) > 0
    frame["severity"] = frame["severity"].astype(str)
    report = ingest_records(engine, "incidents", frame, "recheck", dry_run=True)
    assert report.rows_read == len(frame)


def test_run_stops_after_its_duration(engine):
    seed_city(engine, dt.datetime.now(dt.timezone.utc))
    report = CitySimulator(engine, rate=60, seed=1).run(duration=1.5, tick_seconds=0.5)
    assert report.batches >= 1 and report.rejected_batches == 0


def test_a_database_without_areas_is_refused(engine):
    with pytest.raises(NoAreas, match="no areas loaded"):
        CitySimulator(engine)
