import datetime as dt

import pytest
import shapely
from sqlalchemy import insert, inspect, select, text
from sqlalchemy.exc import StatementError

from queries.migrate import current_revision, ensure_schema, head_revision
from queries.schema import Area, Base, Incident

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def test_schema_is_at_head_with_every_table(engine):
    assert current_revision(engine) == head_revision()
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    assert ensure_schema(engine) == head_revision()  # idempotent


def test_postgis_has_geometry_columns_with_gist_indexes(pg_engine):
    with pg_engine.connect() as conn:
        types = dict(conn.execute(text("SELECT f_table_name, type FROM geometry_columns")).all())
        gist = conn.execute(text("SELECT tablename FROM pg_indexes WHERE indexdef LIKE '%USING gist%'")).scalars().all()
    assert types["areas"] == "MULTIPOLYGON" and types["incidents"] == "POINT" and types["road_segments"] == "LINESTRING"
    assert {"areas", "incidents", "work_orders", "road_segments", "sensors", "resources"} <= set(gist)


def test_geometry_and_times_round_trip(engine):
    shape = shapely.MultiPolygon([shapely.box(119.1, 34.5, 119.2, 34.6), shapely.box(119.4, 34.7, 119.5, 34.8)])
    local = dt.datetime(2026, 11, 21, 8, 30, tzinfo=SHANGHAI)
    with engine.begin() as conn:
        conn.execute(insert(Area).values(code="320706", level="district", name="海州区", geom=shape, updated_at=local))
        geom, updated = conn.execute(select(Area.geom, Area.updated_at)).one()
    assert geom.equals(shape)
    assert updated == local and updated.tzinfo == dt.timezone.utc and updated.hour == 0


def test_postgis_sees_the_geometry_spatially(pg_engine):
    with pg_engine.begin() as conn:
        conn.execute(insert(Area).values(code="320706", level="district", name="海州区", geom=shapely.MultiPolygon([shapely.box(0, 0, 1, 1)])))
        inside = conn.execute(text("SELECT code FROM areas WHERE ST_Contains(geom, ST_SetSRID(ST_Point(0.5, 0.5), 4326))")).scalars().all()
    assert inside == ["320706"]


def test_naive_datetimes_are_refused(engine):
    with pytest.raises(StatementError, match="naive datetime"):
        with engine.begin() as conn:
            conn.execute(insert(Incident).values(id="x", category="accident", severity=4, status="reported", reported_at=dt.datetime(2026, 1, 1)))


def test_sqlite_time_ranges_compare_correctly(engine):
    base = dt.datetime(2026, 11, 21, tzinfo=dt.timezone.utc)
    with engine.begin() as conn:
        for i in range(3):
            conn.execute(insert(Incident).values(id=f"i{i}", category="accident", severity=4, status="reported", reported_at=base + dt.timedelta(hours=i)))
        found = conn.execute(select(Incident.id).where(Incident.reported_at >= base + dt.timedelta(hours=1)).order_by(Incident.id)).scalars().all()
    assert found == ["i1", "i2"]
