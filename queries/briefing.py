"""The numbers of the leaders' briefing that no other query gives directly: what needs attention,
the 12345 hotline's day, congestion now against the usual for this hour, the worst stations.

Everything carries the data time it reflects; the briefing prints it on every page.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd
from sqlalchemy import Connection, and_, func, select

from queries.cache import cached
from queries.drill import get_area
from queries.environment import station_air_quality
from queries.freshness import dataset_freshness
from queries.indicators import indicator_latest
from queries.schema import Incident, WorkOrder
from queries.traffic import congestion_series

OPEN_INCIDENT = Incident.status.not_in(["resolved", "closed"])
USUAL_DAYS = 7  # "usual" congestion: the same hour on each of the previous seven days


def _in_area(table, area: dict) -> list:
    return [] if area["level"] == "city" else [getattr(table, f"{area['level']}_code") == area["code"]]


@cached(tables=("incidents", "areas", "indicators", "indicator_values", "datasets"))
def attention_items(conn: Connection, area_code: str, now: dt.datetime, limit: int = 10) -> list[dict]:
    """What needs attention first, most urgent first: open severity I/II incidents, indicators past
    their alarm then warn threshold, datasets that missed their update cycle (stale, then late).

    Cached (one statement per indicator otherwise: the briefing's most expensive section, asked
    by every leader's tablet; the load test, bench/load.py, found it); ``now`` is to the minute."""
    area = get_area(conn, area_code)
    items: list[dict] = []
    majors = conn.execute(
        select(Incident.id, Incident.severity, Incident.title, Incident.category, Incident.status, Incident.reported_at, Incident.district_code)
        .where(OPEN_INCIDENT, Incident.severity <= 2, *_in_area(Incident, area))
        .order_by(Incident.severity, Incident.reported_at.desc())
        .limit(limit)
    ).all()
    items += [{"kind": "incident", "rank": 0, **row._asdict(), "data_time": row.reported_at} for row in majors]
    indicators = indicator_latest(conn, area_code)
    for row in indicators.itertuples(index=False):
        if row.status in ("alarm", "warn"):
            items.append({"kind": "indicator", "rank": 1 if row.status == "alarm" else 2, "code": row.code, "name_zh": row.name_zh,
                          "name_en": row.name_en, "value": row.value, "unit": row.unit, "status": row.status,
                          "threshold": row.alarm_threshold if row.status == "alarm" else row.warn_threshold, "data_time": row.ts})
    catalogue = dataset_freshness(conn, now)
    for row in catalogue.itertuples(index=False):
        if row.freshness in ("stale", "late"):
            items.append({"kind": "dataset", "rank": 3 if row.freshness == "stale" else 4, "code": row.code, "name": row.name,
                          "name_en": row.name_en, "provider": row.provider, "provider_en": row.provider_en, "freshness": row.freshness,
                          "update_cycle": row.update_cycle, "data_time": row.last_update_at})
    items.sort(key=lambda item: item["rank"])
    return items[:limit]


@cached(tables=("incidents", "areas"))
def open_incidents(conn: Connection, area_code: str, severities: Sequence[int] = (1, 2, 3), limit: int = 10) -> dict:
    """Open incidents of the given severities, most severe then newest first, and how many in all."""
    area = get_area(conn, area_code)
    where = [OPEN_INCIDENT, Incident.severity.in_([int(s) for s in severities]), *_in_area(Incident, area)]
    total = conn.execute(select(func.count()).select_from(Incident).where(*where)).scalar_one()
    rows = conn.execute(
        select(Incident.id, Incident.severity, Incident.category, Incident.title, Incident.status, Incident.reported_at,
               Incident.district_code, Incident.street_code)
        .where(*where).order_by(Incident.severity, Incident.reported_at.desc()).limit(limit)
    ).all()
    return {"total": int(total), "rows": [row._asdict() for row in rows], "data_time": max((r.reported_at for r in rows), default=None)}


@cached(tables=("work_orders", "areas"))
def hotline_day(conn: Connection, area_code: str, start: dt.datetime, end: dt.datetime, top: int = 5) -> dict:
    """12345 orders called in [start, end): volume, the top topics, and every open order past its deadline."""
    area = get_area(conn, area_code)
    scope = _in_area(WorkOrder, area)
    in_window = [WorkOrder.call_time >= start, WorkOrder.call_time < end, *scope]
    volume, newest = conn.execute(select(func.count(), func.max(WorkOrder.call_time)).where(*in_window)).one()
    topics = conn.execute(
        select(WorkOrder.question_name, func.count().label("count")).where(*in_window, WorkOrder.question_name.is_not(None))
        .group_by(WorkOrder.question_name).order_by(func.count().desc(), WorkOrder.question_name).limit(top)
    ).all()
    overdue = conn.execute(
        select(func.count()).select_from(WorkOrder).where(and_(WorkOrder.deadline < end, WorkOrder.complete_time.is_(None)), *scope)
    ).scalar_one()
    return {"volume": int(volume), "topics": [{"name": t.question_name, "count": int(t.count)} for t in topics],
            "overdue": int(overdue), "data_time": newest}


@cached(tables=("road_speeds", "road_segments", "areas"))
def usual_congestion(conn: Connection, area_code: str, at: dt.datetime) -> float | None:
    """The area's mean congestion index at this hour of the day over the previous ``USUAL_DAYS`` days."""
    # In UTC: the series' times are UTC, and "the same hour" is compared on them.
    at = at.astimezone(dt.timezone.utc) if at.tzinfo else at.replace(tzinfo=dt.timezone.utc)
    hour_start = at.replace(minute=0, second=0, microsecond=0)
    series = congestion_series(conn, area_code, hour_start - dt.timedelta(days=USUAL_DAYS), hour_start)
    if series.empty:
        return None
    times = pd.to_datetime(series["ts"], utc=True)
    same_hour = series[times.dt.hour == hour_start.hour]
    return None if same_hour.empty else round(float(same_hour["congestion_index"].astype("float64").mean()), 2)


@cached(tables=("aq_readings", "sensors", "areas"))
def worst_stations(conn: Connection, area_code: str, at: dt.datetime | None = None, count: int = 5) -> pd.DataFrame:
    """The stations of the area with the highest AQI now (all of the city's when the area has none)."""
    area = get_area(conn, area_code)
    stations = station_air_quality(conn, at)
    if area["level"] != "city":
        inside = stations[stations[f"{area['level']}_code"] == area["code"]]
        stations = inside if not inside.empty else stations
    return stations.dropna(subset=["aqi"]).sort_values(["aqi", "station_id"], ascending=[False, True]).head(count).reset_index(drop=True)
