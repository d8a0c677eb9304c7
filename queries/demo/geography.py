"""The demo city's land, population and area tree (city → district → street → community → grid).

Everything is built in UTM 50N metres and converted to WGS84 at the end. The frame (coastline,
islands, district shapes) is fixed — it is Lianyungang's — while everything below the districts
comes from the seed. Each level is a Voronoi partition of its parent: seeds are k-means centres of
a density-weighted point cloud, so unit grids come out small in dense urban cores and large in the
countryside, and the children of a parent tile it exactly (cells of one Voronoi diagram, clipped
to the parent).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from queries.demo.common import DemoScale, Projection, allocate, component_rng, gaussian
from queries.demo.names import (
    CITY_CODE,
    CITY_NAME,
    CITY_NAME_EN,
    DISTRICTS,
    community_names,
    township_names,
)

CITY_POPULATION = 4_600_000
FRAME_SEED = 320700  # the frame is the real city's: it does not change with the demo seed
DEMAND_EXPONENT = 0.65  # grids per km² grow as density^0.65: urban grids are ~10× smaller than rural ones
URBAN_STREET_DENSITY = 1500.0
SEGMENT_M = 200.0  # persons/km² above which a township is a 街道 and a community a 社区

# Coast from the Shandong border (绣针河口) round Haizhou Bay, the port and 徐圩 to the 灌河口.
_COAST = (
    (119.25, 35.08), (119.22, 35.00), (119.21, 34.92), (119.19, 34.85), (119.21, 34.80), (119.27, 34.77),
    (119.33, 34.755), (119.38, 34.75), (119.44, 34.745), (119.50, 34.735), (119.56, 34.70), (119.62, 34.65),
    (119.68, 34.58), (119.73, 34.52), (119.78, 34.46), (119.81, 34.41), (119.79, 34.36),
)
# Land border with 盐城, 淮安, 宿迁 and 临沂, from the 灌河口 back to the coast's north end.
_BORDER = (
    (119.79, 34.36), (119.661, 34.33), (119.596, 34.265), (119.559, 34.181), (119.522, 34.089), (119.43, 34.015),
    (119.318, 33.987), (119.198, 34.005), (119.105, 34.07), (119.049, 34.172), (118.975, 34.283), (118.864, 34.348),
    (118.716, 34.348), (118.567, 34.385), (118.475, 34.459), (118.456, 34.561), (118.493, 34.654), (118.567, 34.719),
    (118.679, 34.747), (118.79, 34.765), (118.883, 34.821), (118.92, 34.923), (118.948, 35.016), (119.031, 35.053),
    (119.142, 35.062), (119.25, 35.08),
)
# Islands: centre lon/lat, semi-axes (m), rotation (degrees), name.
ISLANDS = (
    ((119.468, 34.772), 2800, 900, 12, "连岛"),
    ((119.285, 34.868), 450, 250, 30, "秦山岛"),
    ((119.820, 34.990), 300, 200, 0, "车牛山岛"),
    ((119.870, 35.020), 350, 250, 45, "达山岛"),
    ((119.860, 34.530), 150, 100, 0, "开山岛"),
)
# (lon, lat, peak persons/km², sigma m): the urban centres of the density field.
URBAN_CENTRES = (
    (119.17, 34.60, 16000, 3500), (119.17, 34.60, 3000, 9000), (119.13, 34.57, 7000, 2000),
    (119.40, 34.74, 7000, 2500), (119.45, 34.73, 3000, 2000), (119.12, 34.84, 7000, 3000),
    (118.77, 34.54, 6500, 3000), (119.24, 34.29, 5500, 2500), (119.35, 34.09, 5500, 2500),
    (119.55, 34.56, 1200, 3500), (119.21, 34.66, 2500, 2500),
)
# Hills (lon, lat, height m, sigma m): 云台山/花果山 and 马陵山; the plain is a few metres above sea.
HILLS = ((119.28, 34.66, 620, 4500), (119.45, 34.70, 350, 3500), (118.57, 34.62, 200, 6000), (118.95, 35.00, 150, 7000))
# A petrochemical park (连云港石化产业基地, 徐圩新区), where the hazardous-chemicals incident happens.
PETROCHEMICAL_PARK = (119.600, 34.545)


@dataclass
class AreaLevel:
    """One level of the area tree, children in code order."""

    level: str
    codes: np.ndarray
    names: list[str]
    parents: np.ndarray  # parent codes (None for the city)
    geoms_utm: np.ndarray
    population: np.ndarray
    urban: np.ndarray  # bool


@dataclass
class Geography:
    land_utm: shapely.Geometry
    levels: dict[str, AreaLevel]
    areas: gpd.GeoDataFrame  # every area, WGS84, with the columns of the areas table
    grid_density: np.ndarray  # persons/km² per grid
    grid_elevation: np.ndarray  # metres above sea level at each grid's label point

    def grids(self) -> gpd.GeoDataFrame:
        return self.areas[self.areas["level"] == "grid"].reset_index(drop=True)

    def by_level(self, level: str) -> gpd.GeoDataFrame:
        return self.areas[self.areas["level"] == level].reset_index(drop=True)


def density(x: np.ndarray, y: np.ndarray, projection: Projection) -> np.ndarray:
    """Population density (persons/km², before scaling to the city total) at UTM points."""
    rural = 380.0 * (1.0 + 0.35 * np.sin(x / 9000.0 + 1.3) * np.cos(y / 11000.0 - 0.4))
    value = rural.copy()
    for lon, lat, peak, sigma in URBAN_CENTRES:
        cx, cy = projection.to_utm_xy(lon, lat)
        value += peak * gaussian(x, y, float(cx), float(cy), sigma)
    # Fewer people on the hills and in the salt pans behind the 徐圩 coast.
    value *= np.clip(1.0 - elevation(x, y, projection) / 400.0, 0.15, 1.0)
    sx, sy = projection.to_utm_xy(119.62, 34.48)
    value *= 1.0 - 0.7 * gaussian(x, y, float(sx), float(sy), 9000)
    return value


def elevation(x: np.ndarray, y: np.ndarray, projection: Projection) -> np.ndarray:
    """A smooth stand-in for a DEM: coastal plain 2–6 m rising westwards, with the main hills."""
    cx, _ = projection.to_utm_xy(119.20, 34.6)
    value = 3.0 + np.clip((float(cx) - x) / 1500.0, 0, 60) + 1.5 * np.sin(x / 4000.0) * np.sin(y / 5000.0)
    for lon, lat, height, sigma in HILLS:
        hx, hy = projection.to_utm_xy(lon, lat)
        value = value + height * gaussian(x, y, float(hx), float(hy), sigma)
    return np.maximum(value, 0.5)


def _roughen(points: np.ndarray, rng: np.random.Generator, depth: int, roughness: float) -> np.ndarray:
    """Midpoint displacement: a fractal, irregular line through fixed end points."""
    for _ in range(depth):
        start, end = points[:-1], points[1:]
        delta = end - start
        length = np.hypot(delta[:, 0], delta[:, 1])
        normal = np.column_stack([-delta[:, 1], delta[:, 0]]) / np.maximum(length, 1e-9)[:, None]
        middle = (start + end) / 2 + normal * (rng.normal(0, roughness, len(start)) * length)[:, None]
        merged = np.empty((len(points) + len(middle), 2))
        merged[0::2] = points
        merged[1::2] = middle
        points = merged
    return points


def _ellipse(cx: float, cy: float, a: float, b: float, angle_deg: float, rng: np.random.Generator) -> shapely.Polygon:
    theta = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    wobble = 1.0 + 0.15 * rng.standard_normal(40).cumsum() / np.sqrt(np.arange(1, 41))
    px, py = a * np.cos(theta) * wobble, b * np.sin(theta) * wobble
    angle = np.radians(angle_deg)
    return shapely.Polygon(np.column_stack([cx + px * np.cos(angle) - py * np.sin(angle), cy + px * np.sin(angle) + py * np.cos(angle)]))


def land_frame(projection: Projection) -> shapely.MultiPolygon:
    """The city's land in UTM: the irregular mainland with the sea cut away, plus islands."""
    rng = component_rng(FRAME_SEED, "frame")
    coast = np.column_stack(projection.to_utm_xy(*np.array(_COAST).T))
    border = np.column_stack(projection.to_utm_xy(*np.array(_BORDER).T))
    coast = _roughen(coast, rng, depth=6, roughness=0.16)
    border = _roughen(border, rng, depth=4, roughness=0.07)
    ring = np.vstack([coast, border[1:]])
    mainland = shapely.make_valid(shapely.Polygon(ring))
    mainland = max(shapely.get_parts(mainland), key=lambda g: g.area if g.geom_type == "Polygon" else 0)
    islands = []
    for (lon, lat), a, b, angle, _name in ISLANDS:
        cx, cy = projection.to_utm_xy(lon, lat)
        islands.append(_ellipse(float(cx), float(cy), a, b, angle, rng))
    # Keep a strait between each island and the mainland.
    mainland = mainland.difference(shapely.union_all([shapely.buffer(i, 700) for i in islands]))
    parts = [p for p in shapely.get_parts(mainland) if p.area > 1e6] + islands
    return shapely.MultiPolygon(parts)


