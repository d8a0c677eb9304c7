import datetime as dt

import pytest
import shapely
from sqlalchemy import insert

from queries.incidents import (
    area_summary,
    incident_detail,
    list_incidents,
    list_work_orders,
)
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


# --- a unit grid's work orders, paged ------------------------------------------------------------

GRID = "320706001001001"
SECRET_PHONE = "13955556666"


@pytest.fixture
def order_db(engine):
    """One grid with 23 work orders over two days (some overdue, some completed, two with the same
    call time, one without a deadline) and one order in another grid."""
    with engine.begin() as conn:
        box = shapely.MultiPolygon([shapely.box(0, 0, 1, 1)])
        conn.execute(insert(Area), [
            {"code": "320700", "level": "city", "name": "连云港市", "parent_code": None, "geom": box},
            {"code": "320706", "level": "district", "name": "海州区", "parent_code": "320700", "geom": box},
            {"code": "320706001", "level": "street", "name": "新浦街道", "parent_code": "320706", "geom": box},
            {"code": "320706001001", "level": "community", "name": "朝阳社区", "parent_code": "320706001", "geom": box},
            {"code": GRID, "level": "grid", "name": "网格1", "parent_code": "320706001001", "geom": box},
            {"code": "320706001001002", "level": "grid", "name": "网格2", "parent_code": "320706001001", "geom": box},
        ])
        rows = []
        for i in range(23):
            completed = i % 3 == 0
            rows.append({
                "order_num": f"g{i:02d}", "call_time": T + (i // 2) * 2 * HOUR, "state": "completed" if completed else "dispatched",
                "demand_type": ("complaint", "help", "consult")[i % 3], "title": f"第{i}号 来电 13812345{i:03d}",
                "deadline": None if i == 5 else T + (i + 4) * HOUR, "complete_time": T + (i + 1) * HOUR if completed else None,
                "caller_name": "王小明", "caller_phone": SECRET_PHONE if i == 7 else f"1390000{i:04d}", "address": f"朝阳路{i}号",
                "is_secret": i == 7, "district_code": "320706", "street_code": "320706001", "community_code": "320706001001", "grid_code": GRID,
            })
        rows.append({"order_num": "other", "call_time": T + HOUR, "state": "dispatched", "demand_type": "help", "deadline": T,
                     "complete_time": None, "title": None, "caller_name": None, "caller_phone": None, "address": None, "is_secret": False,
                     "district_code": "320706", "street_code": "320706001", "community_code": "320706001001", "grid_code": "320706001001002"})
        conn.execute(insert(WorkOrder), rows)
    return engine, rows


def expected_page(rows, *, start, end, at, limit, offset, grid=GRID):
    """The page computed from the inserted rows in Python: newest call first, then order number."""
    chosen = [r for r in rows if r["grid_code"] == grid and start <= r["call_time"] < end]
    chosen.sort(key=lambda r: r["order_num"])
    chosen.sort(key=lambda r: r["call_time"], reverse=True)
    page = chosen[offset:offset + limit]
    return [(r["order_num"], r["deadline"] is not None and r["deadline"] < at and r["complete_time"] is None) for r in page], len(chosen)


def test_work_orders_of_a_grid_paged_newest_first_with_overdue(order_db):
    engine, rows = order_db
    start, end, at = T, T + 24 * HOUR, T + 14 * HOUR
    seen = []
    with engine.connect() as conn:
        summary = area_summary(conn, GRID, start, end, at=at)
        for offset in range(0, 30, 10):
            page = list_work_orders(conn, GRID, start=start, end=end, at=at, limit=10, offset=offset)
            expected, total = expected_page(rows, start=start, end=end, at=at, limit=10, offset=offset)
            assert list(zip(page["order_num"], page["overdue"])) == expected
            seen += page["order_num"].tolist()
    assert total == 23 == summary["workorders"]["total"] and len(seen) == len(set(seen)) == 23
    overdue = [number for number, late in expected_page(rows, start=start, end=end, at=at, limit=100, offset=0)[0] if late]
    assert summary["workorders"]["overdue"] == len(overdue) > 0
    assert "g05" not in overdue  # no deadline: never overdue


def test_work_orders_window_area_and_personal_columns(order_db):
    engine, rows = order_db
    with engine.connect() as conn:
        window = list_work_orders(conn, "320706", start=T + 4 * HOUR, end=T + 8 * HOUR, limit=50)
        clear = list_work_orders(conn, GRID, start=T, end=T + 48 * HOUR, limit=50, include_personal=True)
        plain = list_work_orders(conn, GRID, start=T, end=T + 48 * HOUR, limit=50)
        empty = list_work_orders(conn, GRID, start=T + 100 * HOUR, end=T + 101 * HOUR)
    expected, _ = expected_page(rows, start=T + 4 * HOUR, end=T + 8 * HOUR, at=T + 8 * HOUR, limit=50, offset=0)
    assert window["order_num"].tolist() == [number for number, _ in expected]  # the district holds the grid's orders
    assert "caller_phone" not in plain and "address" not in plain and "caller_name" not in plain
    by_number = dict(zip(clear["order_num"], clear["caller_phone"]))
    assert by_number["g07"] == SECRET_PHONE and clear.loc[clear["order_num"] == "g07", "is_secret"].item()
    assert empty.empty and list(empty.columns) == list(plain.columns)
    with pytest.raises(ValueError):
        list_work_orders(engine.connect(), GRID, limit=0)
    with pytest.raises(ValueError):
        list_work_orders(engine.connect(), GRID, offset=-1)


def test_the_summary_from_cached_blocks_is_the_summary_and_a_new_incident_recomputes_its_block_only(incident_db):
    """``summary_from_blocks`` through the query cache equals ``area_summary``; after an incident is
    written only the incident block is computed again (the work-order, AQI and congestion blocks
    stay cached), and the new incident is counted."""
    from queries.cache import QueryCache
    from queries.incidents import summary_from_blocks
    from queries.writes import ensure_dataset, record_change

    with incident_db.begin() as conn:
        ensure_dataset(conn, "emergency.incidents", name="突发事件", update_cycle="realtime")
        record_change(conn, "emergency.incidents", "ingest", 4, tables=["incidents"], row_count=4)
    cache = QueryCache(None)

    def run(query, *args, **kwargs):
        return cache.call(incident_db, query, *args, **kwargs)

    window = (T, T + 24 * HOUR)
    with incident_db.connect() as conn:
        assert summary_from_blocks(run, "320706", *window) == area_summary(conn, "320706", *window)
    computed = cache.counters.computations
    summary_from_blocks(run, "320706", *window)
    assert cache.counters.computations == computed  # all hits

    with incident_db.begin() as conn:
        conn.execute(insert(Incident), [{"id": "new", "category": "accident", "severity": 1, "status": "reported", "reported_at": T + 3 * HOUR, **codes("320706")}])
        record_change(conn, "emergency.incidents", "ingest", 1, tables=["incidents"], row_count=5)
    after = summary_from_blocks(run, "320706", *window)
    assert cache.counters.computations == computed + 1
    assert after["incidents"]["total"] == 3 and after["incidents"]["by_severity"]["1"] == 1
