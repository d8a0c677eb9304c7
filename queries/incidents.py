"""Incident lists, one incident's detail with its lifecycle, and an area's summary.

Personal data (reporter name and phone, exact address) is left out unless the caller asks for it
with ``include_personal=True``; deciding who may ask is the access layer's job, not this one's.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Connection, and_, case, false, func, select

from queries.cache import cached
from queries.db import read_frame
from queries.drill import ancestry, filtered_points, get_area
from queries.environment import air_quality_in, station_air_quality
from queries.schema import Incident, IncidentEvent, WorkOrder
from queries.traffic import congestion_in, segment_congestion

PUBLIC_INCIDENT_COLUMNS = (
    "id", "category", "subtype", "severity", "status", "channel", "title", "description", "lon", "lat",
    "district_code", "street_code", "community_code", "grid_code", "reported_at", "accepted_at", "dispatched_at",
    "on_scene_at", "resolved_at", "closed_at", "casualties", "updated_at",
)
PERSONAL_INCIDENT_COLUMNS = ("address", "reporter_name", "reporter_phone")
MAX_LIMIT = 5000
WORK_ORDER_COLUMNS = (
    "order_num", "call_time", "source_type", "demand_type", "question_name", "title", "urgency", "state", "deadline",
    "complete_time", "organization_name", "is_secret", "is_supervised", "grid_code",
)
PERSONAL_WORK_ORDER_COLUMNS = ("caller_name", "caller_phone", "address")


def _area_filter(table, area: dict | None) -> list:
    if area is None or area["level"] == "city":
        return []
    return [getattr(table, f"{area['level']}_code") == area["code"]]


@cached(tables=("incidents", "areas"), area="area")
def list_incidents(conn: Connection, area: str | None = None, *, limit: int = 200, offset: int = 0, include_personal: bool = False, **filters) -> pd.DataFrame:
    """Incidents newest first, filtered as in ``queries.drill.filtered_points``."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be 1–{MAX_LIMIT}, not {limit}")
    names = PUBLIC_INCIDENT_COLUMNS + (PERSONAL_INCIDENT_COLUMNS if include_personal else ())
    _, where = filtered_points("incidents", **filters)
    where += _area_filter(Incident, get_area(conn, area) if area else None)
    stmt = select(*(getattr(Incident, n) for n in names)).where(*where).order_by(Incident.reported_at.desc(), Incident.id).limit(limit).offset(offset)
    return read_frame(conn, stmt, names)


def _overdue(at: dt.datetime):
    """A work order is overdue at ``at`` when its deadline has passed and it is not completed
    (the same rule as ``area_summary``'s ``overdue`` count)."""
    return and_(WorkOrder.deadline.is_not(None), WorkOrder.deadline < at, WorkOrder.complete_time.is_(None))


