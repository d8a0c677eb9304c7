"""queries.overview: what the home page and ``cityops serve`` read, on SQLite and PostGIS."""
from __future__ import annotations

import datetime as dt

from queries.overview import area_count, area_counts_by_level, overview, record_counts
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
