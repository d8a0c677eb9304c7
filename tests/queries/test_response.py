import math

import pytest
import shapely
from sqlalchemy import insert

from queries.response import DETOUR_FACTOR, FALLBACK_SPEED_KMH, haversine_m, nearest_resources
from queries.schema import Resource, RoadSegment


def test_haversine_one_degree_of_latitude():
    assert haversine_m(119.0, 34.0, 119.0, 35.0) == pytest.approx(111_195, rel=1e-3)


RESOURCES = [
    {"id": "fs-near", "kind": "fire_station", "name": "近站", "lon": 119.01, "lat": 34.0, "capacity": 6, "capacity_unit": "辆"},
    {"id": "fs-far", "kind": "fire_station", "name": "远站", "lon": 119.05, "lat": 34.0, "capacity": 4, "capacity_unit": "辆"},
    {"id": "h1", "kind": "hospital", "name": "医院", "lon": 119.0, "lat": 34.02, "capacity": 800, "capacity_unit": "床"},
]


def test_straight_line_fallback_without_network(engine):
    with engine.begin() as conn:
        conn.execute(insert(Resource), RESOURCES)
        frame = nearest_resources(conn, 119.0, 34.0, per_kind=1)
    assert frame["id"].tolist() == ["fs-near", "h1"]
    near = frame.iloc[0]
    expected = haversine_m(119.0, 34.0, 119.01, 34.0) * DETOUR_FACTOR / (FALLBACK_SPEED_KMH / 3.6)
    assert near["method"] == "straight_line" and near["travel_s"] == pytest.approx(expected)


def test_network_time_can_reorder_by_straight_line(engine):
    """The far station sits on an expressway; the near one behind a slow detour: the far one is quicker."""
    def seg(i, a, b, coords, cls, limit, length):
        return {"id": i, "from_node": a, "to_node": b, "geom": shapely.LineString(coords), "road_class": cls, "speed_limit_kmh": limit, "length_m": length, "oneway": False}

    with engine.begin() as conn:
        conn.execute(insert(Resource), RESOURCES)
        conn.execute(insert(RoadSegment), [
            seg("e1", "n0", "n5", [(119.0, 34.0), (119.05, 34.0)], "expressway", 120, 4600),  # 84 km/h effective
            seg("b1", "n0", "nx", [(119.0, 34.0), (119.0, 34.01)], "branch", 20, 1100),  # 14 km/h detour…
            seg("b2", "nx", "n1", [(119.0, 34.01), (119.01, 34.0)], "branch", 20, 1400),
        ])
        frame = nearest_resources(conn, 119.0, 34.0, kinds=["fire_station"], per_kind=2)
    assert frame["id"].tolist() == ["fs-far", "fs-near"] and set(frame["method"]) == {"network"}
    assert frame.iloc[0]["travel_s"] == pytest.approx(4600 / (84 / 3.6))
    assert frame.iloc[1]["travel_s"] == pytest.approx(2500 / (14 / 3.6))
    assert frame.iloc[1]["distance_m"] < frame.iloc[0]["distance_m"]


def test_unreachable_resource_falls_back(engine):
    with engine.begin() as conn:
        conn.execute(insert(Resource), RESOURCES[:1])
        conn.execute(insert(RoadSegment), [
            {"id": "a", "from_node": "p", "to_node": "q", "geom": shapely.LineString([(119.0, 34.0), (119.001, 34.0)]), "road_class": "branch", "length_m": 100},
            {"id": "b", "from_node": "r", "to_node": "s", "geom": shapely.LineString([(119.009, 34.0), (119.01, 34.0)]), "road_class": "branch", "length_m": 100},
        ])
        frame = nearest_resources(conn, 119.0, 34.0)
    assert frame.iloc[0]["method"] == "straight_line" and math.isfinite(frame.iloc[0]["travel_s"])