@cached(tables=("work_orders", "areas"), area="area")
def list_work_orders(conn: Connection, area: str | None = None, *, start: dt.datetime | None = None, end: dt.datetime | None = None,
                     at: dt.datetime | None = None, limit: int = 20, offset: int = 0, include_personal: bool = False) -> pd.DataFrame:
    """One page of an area's 12345 work orders called in [start, end), newest call first (order
    number breaks ties), each with ``overdue`` at ``at`` (default ``end``, else now).

    The page is the one ``area_summary``'s ``workorders.total`` counts, so a pager can use that
    total. Caller name, phone and address only with ``include_personal=True``.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be 1–{MAX_LIMIT}, not {limit}")
    if offset < 0:
        raise ValueError(f"offset must be 0 or more, not {offset}")
    at = at or end or dt.datetime.now(dt.timezone.utc)
    names = WORK_ORDER_COLUMNS + (PERSONAL_WORK_ORDER_COLUMNS if include_personal else ())
    _, where = filtered_points("workorders", start=start, end=end)
    where += _area_filter(WorkOrder, get_area(conn, area) if area else None)
    overdue = case((_overdue(at), True), else_=false()).label("overdue")
    stmt = (select(*(getattr(WorkOrder, n) for n in names), overdue).where(*where)
            .order_by(WorkOrder.call_time.desc(), WorkOrder.order_num).limit(limit).offset(offset))
    frame = read_frame(conn, stmt, (*names, "overdue"))
    return frame.astype({"overdue": bool, "is_secret": bool, "is_supervised": bool})


@cached(tables=("incidents", "incident_events"))
def incident_detail(conn: Connection, incident_id: str, include_personal: bool = False) -> dict | None:
    """One incident with its lifecycle steps in time order, or None."""
    names = PUBLIC_INCIDENT_COLUMNS + (PERSONAL_INCIDENT_COLUMNS if include_personal else ())
    row = conn.execute(select(*(getattr(Incident, n) for n in names)).where(Incident.id == incident_id)).first()
    if row is None:
        return None
    events = conn.execute(
        select(IncidentEvent.status, IncidentEvent.at, IncidentEvent.actor, IncidentEvent.note)
        .where(IncidentEvent.incident_id == incident_id).order_by(IncidentEvent.at, IncidentEvent.id)
    ).all()
    return {**row._asdict(), "events": [e._asdict() for e in events]}


def _incident_block(conn: Connection, where: list) -> dict:
    """Counts by severity and category, open ones and the newest report time, in one query."""
    is_open = Incident.status.not_in(["resolved", "closed"])
    stmt = select(Incident.severity, Incident.category, is_open.label("open"), func.count(), func.max(Incident.reported_at)).where(*where).group_by(Incident.severity, Incident.category, is_open)
    block = {"total": 0, "by_severity": {}, "by_category": {}, "open": 0, "data_time": None}
    for severity, category, open_, count, newest in conn.execute(stmt):
        block["total"] += count
        block["by_severity"][str(severity)] = block["by_severity"].get(str(severity), 0) + count
        block["by_category"][category] = block["by_category"].get(category, 0) + count
        block["open"] += count if open_ else 0
        block["data_time"] = newest if block["data_time"] is None else max(block["data_time"], newest)
    block["by_severity"] = dict(sorted(block["by_severity"].items()))
    return block


def _work_order_block(conn: Connection, where: list, at: dt.datetime) -> dict:
    """Counts by demand type and state, overdue ones and the newest call time, in one query."""
    overdue = _overdue(at)
    stmt = select(WorkOrder.demand_type, WorkOrder.state, overdue.label("overdue"), func.count(), func.max(WorkOrder.call_time)).where(*where).group_by(WorkOrder.demand_type, WorkOrder.state, overdue)
    block = {"total": 0, "by_demand_type": {}, "by_state": {}, "overdue": 0, "data_time": None}
    for demand_type, state, overdue_, count, newest in conn.execute(stmt):
        block["total"] += count
        block["by_demand_type"][demand_type] = block["by_demand_type"].get(demand_type, 0) + count
        block["by_state"][state] = block["by_state"].get(state, 0) + count
        block["overdue"] += count if overdue_ else 0
        block["data_time"] = newest if block["data_time"] is None else max(block["data_time"], newest)
    return block


@cached(tables=("incidents", "work_orders", "areas", "aq_readings", "sensors", "road_speeds", "road_segments"))
def area_summary(conn: Connection, area_code: str, start: dt.datetime, end: dt.datetime, at: dt.datetime | None = None) -> dict:
    """What an area looks like over [start, end): incidents and work orders by kind, AQI and congestion now.

    Every block carries the data time it reflects (the newest record counted, or the reading's time).
    One cache entry for the whole; pages that draw it while feeds write compose it from its
    separately cached blocks instead (``summary_from_blocks``).
    """
    return summary_from_blocks(lambda query, *args, **kwargs: query(conn, *args, **kwargs), area_code, start, end, at)


def summary_from_blocks(run, area_code: str, start: dt.datetime, end: dt.datetime, at: dt.datetime | None = None) -> dict:
    """``area_summary`` from its blocks, each read through ``run(query, *args, **kwargs)``: given
    a runner through the query cache, a new incident invalidates only the incident block, a road
    speed only the congestion block (a feed writing every few seconds otherwise made every
    console's summary a miss of all four)."""
    at = at or end
    path = ancestry(lambda code: run(get_area, code), area_code)
    return {
        "area": path[0],
        "from": start,
        "to": end,
        "incidents": run(area_incident_block, area_code, start, end),
        "workorders": run(area_work_order_block, area_code, start, end, at),
        # From the whole city's latest readings, shared by every area: readings arrive every few
        # seconds, and each area's own entry was a miss at nearly every step of a drill.
        "air_quality": air_quality_in(run(station_air_quality, at=at), path),
        "traffic": congestion_in(run(segment_congestion, at=at), path[0]),
    }


@cached(tables=("incidents", "areas"), area="area_code")
def area_incident_block(conn: Connection, area_code: str, start: dt.datetime, end: dt.datetime) -> dict:
    """Incidents reported in [start, end) in the area: counts by severity and category, open ones, newest report time."""
    _, where = filtered_points("incidents", start=start, end=end)
    return _incident_block(conn, where + _area_filter(Incident, get_area(conn, area_code)))


@cached(tables=("work_orders", "areas"), area="area_code")
def area_work_order_block(conn: Connection, area_code: str, start: dt.datetime, end: dt.datetime, at: dt.datetime) -> dict:
    """12345 work orders called in [start, end) in the area: counts by type and state, overdue at ``at``, newest call time."""
    _, where = filtered_points("workorders", start=start, end=end)
    return _work_order_block(conn, where + _area_filter(WorkOrder, get_area(conn, area_code)), at)