def _to_multipolygon(geom) -> shapely.MultiPolygon:
    polygons = [g for g in shapely.get_parts(geom) if g.geom_type == "Polygon" and not g.is_empty]
    polygons += [p for g in shapely.get_parts(geom) if g.geom_type == "MultiPolygon" for p in g.geoms]
    return shapely.MultiPolygon(polygons)


def _district_shapes(land: shapely.MultiPolygon, projection: Projection) -> list[shapely.MultiPolygon]:
    """District polygons: a power diagram of anchor points on a jittered lattice, sized to each district's area."""
    rng = component_rng(FRAME_SEED, "districts")
    step = 2000.0
    minx, miny, maxx, maxy = land.bounds
    gx, gy = np.meshgrid(np.arange(minx - 3 * step, maxx + 3 * step, step), np.arange(miny - 3 * step, maxy + 3 * step, step))
    px = gx.ravel() + rng.uniform(-0.35, 0.35, gx.size) * step
    py = gy.ravel() + rng.uniform(-0.35, 0.35, gy.size) * step
    on_land = shapely.contains_xy(land, px, py)
    km_x, km_y = px / 1000.0, py / 1000.0
    scores = []
    for spec in DISTRICTS:
        ax, ay = projection.to_utm_xy(*np.array(spec.anchors).T)
        squared = np.min((km_x[:, None] - ax[None, :] / 1000) ** 2 + (km_y[:, None] - ay[None, :] / 1000) ** 2, axis=1)
        phase = rng.uniform(0, 2 * np.pi, 4)
        wiggle = sum(40.0 * np.sin(km_x / w + p) * np.cos(km_y / (w * 1.3) - p) for w, p in zip((4.0, 7.0, 11.0, 17.0), phase))
        scores.append(squared + wiggle)
    scores = np.array(scores)
    targets = np.array([spec.land_km2 for spec in DISTRICTS], dtype=float)
    targets *= on_land.sum() * (step / 1000) ** 2 / targets.sum()
    weights = np.zeros(len(DISTRICTS))
    for _ in range(80):  # grow or shrink each district until its share of land matches its real area
        labels = np.argmin(scores - weights[:, None], axis=0)
        areas = np.bincount(labels[on_land], minlength=len(DISTRICTS)) * (step / 1000) ** 2
        weights += 60.0 * (targets - areas) / targets
    labels = np.argmin(scores - weights[:, None], axis=0)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(np.column_stack([px, py])), ordered=True))
    shapes = []
    for index in range(len(DISTRICTS)):
        region = shapely.union_all(cells[labels == index])
        shapes.append(_to_multipolygon(shapely.intersection(region, land)))
    return shapes


