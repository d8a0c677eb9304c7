import geopandas as gpd
import numpy as np
import pandas as pd
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


def _voronoi_tiling(count: int, seed: int):
    """A tiling like real unit grids: dense small cells in a core, large ones outside, clipped to land."""
    rng = np.random.default_rng(seed)
    seeds = np.vstack([rng.normal([119.2, 34.6], [0.03, 0.02], (count // 2, 2)), np.column_stack([rng.uniform(119.0, 119.4, count // 2), rng.uniform(34.4, 34.8, count // 2)])])
    land = shapely.Polygon([(119.0, 34.4), (119.4, 34.4), (119.35, 34.8), (119.0, 34.8)])  # a slanted coast
    cells = shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=land)), land)
    return cells[~shapely.is_empty(cells)], rng


def test_raster_index_agrees_with_strtree_on_a_realistic_tiling():
    cells, rng = _voronoi_tiling(2000, 3)
    x = np.concatenate([rng.normal(119.2, 0.03, 60000), rng.uniform(118.95, 119.45, 40000), [np.nan, 119.0, 119.4]])
    y = np.concatenate([rng.normal(34.6, 0.02, 60000), rng.uniform(34.35, 34.85, 40000), [34.5, 34.4, 34.8]])
    # Points exactly on shared vertices and edges of the tiling, where ties must resolve the same way.
    vertices = shapely.get_coordinates(cells[:50])
    x, y = np.concatenate([x, vertices[:, 0]]), np.concatenate([y, vertices[:, 1]])
    from queries.spatial import NO_AREA, RasterIndex, locate_with_strtree

    raster = RasterIndex.build(cells).locate(x, y)
    direct = locate_with_strtree(cells, x, y)
    assert np.array_equal(raster, direct)
    assert (raster == NO_AREA).sum() > 0 and (raster != NO_AREA).sum() > 80000  # some uniform points fall in the sea


def test_large_batches_take_the_raster_path_with_the_same_answer():
    cells, rng = _voronoi_tiling(400, 5)
    areas = gpd.GeoDataFrame(
        {"code": [f"320706001001{i:03d}" for i in range(len(cells))], "level": "grid", "parent_code": None}, geometry=cells
    )
    x, y = rng.uniform(119.0, 119.4, 60000), rng.uniform(34.4, 34.8, 60000)
    big = assign_points(areas, x, y)["grid_code"]
    small = pd.concat([assign_points(areas, x[i : i + 20000], y[i : i + 20000])["grid_code"] for i in range(0, 60000, 20000)], ignore_index=True)
    assert big.equals(small)
