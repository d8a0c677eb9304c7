import datetime as dt

import h3
import pytest
import shapely
from sqlalchemy import insert

from queries.grid import grid_aggregate, h3_aggregate, has_grids
from queries.schema import Area, Incident, Sensor

T = dt.datetime(2026, 11, 21, tzinfo=dt.timezone.utc)
G1, G2 = "320706001001001", "320706001001002"


@pytest.fixture
def points_db(engine):
    box = shapely.MultiPolygon([shapely.box(119.1, 34.5, 119.2, 34.6)])
    with engine.begin() as conn:
        conn.execute(insert(Area), [
            {"code": "320706", "level": "district", "name": "海州区", "parent_code": None, "geom": box},
            {"code": "320706001", "level": "street", "name": "街道", "parent_code": "320706", "geom": box},
            {"code": "320706001001", "level": "community", "name": "社区", "parent_code": "320706001", "geom": box},
            {"code": G1, "level": "grid", "name": "网格1", "parent_code": "320706001001", "geom": box},
            {"code": G2, "level": "grid", "name": "网格2", "parent_code": "320706001001", "geom": box},
        ])
        rows = []
        for i, (grid, sev, lon) in enumerate([(G1, 4, 119.12), (G1, 2, 119.12), (G2, 4, 119.18), (None, 4, 119.5)]):
            codes = {"district_code": "320706", "street_code": "320706001", "community_code": "320706001001", "grid_code": grid} if grid else dict.fromkeys(["district_code", "street_code", "community_code", "grid_code"])
            rows.append({"id": f"i{i}", "category": "accident", "severity": sev, "status": "reported", "reported_at": T, "lon": lon, "lat": 34.55, **codes})
        conn.execute(insert(Incident), rows)
        conn.execute(insert(Sensor), [
            {"id": "s1", "kind": "smoke", "status": "alarm", "grid_code": G1, "district_code": "320706", "lon": 119.12, "lat": 34.55},
            {"id": "s2", "kind": "smoke", "status": "online", "grid_code": G1, "district_code": "320706", "lon": 119.12, "lat": 34.55},
        ])
    return engine


def test_counts_and_means_per_grid(points_db):
    with points_db.connect() as conn:
        counts = grid_aggregate(conn, "incidents", within="320706")
        means = grid_aggregate(conn, "incidents", value_column="severity")
        severe = grid_aggregate(conn, "incidents", severities=[2])
        sensors = grid_aggregate(conn, "sensors", statuses=["alarm"], with_geometry=True)
    assert dict(zip(counts["code"], counts["count"])) == {G1: 2, G2: 1}
    assert dict(zip(means["code"], means["mean"])) == {G1: 3.0, G2: 4.0}
    assert severe["code"].tolist() == [G1]
    assert sensors["code"].tolist() == [G1] and sensors.geometry.iloc[0].area > 0


def test_h3_fallback_counts_every_point(points_db):
    with points_db.connect() as conn:
        cells = h3_aggregate(conn, "incidents", resolution=7)
        assert has_grids(conn)
    expected = {}
    for lon in (119.12, 119.12, 119.18, 119.5):
        cell = h3.latlng_to_cell(34.55, lon, 7)
        expected[cell] = expected.get(cell, 0) + 1
    assert dict(zip(cells["h3"], cells["count"])) == expected
    with pytest.raises(ValueError):
        h3_aggregate(points_db.connect(), resolution=16)


def test_has_grids_false_when_only_districts(engine):
    with engine.begin() as conn:
        conn.execute(insert(Area), [{"code": "320706", "level": "district", "name": "海州区", "parent_code": None, "geom": None}])
        assert not has_grids(conn)
