"""Emergency response: the nearest resources of each kind to a point, with travel-time estimates.

With a road network (segments with from/to nodes) travel time is a shortest path over it: each
segment's time from its latest observed speed, else 70 % of its speed limit, else a speed by road
class; the legs from the point to the network and from the network to the resource are
straight lines at ``ACCESS_SPEED_KMH``. Without a network, travel time is the straight-line
distance times ``DETOUR_FACTOR`` at ``FALLBACK_SPEED_KMH``, and the result says so (``method``).
"""
from __future__ import annotations

import datetime as dt
import heapq
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, func, select

from queries.cache import cached
from queries.db import read_frame
from queries.schema import Resource, RoadSegment, RoadSpeed

EARTH_RADIUS_M = 6_371_008.8
DETOUR_FACTOR = 1.4  # typical urban network/straight-line ratio
FALLBACK_SPEED_KMH = 30.0
ACCESS_SPEED_KMH = 15.0
FREE_FLOW_SHARE = 0.7
CLASS_SPEED_KMH = {"expressway": 80.0, "arterial": 40.0, "secondary": 30.0, "branch": 20.0}
SPEED_LOOKBACK = dt.timedelta(hours=2)


def haversine_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(a))


@dataclass(frozen=True)
class RoadGraph:
    """Nodes with coordinates and an adjacency list of (neighbour, seconds)."""

    node_ids: tuple[str, ...]
    node_lon: np.ndarray
    node_lat: np.ndarray
    adjacency: tuple[tuple[tuple[int, float], ...], ...]

    def nearest_node(self, lon: float, lat: float) -> tuple[int, float]:
        distances = haversine_m(lon, lat, self.node_lon, self.node_lat)
        index = int(np.argmin(distances))
        return index, float(distances[index])

    def seconds_from(self, source: int) -> np.ndarray:
        """Dijkstra: travel seconds from ``source`` to every node (inf where unreachable)."""
        best = np.full(len(self.node_ids), np.inf)
        best[source] = 0.0
        queue = [(0.0, source)]
        while queue:
            seconds, node = heapq.heappop(queue)
            if seconds > best[node]:
                continue
            for neighbour, cost in self.adjacency[node]:
                candidate = seconds + cost
                if candidate < best[neighbour]:
                    best[neighbour] = candidate
                    heapq.heappush(queue, (candidate, neighbour))
        return best


def load_road_graph(conn: Connection, at: dt.datetime | None = None) -> RoadGraph | None:
    """The road network as a graph, or None when segments carry no topology."""
    rows = conn.execute(
        select(RoadSegment.id, RoadSegment.from_node, RoadSegment.to_node, RoadSegment.length_m, RoadSegment.speed_limit_kmh,
               RoadSegment.road_class, RoadSegment.oneway, RoadSegment.geom)
        .where(RoadSegment.from_node.is_not(None), RoadSegment.to_node.is_not(None))
    ).all()
    if not rows:
        return None
    window = [RoadSpeed.ts <= at, RoadSpeed.ts > at - SPEED_LOOKBACK] if at is not None else []
    newest = select(RoadSpeed.segment_id, func.max(RoadSpeed.ts).label("ts")).where(*window).group_by(RoadSpeed.segment_id).subquery()
    observed = dict(conn.execute(
        select(RoadSpeed.segment_id, RoadSpeed.speed_kmh).join(newest, (newest.c.segment_id == RoadSpeed.segment_id) & (newest.c.ts == RoadSpeed.ts))
    ).all())
    index: dict[str, int] = {}
    lons: list[float] = []
    lats: list[float] = []
    edges: list[list[tuple[int, float]]] = []

    def node(node_id: str, point) -> int:
        if node_id not in index:
            index[node_id] = len(lons)
            lons.append(point[0])
            lats.append(point[1])
            edges.append([])
        return index[node_id]

    for row in rows:
        coords = shapely.get_coordinates(row.geom)
        start, end = node(row.from_node, coords[0]), node(row.to_node, coords[-1])
        length = row.length_m or float(haversine_m(coords[:-1, 0], coords[:-1, 1], coords[1:, 0], coords[1:, 1]).sum())
        speed = observed.get(row.id) or (row.speed_limit_kmh * FREE_FLOW_SHARE if row.speed_limit_kmh else None) or CLASS_SPEED_KMH.get(row.road_class, 20.0)
        seconds = length / (max(speed, 3.0) / 3.6)
        edges[start].append((end, seconds))
        if not row.oneway:
            edges[end].append((start, seconds))
    return RoadGraph(tuple(index), np.array(lons), np.array(lats), tuple(tuple(e) for e in edges))


@cached(tables=("resources", "road_segments", "road_speeds"))
def nearest_resources(
    conn: Connection, lon: float, lat: float, kinds: list[str] | None = None, per_kind: int = 3,
    at: dt.datetime | None = None, graph: RoadGraph | None = None,
) -> pd.DataFrame:
    """Per kind, the ``per_kind`` resources with the shortest estimated travel time to (lon, lat).

    Columns: id, kind, name, lon, lat, capacity, capacity_unit, distance_m (straight line),
    travel_s, method (``network`` or ``straight_line``). Pass ``graph`` to reuse a loaded network
    (uncached calls only: a graph is no cache key).
    """
    stmt = select(Resource.id, Resource.kind, Resource.name, Resource.lon, Resource.lat, Resource.capacity, Resource.capacity_unit).where(Resource.lon.is_not(None))
    if kinds:
        stmt = stmt.where(Resource.kind.in_(kinds))
    resources = read_frame(conn, stmt, ["id", "kind", "name", "lon", "lat", "capacity", "capacity_unit"])
    if resources.empty:
        return resources.assign(distance_m=[], travel_s=[], method=[])
    resources["distance_m"] = haversine_m(lon, lat, resources["lon"].to_numpy(), resources["lat"].to_numpy())
    graph = graph if graph is not None else load_road_graph(conn, at)
    straight = resources["distance_m"] * DETOUR_FACTOR / (FALLBACK_SPEED_KMH / 3.6)
    if graph is None:
        resources["travel_s"], resources["method"] = straight, "straight_line"
    else:
        # Route backwards from the incident: fine for two-way roads, an approximation on one-way ones.
        source, access_m = graph.nearest_node(lon, lat)
        seconds = graph.seconds_from(source)
        access = ACCESS_SPEED_KMH / 3.6
        travel, method = [], []
        for r_lon, r_lat, fallback in zip(resources["lon"], resources["lat"], straight):
            target, egress_m = graph.nearest_node(r_lon, r_lat)
            network = seconds[target] + (access_m + egress_m) / access
            usable = np.isfinite(network)
            travel.append(network if usable else fallback)
            method.append("network" if usable else "straight_line")
        resources["travel_s"], resources["method"] = travel, method
    ranked = resources.sort_values(["kind", "travel_s", "id"]).groupby("kind", sort=True).head(per_kind)
    return ranked.reset_index(drop=True)