def _kmeans(points: np.ndarray, k: int, rng: np.random.Generator, iterations: int = 10) -> np.ndarray:
    """Lloyd's k-means with k-means++ seeding; returns k centres."""
    count = len(points)
    centres = np.empty((k, 2))
    centres[0] = points[rng.integers(count)]
    closest = ((points - centres[0]) ** 2).sum(axis=1)
    for i in range(1, k):
        cumulative = np.cumsum(closest)
        pick = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
        centres[i] = points[min(pick, count - 1)]
        closest = np.minimum(closest, ((points - centres[i]) ** 2).sum(axis=1))
    for _ in range(iterations):
        labels = _nearest(points, centres)
        sizes = np.bincount(labels, minlength=k)
        filled = sizes > 0
        centres[filled, 0] = np.bincount(labels, points[:, 0], minlength=k)[filled] / sizes[filled]
        centres[filled, 1] = np.bincount(labels, points[:, 1], minlength=k)[filled] / sizes[filled]
    return centres


def _nearest(points: np.ndarray, centres: np.ndarray, chunk: int = 50_000) -> np.ndarray:
    labels = np.empty(len(points), dtype=np.int64)
    norms = (centres**2).sum(axis=1)
    for start in range(0, len(points), chunk):
        block = points[start : start + chunk]
        labels[start : start + chunk] = np.argmin(norms[None, :] - 2.0 * block @ centres.T, axis=1)
    return labels


