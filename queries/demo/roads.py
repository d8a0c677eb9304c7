"""The demo city's road network: expressways, national/provincial roads, rings, radials, urban
street lattices and county roads, noded at every intersection into segments with a node topology
(from_node/to_node) for travel-time routing.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
import shapely.ops

from queries.demo.common import DemoScale, Projection, component_rng
from queries.demo.geography import Geography, density
from queries.demo.names import DISTRICTS, road_name

CITY_CENTRE = (119.17, 34.60)
MAX_SEGMENT_M = 8000.0
CLASS_RANK = {"expressway": 0, "arterial": 1, "secondary": 2, "branch": 3}

# (name, class, lanes, speed limit km/h, lon/lat waypoints)
INTERCITY_ROADS = (
    ("G15沈海高速", "expressway", 6, 120, ((119.17, 35.09), (119.08, 34.92), (119.05, 34.75), (119.07, 34.58), (119.11, 34.42), (119.17, 34.24), (119.24, 34.05), (119.28, 33.96))),
    ("G30连霍高速", "expressway", 6, 120, ((119.43, 34.735), (119.33, 34.70), (119.22, 34.645), (119.07, 34.60), (118.90, 34.57), (118.70, 34.53), (118.40, 34.50))),
    ("宁连高速", "expressway", 4, 120, ((119.12, 34.555), (119.20, 34.40), (119.27, 34.27), (119.33, 34.14), (119.37, 33.95))),
    ("临连高速", "expressway", 4, 120, ((118.88, 34.86), (118.97, 34.84), (119.065, 34.82))),
    ("徐圩疏港高速", "expressway", 6, 100, ((119.23, 34.60), (119.35, 34.585), (119.48, 34.57), (119.60, 34.55))),
    ("G204国道", "arterial", 4, 80, ((119.20, 35.09), (119.13, 34.86), (119.15, 34.70), (119.215, 34.58), (119.21, 34.45), (119.24, 34.29), (119.33, 34.12), (119.38, 33.96))),
    ("G310国道", "arterial", 4, 80, ((119.42, 34.74), (119.30, 34.665), (119.16, 34.645), (118.95, 34.56), (118.77, 34.54), (118.44, 34.52))),
    ("G228国道", "arterial", 4, 80, ((119.22, 35.05), (119.18, 34.88), (119.25, 34.79), (119.40, 34.735), (119.55, 34.66), (119.65, 34.565), (119.73, 34.45), (119.72, 34.34))),
    ("S242省道", "arterial", 4, 80, ((119.12, 34.84), (118.95, 34.70), (118.77, 34.54))),
    ("S323省道", "arterial", 4, 80, ((118.77, 34.54), (119.00, 34.40), (119.24, 34.29))),
    ("S326省道", "arterial", 4, 80, ((119.24, 34.29), (119.40, 34.38), (119.62, 34.44), (119.73, 34.45))),
    ("S236省道", "arterial", 4, 80, ((118.77, 34.54), (118.95, 34.30), (119.20, 34.12), (119.35, 34.09))),
)
# Urban cores with a street lattice: (lon, lat, radius m, rotation degrees).
URBAN_CORES = (
    (119.17, 34.60, 6500, 8), (119.40, 34.742, 2500, 15), (119.12, 34.84, 3000, 0), (118.77, 34.54, 3000, -5),
    (119.24, 34.29, 2500, 10), (119.35, 34.09, 2500, 0), (119.58, 34.55, 3000, 30),
)
# Through-roads of the main centre, one per direction (degrees from east).
CENTRE_THROUGH_ROADS = (("海连路", 0), ("朝阳路", 45), ("通灌路", 90), ("郁州路", 135))


@dataclass
class RoadNetwork:
    ids: list[str]
    names: list[str]
    classes: list[str]
    lanes: np.ndarray
    speed_limits: np.ndarray
    lengths_m: np.ndarray
    from_nodes: list[str]
    to_nodes: list[str]
    district_codes: list[str | None]
    geoms: np.ndarray  # WGS84 LineStrings
    geoms_utm: np.ndarray
    mid_lon: np.ndarray
    mid_lat: np.ndarray
    urban_density: np.ndarray  # persons/km² around the segment's middle (drives congestion)

    def __len__(self) -> int:
        return len(self.ids)


def _line(projection: Projection, lonlat) -> shapely.LineString:
    lon, lat = np.array(lonlat, dtype=float).T
    return shapely.LineString(np.column_stack(projection.to_utm_xy(lon, lat)))


def _ellipse_ring(cx: float, cy: float, rx: float, ry: float, count: int = 96) -> np.ndarray:
    theta = np.linspace(0, 2 * np.pi, count + 1)
    return np.column_stack([cx + rx * np.cos(theta), cy + ry * np.sin(theta)])


def _source_lines(geography: Geography, scale: DemoScale, projection: Projection, rng: np.random.Generator) -> list[tuple]:
    """(UTM line, name, class, lanes, speed limit, clip to land) for every road before noding."""
    lines: list[tuple] = [(_line(projection, pts), name, cls, lanes, speed, True) for name, cls, lanes, speed, pts in INTERCITY_ROADS]
    cx, cy = (float(v) for v in projection.to_utm_xy(*CITY_CENTRE))

    # Two rings round the main centre, split into quarters named by side.
    for radius, prefix, cls, lanes, speed in ((3200, "环城", "arterial", 6, 60), (7500, "外环", "expressway", 6, 80)):
        ring = _ellipse_ring(cx, cy, radius * 1.25, radius)
        quarter = len(ring) // 4
        for index, side in enumerate(("东", "北", "西", "南")):
            start = (index * quarter - quarter // 2) % (len(ring) - 1)
            indices = [(start + j) % (len(ring) - 1) for j in range(quarter + 1)]
            lines.append((shapely.LineString(ring[indices]), f"{prefix}{side}路", cls, lanes, speed, True))
    for name, angle in CENTRE_THROUGH_ROADS:
        dx, dy = np.cos(np.radians(angle)), np.sin(np.radians(angle))
        reach = 11000.0
        lines.append((shapely.LineString([(cx - dx * reach, cy - dy * reach), (cx + dx * reach, cy + dy * reach)]), name, "arterial", 6, 60, True))

    # Street lattices in the urban cores: secondary roads, branch roads in between at the large scale.
    spacing = scale.urban_road_spacing_m
    for lon, lat, radius, rotation in URBAN_CORES:
        ox, oy = (float(v) for v in projection.to_utm_xy(lon, lat))
        disk = shapely.Point(ox, oy).buffer(radius)
        angle = np.radians(rotation)
        along = np.array([np.cos(angle), np.sin(angle)])
        across = np.array([-np.sin(angle), np.cos(angle)])
        taken: set[str] = set()
        for direction, normal, orientation in ((along, across, "ew"), (across, along, "ns")):
            step = spacing / 2 if scale.branch_roads else spacing
            offsets = np.arange(-radius + step / 2, radius, step)
            for number, offset in enumerate(offsets):
                is_branch = scale.branch_roads and number % 2 == 1
                centre = np.array([ox, oy]) + normal * offset
                segment = shapely.LineString([centre - direction * radius, centre + direction * radius]).intersection(disk)
                if segment.is_empty:
                    continue
                name = road_name(rng, orientation)
                while name in taken:
                    name = road_name(rng, orientation)
                taken.add(name)
                cls, lanes, speed = ("branch", 2, 30) if is_branch else ("secondary", 4, 50)
                lines.append((segment, name, cls, lanes, speed, True))

    # County and township roads: Delaunay edges between township seats, without the long ones.
    streets = geography.levels["street"]
    seats = shapely.point_on_surface(streets.geoms_utm)
    triangles = shapely.get_parts(shapely.delaunay_triangles(shapely.multipoints(shapely.get_coordinates(seats)), only_edges=True))
    for number, edge in enumerate(sorted(triangles, key=lambda g: tuple(np.round(shapely.get_coordinates(g).ravel(), 1)))):
        if edge.length < 18000:
            lines.append((edge, f"X{201 + number}县道", "secondary", 2, 60, True))

    # The causeway (拦海大堤) to 连岛, the largest island: the shortest link over the strait.
    land_parts = sorted(shapely.get_parts(geography.land_utm), key=lambda g: -g.area)
    mainland = land_parts[0]
    island = land_parts[1] if len(land_parts) > 1 else None
    if island is not None and island.area > 2e6:
        lines.append((shapely.shortest_line(mainland, island), "拦海大堤", "arterial", 4, 60, False))
    return lines


def _split_long(pieces: list, limit_m: float) -> list:
    """Cut segments longer than ``limit_m`` into equal parts, so that speeds vary along long roads."""
    result = []
    for piece in pieces:
        parts = int(np.ceil(piece.length / limit_m))
        if parts <= 1:
            result.append(piece)
            continue
        result.extend(shapely.ops.substring(piece, i / parts, (i + 1) / parts, normalized=True) for i in range(parts))
    return result


def build_road_network(geography: Geography, scale: DemoScale, seed: int, projection: Projection) -> RoadNetwork:
    rng = component_rng(seed, "roads")
    sources = _source_lines(geography, scale, projection, rng)
    land = shapely.buffer(geography.land_utm, 0)
    clipped = []
    for geom, name, cls, lanes, speed, clip in sources:
        line = shapely.intersection(geom, land) if clip else geom
        for part in shapely.get_parts(line):
            if part.geom_type == "LineString" and part.length > 1.0:
                clipped.append((part, name, cls, lanes, speed))
    source_geoms = np.array([c[0] for c in clipped], dtype=object)
    # Node every crossing: the union splits lines at intersections.
    pieces = [p for p in shapely.get_parts(shapely.union_all(source_geoms)) if p.geom_type == "LineString" and p.length > 1.0]
    pieces = np.array(_split_long(pieces, MAX_SEGMENT_M), dtype=object)
    middles = shapely.line_interpolate_point(pieces, 0.5, normalized=True)
    tree = shapely.STRtree(source_geoms)
    piece_idx, source_idx = tree.query(middles, predicate="dwithin", distance=0.5)
    rank = np.array([CLASS_RANK[c[2]] for c in clipped])
    best = np.full(len(pieces), -1)
    order = np.lexsort((source_idx, rank[source_idx], piece_idx))
    first = np.concatenate(([True], piece_idx[order][1:] != piece_idx[order][:-1]))
    best[piece_idx[order][first]] = source_idx[order][first]
    keep = best >= 0
    pieces, middles, best = pieces[keep], middles[keep], best[keep]

    # Deterministic order: by class, then west→east, south→north.
    mx, my = shapely.get_x(middles), shapely.get_y(middles)
    order = np.lexsort((np.round(my, 1), np.round(mx, 1), rank[best]))
    pieces, middles, best, mx, my = pieces[order], middles[order], best[order], mx[order], my[order]

    starts = shapely.get_coordinates(shapely.get_point(pieces, 0))
    ends = shapely.get_coordinates(shapely.get_point(pieces, -1))
    ends_rounded = np.round(np.vstack([starts, ends]), 0)
    unique, inverse = np.unique(ends_rounded, axis=0, return_inverse=True)
    node_ids = np.array([f"N{i + 1:06d}" for i in range(len(unique))], dtype=object)
    inverse = inverse.ravel()
    from_nodes = node_ids[inverse[: len(pieces)]].tolist()
    to_nodes = node_ids[inverse[len(pieces) :]].tolist()

    # The district nearest to each segment's middle (the causeway's middle is over the sea).
    district_geoms = geography.levels["district"].geoms_utm
    distances = np.column_stack([shapely.distance(g, middles) for g in district_geoms])
    district_codes = [DISTRICTS[i].code for i in np.argmin(distances, axis=1)]
    mid_lon, mid_lat = projection.to_lonlat(mx, my)
    geoms = projection.geoms_to_wgs84(pieces)
    return RoadNetwork(
        ids=[f"RS{i + 1:06d}" for i in range(len(pieces))],
        names=[clipped[b][1] for b in best],
        classes=[clipped[b][2] for b in best],
        lanes=np.array([clipped[b][3] for b in best]),
        speed_limits=np.array([clipped[b][4] for b in best], dtype=float),
        lengths_m=np.round(shapely.length(pieces), 1),
        from_nodes=from_nodes,
        to_nodes=to_nodes,
        district_codes=district_codes,
        geoms=geoms,
        geoms_utm=pieces,
        mid_lon=mid_lon,
        mid_lat=mid_lat,
        urban_density=density(mx, my, projection),
    )
