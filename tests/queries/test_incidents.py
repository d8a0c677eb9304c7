import datetime as dt

import pytest
import shapely
from sqlalchemy import insert

from queries.incidents import area_summary, incident_detail, list_incidents
from queries.schema import Area, Incident, IncidentEvent, WorkOrder

T = dt.datetime(2026, 11, 21, tzinfo=dt.timezone.utc)
HOUR = dt.timedelta(hours=1)


def codes(district):
    return {"district_code": district, "street_code": None, "community_code": None, "grid_code": None}


@pytest.fixture
def incident_db(engine):
    with engine.begin() as conn:
        box = shapely.MultiPolygon([shapely.box(0, 0, 1, 1)])
        conn.execute(insert(Area), [
            {"code": "320700", "level": "city", "name": "连云港市", "parent_code": None, "geom": box},
            {"code": "320706", "level": "district", "name": "海州区", "parent_code": "320700", "geom": box},
            {"code": "320703", "level": "district", "name": "连云区", "parent_code": "320700", "geom": box},
        ])
        conn.execute(insert(Incident), [
            {"id": "a", "category": "accident", "severity": 4, "status": "closed", "reported_at": T, "reporter_phone": "13812345678", **codes("320706")},
            {"id": "b", "category": "accident", "severity": 2, "status": "dispatched", "reported_at": T + HOUR, "reporter_phone": "13900000000", **codes("320706")},
            {"id": "c", "category": "natural_disaster", "severity": 4, "status": "reported", "reported_at": T + 2 * HOUR, "reporter_phone": None, **codes("320703")},
            {"id": "old", "category": "accident", "severity": 3, "status": "closed", "reported_at": T - 48 * HOUR, "reporter_phone": None, **codes("320706")},
        ])
        conn.execute(insert(IncidentEvent), [
            {"incident_id": "b", "status": "dispatched", "at": T + 1.5 * HOUR, "actor": "指挥中心"},
            {"incident_id": "b", "status": "reported", "at": T + HOUR, "actor": "110"},
        ])
        conn.execute(insert(WorkOrder), [
            {"order_num": "w1", "call_time": T, "state": "dispatched", "demand_type": "complaint", "deadline": T + HOUR, "complete_time": None, **codes("320706")},
            {"order_num": "w2", "call_time": T, "state": "completed", "demand_type": "consult", "deadline": T + HOUR, "complete_time": T + 0.5 * HOUR, **codes("320706")},
        ])
    return engine


def test_list_is_newest_first_filtered_and_without_personal_data(incident_db):
    with incident_db.connect() as conn:
        frame = list_incidents(conn, "320706", start=T, end=T + 24 * HOUR)
        city = list_incidents(conn, "320700", severities=[4], limit=1)
        personal = list_incidents(conn, "320706", include_personal=True, limit=1)
    assert frame["id"].tolist() == ["b", "a"] and "reporter_phone" not in frame
    assert city["id"].tolist() == ["c"]
    assert personal["reporter_phone"].tolist() == ["13900000000"]
    with pytest.raises(ValueError):
        list_incidents(incident_db.connect(), limit=0)


def test_detail_has_the_lifecycle_in_time_order(incident_db):
    with incident_db.connect() as conn:
        detail = incident_detail(conn, "b")
        assert incident_detail(conn, "nope") is None
    assert [e["status"] for e in detail["events"]] == ["reported", "dispatched"]
    assert "reporter_phone" not in detail


def test_area_summary_counts_with_data_times(incident_db):
    with incident_db.connect() as conn:
        summary = area_summary(conn, "320706", T, T + 24 * HOUR, at=T + 3 * HOUR)
    incidents = summary["incidents"]
    assert incidents["total"] == 2 and incidents["by_severity"] == {"2": 1, "4": 1} and incidents["open"] == 1
    assert incidents["by_category"] == {"accident": 2} and incidents["data_time"] == T + HOUR
    orders = summary["workorders"]
    assert orders["total"] == 2 and orders["overdue"] == 1 and orders["by_demand_type"] == {"complaint": 1, "consult": 1}
    assert summary["air_quality"]["aqi"] is None and summary["traffic"]["congestion_index"] is None