def _subdivide(parent: shapely.Geometry, points: np.ndarray, k: int, rng: np.random.Generator) -> tuple[list, np.ndarray, np.ndarray]:
    """Split ``parent`` into ≤ k Voronoi cells around k-means seeds of ``points`` (which lie inside it).

    Returns the child geometries, the seed points and each point's child index. Seeds are snapped
    to a member point so that every cell contains its seed and is never empty.
    """
    k = min(k, len(points))
    if k <= 1:
        return [_to_multipolygon(parent)], points[:1], np.zeros(len(points), dtype=np.int64)
    centres = _kmeans(points, k, rng)
    labels = _nearest(points, centres)
    offsets = ((points - centres[labels]) ** 2).sum(axis=1)
    order = np.lexsort((offsets, labels))
    first = np.concatenate(([True], labels[order][1:] != labels[order][:-1]))
    seeds = np.unique(points[order[first]], axis=0)
    if len(seeds) <= 1:
        return [_to_multipolygon(parent)], seeds, np.zeros(len(points), dtype=np.int64)
    labels = _nearest(points, seeds)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=shapely.box(*parent.bounds).buffer(1000), ordered=True))
    children = [_to_multipolygon(g) for g in shapely.intersection(cells, parent)]
    return children, seeds, labels


def _candidates(land, projection: Projection, count: int, rng: np.random.Generator) -> np.ndarray:
    """Points on land drawn in proportion to density^DEMAND_EXPONENT (how many grids an area needs)."""
    minx, miny, maxx, maxy = land.bounds
    probe_x, probe_y = np.meshgrid(np.linspace(minx, maxx, 300), np.linspace(miny, maxy, 300))
    ceiling = 1.2 * float(np.max(density(probe_x.ravel(), probe_y.ravel(), projection))) ** DEMAND_EXPONENT
    # Small islands get no seeds of their own: each joins the area whose cell reaches over the strait.
    seeded_land = shapely.MultiPolygon([p for p in land.geoms if p.area > 20e6])
    shapely.prepare(seeded_land)
    found = []
    total = 0
    while total < count:
        batch = max(20_000, 6 * (count - total))
        x = rng.uniform(minx, maxx, batch)
        y = rng.uniform(miny, maxy, batch)
        keep = rng.random(batch) * ceiling < density(x, y, projection) ** DEMAND_EXPONENT
        x, y = x[keep], y[keep]
        inside = shapely.contains_xy(seeded_land, x, y)
        found.append(np.column_stack([x[inside], y[inside]]))
        total += int(inside.sum())
    return np.vstack(found)[:count]


def _reading_order(geoms_wgs84: np.ndarray) -> np.ndarray:
    """Order children west→east within rows, rows north→south (how grid sequence numbers run)."""
    labels = shapely.point_on_surface(geoms_wgs84)
    lon, lat = shapely.get_x(labels), shapely.get_y(labels)
    rows = max(1, round(float(np.sqrt(len(lon)))))
    span = max(float(lat.max() - lat.min()), 1e-9)
    row = np.minimum(((lat.max() - lat) / span * rows).astype(int), rows - 1)
    return np.lexsort((lon, row))


