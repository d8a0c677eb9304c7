import datetime as dt

import pytest
import shapely
from sqlalchemy import insert

from queries.drill import UnknownArea, child_counts
from queries.schema import Area, Incident, WorkOrder

T0 = dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc)
AREAS = [
    ("320700", "city", None), ("320706", "district", "320700"), ("320703", "district", "320700"),
    ("320706001", "street", "320706"), ("320706002", "street", "320706"),
    ("320706001001", "community", "320706001"), ("320706001001001", "grid", "320706001001"), ("320706001001002", "grid", "320706001001"),
]
# (id, grid, severity, category, hours after T0)
INCIDENTS = [
    ("a", "320706001001001", 4, "accident", 1), ("b", "320706001001001", 2, "accident", 2),
    ("c", "320706001001002", 4, "natural_disaster", 3), ("d", None, 3, "accident", 4),  # street-level only
    ("e", "320703", 1, "public_health", 5), ("f", "320706001001002", 4, "accident", 30),
]


def _codes(grid_or_district):
    if grid_or_district is None:
        return {"district_code": "320706", "street_code": "320706002", "community_code": None, "grid_code": None}
    if len(grid_or_district) == 6:
        return {"district_code": grid_or_district, "street_code": None, "community_code": None, "grid_code": None}
    g = grid_or_district
    return {"district_code": g[:6], "street_code": g[:9], "community_code": g[:12], "grid_code": g}


@pytest.fixture
def drill_db(engine):
    with engine.begin() as conn:
        conn.execute(insert(Area), [{"code": c, "level": lv, "name": f"区域{c}", "parent_code": p, "geom": shapely.MultiPolygon([shapely.box(0, 0, 1, 1)])} for c, lv, p in AREAS])
        conn.execute(insert(Incident), [
            {"id": i, "severity": sev, "category": cat, "status": "reported", "reported_at": T0 + dt.timedelta(hours=h), **_codes(g)}
            for i, g, sev, cat, h in INCIDENTS
        ])
        conn.execute(insert(WorkOrder), [{"order_num": "w1", "call_time": T0, "state": "accepted", "demand_type": "complaint", **_codes("320706001001002")}])
    return engine


def as_dict(frame):
    return dict(zip(frame["code"], frame["value"]))


def test_city_to_districts(drill_db):
    with drill_db.connect() as conn:
        assert as_dict(child_counts(conn, "320700")) == {"320703": 1, "320706": 5}


def test_district_to_streets_lists_zero_children(drill_db):
    with drill_db.connect() as conn:
        assert as_dict(child_counts(conn, "320706")) == {"320706001": 4, "320706002": 1}
        assert as_dict(child_counts(conn, "320703")) == {}


def test_community_to_grids_with_filters(drill_db):
    with drill_db.connect() as conn:
        assert as_dict(child_counts(conn, "320706001001")) == {"320706001001001": 2, "320706001001002": 2}
        window = {"start": T0, "end": T0 + dt.timedelta(days=1)}
        assert as_dict(child_counts(conn, "320706001001", **window)) == {"320706001001001": 2, "320706001001002": 1}
        assert as_dict(child_counts(conn, "320706001001", severities=[4], categories=["accident"])) == {"320706001001001": 1, "320706001001002": 1}


def test_grid_has_no_children_and_workorders_count_too(drill_db):
    with drill_db.connect() as conn:
        assert child_counts(conn, "320706001001001").empty
        assert as_dict(child_counts(conn, "320706001001", source="workorders")) == {"320706001001001": 0, "320706001001002": 1}


def test_unknown_area(drill_db):
    with drill_db.connect() as conn, pytest.raises(UnknownArea):
        child_counts(conn, "999999")
