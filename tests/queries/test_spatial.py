import geopandas as gpd
import numpy as np
import shapely

from queries.spatial import assign_points

# A district with one street and one community; the community has two grids: one a square with a
# hole (a lake), one a MultiPolygon (mainland strip plus an island).
HOLED = shapely.Polygon([(0, 0), (0.5, 0), (0.5, 1), (0, 1)], [[(0.1, 0.1), (0.3, 0.1), (0.3, 0.3), (0.1, 0.3)]])
ISLAND = shapely.MultiPolygon([shapely.box(0.5, 0, 1, 1), shapely.box(1.2, 0.2, 1.3, 0.3)])
AREAS = gpd.GeoDataFrame(
    [
        ("320706", "district", None, shapely.box(0, 0, 2, 2)),
        ("320706001", "street", "320706", shapely.box(0, 0, 1.5, 1.5)),
        ("320706001001", "community", "320706001", shapely.box(0, 0, 1.4, 1)),
        ("320706001001001", "grid", "320706001001", HOLED),
        ("320706001001002", "grid", "320706001001", ISLAND),
    ],
    columns=["code", "level", "parent_code", "geometry"],
    crs="EPSG:4326",
)


def codes_of(lon, lat):
    return assign_points(AREAS, [lon], [lat]).iloc[0].tolist()


def test_point_gets_every_ancestor():
    assert codes_of(0.4, 0.5) == ["320706", "320706001", "320706001001", "320706001001001"]


def test_point_in_a_hole_falls_back_to_the_community():
    assert codes_of(0.2, 0.2) == ["320706", "320706001", "320706001001", None]


def test_point_on_an_island_part_of_a_multipolygon():
    assert codes_of(1.25, 0.25)[3] == "320706001001002"


def test_fallback_to_shallower_levels_and_outside():
    assert codes_of(1.45, 1.45) == ["320706", "320706001", None, None]
    assert codes_of(1.8, 1.8) == ["320706", None, None, None]
    assert codes_of(5, 5) == [None, None, None, None]


def test_shared_edge_goes_to_one_grid_deterministically():
    assert codes_of(0.5, 0.5)[3] == "320706001001001"


def test_matches_an_independent_point_in_polygon_count():
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(0, 2, 20000), rng.uniform(0, 2, 20000)
    assigned = assign_points(AREAS, lon, lat)["grid_code"]
    # Independent check with plain shapely predicates (interiors only: edges are measure-zero).
    expected_holed = sum(HOLED.contains(shapely.Point(x, y)) for x, y in zip(lon, lat))
    expected_island = sum(ISLAND.contains(shapely.Point(x, y)) for x, y in zip(lon, lat))
    assert (assigned == "320706001001001").sum() == expected_holed
    assert (assigned == "320706001001002").sum() == expected_island


def test_areas_without_prefix_codes_use_the_parent_chain():
    areas = gpd.GeoDataFrame(
        [("A", "district", None, shapely.box(0, 0, 1, 1)), ("B", "grid", "A", shapely.box(0, 0, 1, 1))],
        columns=["code", "level", "parent_code", "geometry"],
    )
    assert assign_points(areas, [0.5], [0.5]).iloc[0].tolist() == ["A", None, None, "B"]


def test_empty_input():
    assert len(assign_points(AREAS, [], [])) == 0
