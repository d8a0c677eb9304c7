"""Freshness (鲜活度) of every catalogue dataset from its update cycle and last update.

A dataset is
* ``fresh`` while its age is within one update cycle plus half a cycle of grace (feeds jitter);
* ``late`` up to three cycles (one or two deliveries missed);
* ``stale`` beyond that: its numbers must look stale on screen;
* ``unknown`` when it was never updated or has no regular cycle (不定期).
"""
from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Connection, select

from queries.schema import Dataset
from queries.vocab import UPDATE_CYCLE_SECONDS

FRESH_GRACE = 1.5
LATE_LIMIT = 3.0
FRESHNESS_STATES = ("fresh", "late", "stale", "unknown")


def freshness_of(update_cycle: str, last_update_at: dt.datetime | None, now: dt.datetime) -> str:
    cycle = UPDATE_CYCLE_SECONDS.get(update_cycle)
    if cycle is None or last_update_at is None:
        return "unknown"
    age = (now - last_update_at).total_seconds()
    if age <= cycle * FRESH_GRACE:
        return "fresh"
    if age <= cycle * LATE_LIMIT:
        return "late"
    return "stale"


def dataset_freshness(conn: Connection, now: dt.datetime | None = None) -> pd.DataFrame:
    """Every dataset with its cycle, last update, age in seconds and freshness state."""
    now = now or dt.datetime.now(dt.timezone.utc)
    columns = [Dataset.code, Dataset.name, Dataset.name_en, Dataset.provider, Dataset.provider_en, Dataset.sharing_type, Dataset.update_cycle, Dataset.last_update_at, Dataset.row_count, Dataset.version]
    rows = conn.execute(select(*columns).order_by(Dataset.code)).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=[c.key for c in columns])
    # From the rows, not the frame: pandas turns a missing time into NaT, which compares as "stale".
    frame["age_s"] = [None if row.last_update_at is None else (now - row.last_update_at).total_seconds() for row in rows]
    frame["freshness"] = [freshness_of(row.update_cycle, row.last_update_at, now) for row in rows]
    return frame
