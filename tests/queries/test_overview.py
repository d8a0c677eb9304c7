"""queries.overview: what the home page and ``cityops serve`` read, on SQLite and PostGIS."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import insert

from queries.overview import area_count, area_counts_by_level, latest_incidents, overview, record_counts
from queries.schema import Area, Incident, Sensor, WorkOrder
from tests.app.conftest import seed_small_platform

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.timezone.utc)


def test_empty_database(engine):
    with engine.connect() as conn:
        assert area_count(conn) == 0
        assert area_counts_by_level(conn) == {"city": 0, "district": 0, "street": 0, "community": 0, "grid": 0}
        assert record_counts(conn) == {"incidents": 0, "work_orders": 0, "sensors": 0}
        assert overview(conn)["catalogue"].empty


def test_seeded_counts_version_and_catalogue(engine):
    seed_small_platform(engine, now=NOW)
    with engine.connect() as conn:
        data = overview(conn, now=NOW + dt.timedelta(minutes=10))
    assert data["areas_by_level"]["city"] == 1
    assert data["areas_by_level"]["district"] == 2
    assert data["data_version"] == 2
    rows = data["catalogue"].set_index("code")
    assert list(rows.index) == ["base.areas", "env.aq_hourly"]
    assert rows.loc["base.areas", "last_update_at"] == NOW
    assert rows.loc["base.areas", "freshness"] == "fresh"
    assert rows.loc["env.aq_hourly", "freshness"] == "stale"  # hourly, last seen five hours earlier
    assert rows.loc["base.areas", "row_count"] == 3


def seed_two_districts(engine) -> None:
    """Areas down to a grid in Haizhou, and incidents, work orders and sensors in Haizhou and Ganyu."""
    seed_small_platform(engine, now=NOW)
    h_street, h_community, h_grid = "320706001", "320706001002", "320706001002003"
    with engine.begin() as conn:
        conn.execute(insert(Area), [
            {"code": h_street, "level": "street", "name": "新浦街道", "name_en": "Xinpu", "parent_code": "320706"},
            {"code": h_community, "level": "community", "name": "朝阳社区", "name_en": "Chaoyang", "parent_code": h_street},
            {"code": h_grid, "level": "grid", "name": "网格3", "name_en": "Grid 3", "parent_code": h_community},
            {"code": "320707002", "level": "street", "name": "青口镇", "name_en": "Qingkou", "parent_code": "320707"},
        ])
        haizhou = {"district_code": "320706", "street_code": h_street, "community_code": h_community, "grid_code": h_grid}
        haizhou_street_only = {"district_code": "320706", "street_code": h_street, "community_code": None, "grid_code": None}
        ganyu = {"district_code": "320707", "street_code": "320707002", "community_code": None, "grid_code": None}
        conn.execute(insert(Incident), [
            {"id": f"I{n}", "category": "accident", "severity": 3, "status": "reported", "reported_at": NOW - dt.timedelta(minutes=n), **codes}
            for n, codes in enumerate([haizhou, haizhou, haizhou_street_only, ganyu, ganyu, ganyu, ganyu])
        ])
        conn.execute(insert(WorkOrder), [
            {"order_num": f"W{n}", "call_time": NOW, "state": "accepted", **codes} for n, codes in enumerate([haizhou, ganyu, ganyu])
        ])
        conn.execute(insert(Sensor), [{"id": f"S{n}", "kind": "aq", "status": "online", **codes} for n, codes in enumerate([haizhou_street_only, ganyu])])


def test_counts_within_a_users_areas(engine):
    seed_two_districts(engine)
    with engine.connect() as conn:
        city = overview(conn, now=NOW)
        haizhou = overview(conn, now=NOW, areas=["320706"])
        street = overview(conn, now=NOW, areas=["320706001"])
        grid = overview(conn, now=NOW, areas=["320706001002003"])
        between = record_counts(conn, ["3207060010"])  # a prefix between the street and community levels
        both = overview(conn, now=NOW, areas=["320706001", "320707"])
        overlapping = record_counts(conn, ["320706", "320706001"])
    assert city["records"] == {"incidents": 7, "work_orders": 3, "sensors": 2} and city["scope"] == []
    assert city["areas_by_level"] == {"city": 1, "district": 2, "street": 2, "community": 1, "grid": 1}
    assert haizhou["records"] == {"incidents": 3, "work_orders": 1, "sensors": 1}
    assert haizhou["areas_by_level"] == {"city": 0, "district": 1, "street": 1, "community": 1, "grid": 1}
    assert haizhou["scope"] == [{"code": "320706", "name": "海州区", "name_en": "Haizhou"}]
    assert street["records"] == {"incidents": 3, "work_orders": 1, "sensors": 1}
    assert grid["records"] == {"incidents": 2, "work_orders": 1, "sensors": 0} and grid["areas_by_level"]["grid"] == 1
    assert between == {"incidents": 2, "work_orders": 1, "sensors": 0}
    assert both["records"] == {"incidents": 7, "work_orders": 3, "sensors": 2}  # several areas: the union
    assert both["areas_by_level"] == {"city": 0, "district": 1, "street": 2, "community": 1, "grid": 1}
    assert [area["name_en"] for area in both["scope"]] == ["Xinpu", "Ganyu"]
    assert overlapping == haizhou["records"]  # nothing counted twice
    # The platform's own facts are the same for everyone.
    assert haizhou["data_version"] == city["data_version"] and haizhou["catalogue"].equals(city["catalogue"])


def test_latest_incidents_within_a_users_areas(engine):
    seed_two_districts(engine)
    with engine.connect() as conn:
        everywhere = [event.payload["incident_id"] for event in latest_incidents(conn, 4)]
        haizhou = [event.payload["incident_id"] for event in latest_incidents(conn, 8, ["320706"])]
        ganyu = [event.payload["incident_id"] for event in latest_incidents(conn, 2, ["320707"])]
    assert everywhere == ["I0", "I1", "I2", "I3"]  # newest first
    assert haizhou == ["I0", "I1", "I2"]
    assert ganyu == ["I3", "I4"]
