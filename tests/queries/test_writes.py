import datetime as dt

import pytest
from sqlalchemy import func, select

from queries.schema import ALL_PARTITIONS, ChangeLog, Dataset, DatasetPartition, Resource
from queries.writes import data_version, ensure_dataset, record_change, upsert


def test_upsert_inserts_then_updates_by_natural_key(engine):
    rows = [{"id": "fs1", "kind": "fire_station", "name": "海州消防站", "capacity": 6.0}, {"id": "h1", "kind": "hospital", "name": "市一院", "capacity": 1200.0}]
    with engine.begin() as conn:
        upsert(conn, Resource.__table__, rows, key=["id"])
        upsert(conn, Resource.__table__, [{"id": "fs1", "kind": "fire_station", "name": "海州特勤站", "capacity": 8.0}], key=["id"])
        found = dict(conn.execute(select(Resource.id, Resource.name)).all())
        count = conn.execute(select(func.count()).select_from(Resource)).scalar_one()
    assert count == 2 and found == {"fs1": "海州特勤站", "h1": "市一院"}


def test_upsert_refuses_rows_with_different_keys(engine):
    with engine.begin() as conn, pytest.raises(ValueError, match="same keys"):
        upsert(conn, Resource.__table__, [{"id": "a", "kind": "shelter", "name": "x"}, {"id": "b", "kind": "shelter"}], key=["id"])


def test_upsert_keeps_the_last_row_of_a_repeated_key_and_fills_column_defaults(engine):
    rows = [{"id": f"r{i % 2500}", "kind": "shelter", "name": f"避难场所{i}"} for i in range(5000)]  # big enough for COPY
    with engine.begin() as conn:
        assert upsert(conn, Resource.__table__, rows, key=["id"]) == 2500
        names = dict(conn.execute(select(Resource.id, Resource.name)).all())
    assert names["r0"] == "避难场所2500" and len(names) == 2500


def test_upsert_large_batches_round_trip_every_type(engine):
    """The bulk paths (COPY on PostgreSQL, executemany on SQLite) store what the plain path stores."""
    import datetime as dt

    import shapely

    from queries.schema import Incident

    when = dt.datetime(2026, 11, 21, 8, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    rows = [{"id": f"i{i}", "category": "accident", "severity": 4, "status": "reported", "reported_at": when,
             "lon": 119.2, "lat": 34.6, "geom": shapely.Point(119.2, 34.6 + i * 1e-6)} for i in range(3000)]
    with engine.begin() as conn:
        upsert(conn, Incident.__table__, rows, key=["id"])
        shelters = [{"id": f"s{i}", "kind": "shelter", "name": "x", "properties": {"楼层": i, "open": True}} for i in range(3000)]
        upsert(conn, Resource.__table__, shelters, key=["id"])
        got = conn.execute(select(Incident.reported_at, Incident.geom).where(Incident.id == "i2999")).one()
        props = conn.execute(select(Resource.properties).where(Resource.id == "s3")).scalar_one()
    assert got.reported_at == when and got.geom.equals(shapely.Point(119.2, 34.6 + 2999e-6))
    assert props == {"楼层": 3, "open": True}


@pytest.mark.parametrize("rows", [10, 3000])
def test_upsert_stores_nan_and_nat_as_null(engine, rows):
    import math

    import pandas as pd

    batch = [{"id": f"r{i}", "kind": "shelter", "name": "x", "address": math.nan, "capacity": math.nan, "updated_at": pd.NaT} for i in range(rows)]
    with engine.begin() as conn:
        upsert(conn, Resource.__table__, batch, key=["id"])
        stored = conn.execute(select(Resource.address, Resource.capacity, Resource.updated_at).where(Resource.id == "r1")).one()
    assert tuple(stored) == (None, None, None)


def test_upsert_chunks_large_batches(engine):
    rows = [{"id": f"r{i}", "kind": "shelter", "name": f"避难场所{i}"} for i in range(12000)]
    with engine.begin() as conn:
        assert upsert(conn, Resource.__table__, rows, key=["id"]) == 12000
        assert conn.execute(select(func.count()).select_from(Resource)).scalar_one() == 12000


def test_record_change_bumps_versions_and_catalogue(engine):
    data_time = dt.datetime(2026, 11, 21, 3, tzinfo=dt.timezone.utc)
    with engine.begin() as conn:
        assert data_version(conn) == 0
        ensure_dataset(conn, "emergency_resources", name="应急资源", provider="市应急管理局", update_cycle="每日")
        ensure_dataset(conn, "emergency_resources", name="ignored", provider="ignored")
        first = record_change(conn, "emergency_resources", "ingest", 5, row_count=5, data_time=data_time)
        second = record_change(conn, "emergency_resources", "ingest", 2, row_count=7)
        dataset = conn.execute(select(Dataset.__table__).where(Dataset.code == "emergency_resources")).one()
        assert (first, second) == (1, 2) and data_version(conn) == 2
        assert dataset.name == "应急资源" and dataset.update_cycle == "daily"
        assert dataset.version == 2 and dataset.row_count == 7 and dataset.last_update_at > data_time
        assert conn.execute(select(func.count()).select_from(ChangeLog)).scalar_one() == 2


def partition_versions(conn, code: str) -> dict[str, int]:
    rows = conn.execute(select(DatasetPartition.partition, DatasetPartition.version).where(DatasetPartition.dataset_code == code))
    return dict(rows.all())


def test_record_change_bumps_the_districts_it_names_or_all_of_them(engine):
    with engine.begin() as conn:
        ensure_dataset(conn, "incidents", name="突发事件", provider="市应急管理局")
        record_change(conn, "incidents", "ingest", 2, partitions=["320706", "320707", None])
        record_change(conn, "incidents", "ingest", 1, partitions={"320706"})
        assert partition_versions(conn, "incidents") == {"320706": 2, "320707": 1}
        record_change(conn, "incidents", "ingest", 1)  # not told: every district's answers count as changed
        record_change(conn, "incidents", "ingest", 1, partitions=[None])  # rows without a district: the city's version only
        assert partition_versions(conn, "incidents") == {"320706": 2, "320707": 1, ALL_PARTITIONS: 1}
        assert conn.execute(select(Dataset.version).where(Dataset.code == "incidents")).scalar_one() == 4


def test_a_rolled_back_change_leaves_no_trace(engine):
    try:
        with engine.begin() as conn:
            ensure_dataset(conn, "x", name="x", provider="p")
            record_change(conn, "x", "ingest", 1)
            raise RuntimeError("import failed")
    except RuntimeError:
        pass
    with engine.connect() as conn:
        assert data_version(conn) == 0
        assert conn.execute(select(func.count()).select_from(Dataset)).scalar_one() == 0
