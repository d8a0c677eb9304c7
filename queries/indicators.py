"""Indicator values for any area: latest with comparisons, and series.

Comparisons are taken from the newest value at or before the reference time (values arrive on
their own cycle, so an exact timestamp match cannot be assumed): vs yesterday = ts − 24 h,
vs last week = same hour 7 days earlier. Status against thresholds follows the indicator's good
direction: for "down" (lower is better, e.g. AQI) a value at or above the alarm threshold alarms;
for "up" (higher is better, e.g. online-handling rate) a value at or below it does.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select

from queries.cache import cached
from queries.db import read_frame
from queries.schema import Dataset, Indicator, IndicatorValue

COMPARISONS = {"yesterday": dt.timedelta(days=1), "last_week": dt.timedelta(days=7)}
INDICATOR_COLUMNS = ["code", "name_zh", "name_en", "unit", "domain", "good_direction", "warn_threshold", "alarm_threshold", "dataset_code", "aggregation"]


def threshold_status(value: float | None, good_direction: str, warn: float | None, alarm: float | None) -> str:
    """``ok``, ``warn``, ``alarm`` or ``unknown`` (no value)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "unknown"
    worse = (lambda v, limit: v <= limit) if good_direction == "up" else (lambda v, limit: v >= limit)
    if alarm is not None and worse(value, alarm):
        return "alarm"
    if warn is not None and worse(value, warn):
        return "warn"
    return "ok"


@cached(tables=("indicators", "datasets"))
def list_indicators(conn: Connection, codes: Sequence[str] | None = None, domain: str | None = None) -> pd.DataFrame:
    stmt = select(*(getattr(Indicator, c) for c in INDICATOR_COLUMNS), Dataset.name.label("dataset_name"), Dataset.provider, Dataset.update_cycle)
    stmt = stmt.outerjoin(Dataset, Dataset.code == Indicator.dataset_code).order_by(Indicator.code)
    if codes:
        stmt = stmt.where(Indicator.code.in_(list(codes)))
    if domain:
        stmt = stmt.where(Indicator.domain == domain)
    return read_frame(conn, stmt, [*INDICATOR_COLUMNS, "dataset_name", "provider", "update_cycle"])


@cached(tables=("indicator_values",))
def indicator_series(conn: Connection, indicator_code: str, area_code: str, start: dt.datetime | None = None, end: dt.datetime | None = None) -> pd.DataFrame:
    """``ts, value`` in time order over [start, end)."""
    stmt = select(IndicatorValue.ts, IndicatorValue.value).where(IndicatorValue.indicator_code == indicator_code, IndicatorValue.area_code == area_code)
    if start is not None:
        stmt = stmt.where(IndicatorValue.ts >= start)
    if end is not None:
        stmt = stmt.where(IndicatorValue.ts < end)
    return read_frame(conn, stmt.order_by(IndicatorValue.ts), ["ts", "value"])


def _value_at_or_before(conn: Connection, indicator_code: str, area_code: str, moment: dt.datetime) -> float | None:
    stmt = (
        select(IndicatorValue.value)
        .where(IndicatorValue.indicator_code == indicator_code, IndicatorValue.area_code == area_code, IndicatorValue.ts <= moment)
        .order_by(IndicatorValue.ts.desc())
        .limit(1)
    )
    return conn.execute(stmt).scalar()


@cached(tables=("indicators", "indicator_values", "datasets"))
def indicator_latest(conn: Connection, area_code: str, codes: Sequence[str] | None = None, as_of: dt.datetime | None = None) -> pd.DataFrame:
    """Per indicator: latest value and its data time (``ts``), the comparison values and changes, threshold status.

    ``as_of`` reads the situation at a past moment (playback); default: everything stored.
    """
    definitions = list_indicators(conn, codes)
    records = []
    for row in definitions.itertuples(index=False):
        stmt = select(IndicatorValue.ts, IndicatorValue.value).where(IndicatorValue.indicator_code == row.code, IndicatorValue.area_code == area_code)
        if as_of is not None:
            stmt = stmt.where(IndicatorValue.ts <= as_of)
        latest = conn.execute(stmt.order_by(IndicatorValue.ts.desc()).limit(1)).first()
        record = row._asdict()
        record.update(ts=None, value=None, status="unknown")
        if latest is not None:
            record.update(ts=latest.ts, value=latest.value)
            for name, delta in COMPARISONS.items():
                previous = _value_at_or_before(conn, row.code, area_code, latest.ts - delta)
                record[f"{name}_value"] = previous
                if previous is not None and latest.value is not None:
                    record[f"{name}_change"] = latest.value - previous
                    record[f"{name}_change_pct"] = None if previous == 0 else (latest.value - previous) / abs(previous) * 100
            record["status"] = threshold_status(latest.value, row.good_direction, row.warn_threshold, row.alarm_threshold)
        records.append(record)
    frame = pd.DataFrame.from_records(records)
    for name in COMPARISONS:
        for suffix in ("_value", "_change", "_change_pct"):
            if f"{name}{suffix}" not in frame:
                frame[f"{name}{suffix}"] = None
    return frame