def build_geography(scale: DemoScale, seed: int, projection: Projection, progress: Callable[[float], None] | None = None) -> Geography:
    rng = component_rng(seed, "geography")
    report = progress or (lambda fraction: None)
    land = land_frame(projection)
    district_geoms = _district_shapes(land, projection)
    report(0.15)
    cloud = _candidates(land, projection, scale.grids * scale.candidates_per_grid, rng)
    cloud_density = density(cloud[:, 0], cloud[:, 1], projection)
    # Importance weights: the cloud is drawn ∝ density^e, so density^(1-e) per point integrates population.
    cloud_people = cloud_density ** (1.0 - DEMAND_EXPONENT)
    district_of = np.full(len(cloud), -1)
    for index, geom in enumerate(district_geoms):
        shapely.prepare(geom)
        district_of[(district_of < 0) & shapely.contains_xy(geom, cloud[:, 0], cloud[:, 1])] = index
    valid = district_of >= 0
    cloud, cloud_density, cloud_people, district_of = cloud[valid], cloud_density[valid], cloud_people[valid], district_of[valid]

    # Each level: (parent geometry, member point indices) → children; names and codes come after.
    districts = [(spec, geom, np.flatnonzero(district_of == i)) for i, (spec, geom) in enumerate(zip(DISTRICTS, district_geoms))]
    street_counts = allocate(scale.streets, np.array([len(m) for _, _, m in districts]), minimum=2)

    rows: list[dict] = [dict(code=CITY_CODE, level="city", name=CITY_NAME, name_en=CITY_NAME_EN, parent_code=None, geom_utm=None, members=np.arange(len(cloud)))]
    streets: list[dict] = []
    for (spec, geom, members), count in zip(districts, street_counts):
        rows.append(dict(code=spec.code, level="district", name=spec.name, name_en=spec.name_en, parent_code=CITY_CODE, geom_utm=geom, members=members))
        children, _seeds, labels = _subdivide(geom, cloud[members], int(count), rng)
        child_members = [members[labels == i] for i in range(len(children))]
        child_density = np.array([np.mean(cloud_density[m]) if len(m) else 0.0 for m in child_members])
        seat_x, seat_y = projection.to_utm_xy(*spec.seat)
        seat_child = int(np.argmax([shapely.contains_xy(c, float(seat_x), float(seat_y)) for c in children]))
        urban = child_density > URBAN_STREET_DENSITY
        urban[seat_child] = True
        distance = np.array([shapely.distance(shapely.centroid(c), shapely.Point(float(seat_x), float(seat_y))) for c in children])
        distance[seat_child] = -1.0
        order = np.lexsort((distance, ~urban))  # seat first, then other urban streets, then towns outward
        names = township_names(rng, spec, [bool(urban[i]) for i in order])
        next_number = {"街道": 1, "镇": 100, "乡": 200}
        for rank, i in enumerate(order):
            kind = "街道" if names[rank].endswith("街道") else ("乡" if names[rank].endswith("乡") else "镇")
            code = f"{spec.code}{next_number[kind]:03d}"
            next_number[kind] += 1
            streets.append(dict(code=code, level="street", name=names[rank], name_en=None, parent_code=spec.code, geom_utm=children[i], members=child_members[i], urban=bool(urban[i])))
    streets.sort(key=lambda r: r["code"])
    rows += streets
    report(0.35)

    community_counts = allocate(scale.communities, np.array([len(s["members"]) for s in streets]), minimum=1)
    communities: list[dict] = []
    for street, count in zip(streets, community_counts):
        members = street["members"]
        children, _seeds, labels = _subdivide(street["geom_utm"], cloud[members], int(count), rng)
        child_members = [members[labels == i] for i in range(len(children))]
        urban = np.array([len(m) > 0 and float(np.mean(cloud_density[m])) > URBAN_STREET_DENSITY * 0.8 for m in child_members])
        wgs = projection.geoms_to_wgs84(np.array(children, dtype=object))
        order = _reading_order(wgs)
        order = np.concatenate([order[urban[order]], order[~urban[order]]])  # 社区 001…, 村 200…
        names = community_names(rng, [bool(urban[i]) for i in order])
        neighbourhood, village = 1, 200
        for name, i in zip(names, order):
            if urban[i]:
                number, neighbourhood = neighbourhood, neighbourhood + 1
            else:
                number, village = village, village + 1
            communities.append(dict(code=f"{street['code']}{number:03d}", level="community", name=name, name_en=None, parent_code=street["code"], geom_utm=children[i], members=child_members[i], urban=bool(urban[i])))
    communities.sort(key=lambda r: r["code"])
    rows += communities
    report(0.6)

    grid_counts = allocate(scale.grids, np.array([len(c["members"]) for c in communities]), minimum=1)
    grids: list[dict] = []
    for community, count in zip(communities, grid_counts):
        members = community["members"]
        children, _seeds, labels = _subdivide(community["geom_utm"], cloud[members], int(count), rng)
        child_members = [members[labels == i] for i in range(len(children))]
        wgs = projection.geoms_to_wgs84(np.array(children, dtype=object))
        for sequence, i in enumerate(_reading_order(wgs), start=1):
            label = "网格" if community["name"].endswith("社区") else "片区网格"
            grids.append(dict(code=f"{community['code']}{sequence:03d}", level="grid", name=f"{community['name']}第{sequence}{label}", name_en=None, parent_code=community["code"], geom_utm=children[i], members=child_members[i], urban=community["urban"]))
    rows += grids
    report(0.85)

    # Population: grid sums of the importance weights, scaled to the city total; parents add up their children.
    grid_raw = np.array([cloud_people[g["members"]].sum() for g in grids])
    grid_population = np.round(grid_raw / grid_raw.sum() * CITY_POPULATION).astype(np.int64)
    population = dict(zip((g["code"] for g in grids), grid_population.tolist()))
    for row in reversed(rows):  # children come after parents in ``rows``: accumulate bottom-up
        if row["level"] != "grid":
            population.setdefault(row["code"], 0)
        if row["parent_code"] is not None:
            population[row["parent_code"]] = population.get(row["parent_code"], 0) + population[row["code"]]
    rows[0]["geom_utm"] = shapely.union_all([r["geom_utm"] for r in rows if r["level"] == "district"])

    geoms_utm = np.array([_to_multipolygon(r["geom_utm"]) for r in rows], dtype=object)
    # Short edges before reprojecting: a long straight edge of a parent and the same edge split at a
    # child's corner bend differently in WGS84; at 200 m the difference is negligible.
    geoms = np.array([_to_multipolygon(g) for g in projection.geoms_to_wgs84(shapely.segmentize(geoms_utm, SEGMENT_M))], dtype=object)
    labels = shapely.point_on_surface(geoms)
    bounds = shapely.bounds(geoms)
    areas = gpd.GeoDataFrame(
        pd.DataFrame({
            "code": [r["code"] for r in rows],
            "level": [r["level"] for r in rows],
            "name": [r["name"] for r in rows],
            "name_en": [r["name_en"] for r in rows],
            "parent_code": [r["parent_code"] for r in rows],
            "area_km2": np.round(shapely.area(geoms_utm) / 1e6, 4),
            "label_lon": np.round(shapely.get_x(labels), 6),
            "label_lat": np.round(shapely.get_y(labels), 6),
            "population": [int(population[r["code"]]) for r in rows],
            "minx": bounds[:, 0], "miny": bounds[:, 1], "maxx": bounds[:, 2], "maxy": bounds[:, 3],
            "urban": [bool(r.get("urban", True)) for r in rows],
        }),
        geometry=geoms,
        crs="EPSG:4326",
    )
    is_grid = areas["level"].to_numpy() == "grid"
    grid_labels_x, grid_labels_y = projection.to_utm_xy(areas["label_lon"].to_numpy()[is_grid], areas["label_lat"].to_numpy()[is_grid])
    grid_area = areas["area_km2"].to_numpy()[is_grid]
    levels = {
        level: AreaLevel(
            level=level,
            codes=areas["code"].to_numpy()[mask],
            names=list(areas["name"].to_numpy()[mask]),
            parents=areas["parent_code"].to_numpy()[mask],
            geoms_utm=geoms_utm[mask],
            population=areas["population"].to_numpy()[mask],
            urban=areas["urban"].to_numpy()[mask],
        )
        for level in ("city", "district", "street", "community", "grid")
        for mask in [areas["level"].to_numpy() == level]
    }
    report(1.0)
    return Geography(
        land_utm=land,
        levels=levels,
        areas=areas,
        grid_density=areas["population"].to_numpy()[is_grid] / np.maximum(grid_area, 1e-6),
        grid_elevation=elevation(grid_labels_x, grid_labels_y, projection),
    )
