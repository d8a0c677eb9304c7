"""Things on the map that are not events: sensors (with their status history) and emergency resources."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely

from queries.demo.common import Projection, TimeAxis, choose_weighted, component_rng
from queries.demo.geography import PETROCHEMICAL_PARK, Geography
from queries.demo.names import DISTRICTS, pick
from queries.demo.roads import RoadNetwork
from queries.demo.weather import Weather
from queries.spatial import assign_points

RIVERS = (
    ("蔷薇河", ((118.60, 34.65), (118.85, 34.62), (119.05, 34.64), (119.17, 34.70), (119.24, 34.77))),
    ("新沭河", ((118.75, 34.80), (118.95, 34.76), (119.10, 34.75), (119.23, 34.78))),
    ("盐河", ((119.17, 34.60), (119.20, 34.45), (119.28, 34.30), (119.35, 34.12))),
    ("烧香河", ((119.20, 34.55), (119.40, 34.55), (119.60, 34.50))),
    ("灌河", ((119.35, 34.05), (119.50, 34.20), (119.65, 34.35), (119.76, 34.44))),
    ("玉带河", ((119.12, 34.58), (119.17, 34.60), (119.22, 34.63))),
    ("青口河", ((118.95, 34.88), (119.10, 34.85), (119.19, 34.85))),
)
TIDE_GAUGES = (("连云港潮位站", (119.43, 34.74)), ("燕尾港潮位站", (119.76, 34.45)))
IOT_KINDS = (("smoke", "烟感", 0.5, "SMK"), ("manhole", "智能井盖", 0.25, "MH"), ("hydrant", "智能消火栓", 0.15, "HYD"), ("gas", "燃气监测", 0.10, "GAS"))
NAMED_HOSPITALS = (
    ("连云港市第一人民医院", "320706", 2800), ("连云港市第二人民医院", "320706", 1800), ("连云港市中医院", "320706", 1200),
    ("连云港市妇幼保健院", "320706", 600), ("连云港市东方医院", "320703", 1200), ("赣榆区人民医院", "320707", 1200),
    ("东海县人民医院", "320722", 1300), ("灌云县人民医院", "320723", 1000), ("灌南县人民医院", "320724", 900),
)
NAMED_RESCUE_TEAMS = (
    ("连云港市蓝天救援队", "320706", 60), ("连云港市矿山救护队", "320706", 45), ("徐圩新区危化品专业救援队", "320703", 80),
    ("连云港海上搜救中心应急队", "320703", 50), ("国网连云港供电公司电力抢修队", "320706", 70),
)


@dataclass
class PointSet:
    """Columns of a point table, before loading (one entry per point)."""

    columns: dict[str, list] = field(default_factory=dict)
    lon: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lat: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __len__(self) -> int:
        return len(self.lon)


def area_codes(geography: Geography, lon, lat) -> pd.DataFrame:
    """district/street/community/grid codes containing each point."""
    return assign_points(geography.areas[["code", "level", "parent_code", "name", "geometry"]], lon, lat)


def points_in_grids(geography: Geography, grid_index: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A uniformly random point inside each given grid (rejection sampling within its bounding box)."""
    grids = geography.grids()
    geoms = grids.geometry.values
    shapely.prepare(geoms)
    bounds = np.column_stack([grids["minx"], grids["miny"], grids["maxx"], grids["maxy"]])[grid_index]
    lon = np.full(len(grid_index), np.nan)
    lat = np.full(len(grid_index), np.nan)
    pending = np.arange(len(grid_index))
    for _ in range(60):
        if len(pending) == 0:
            break
        x = rng.uniform(bounds[pending, 0], bounds[pending, 2])
        y = rng.uniform(bounds[pending, 1], bounds[pending, 3])
        inside = shapely.contains_xy(geoms[grid_index[pending]], x, y)
        lon[pending[inside]], lat[pending[inside]] = x[inside], y[inside]
        pending = pending[~inside]
    if len(pending):  # thin slivers: fall back to the label point, which is inside by construction
        lon[pending] = grids["label_lon"].to_numpy()[grid_index[pending]]
        lat[pending] = grids["label_lat"].to_numpy()[grid_index[pending]]
    return lon, lat


def _short(name: str) -> str:
    for suffix in ("街道", "镇", "乡", "社区", "村"):
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


def _nearest_grid(geography: Geography, lon: float, lat: float) -> int:
    grids = geography.grids()
    return int(np.argmin((grids["label_lon"].to_numpy() - lon) ** 2 + (grids["label_lat"].to_numpy() - lat) ** 2))


def _on_land(geography: Geography, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points outside every grid (over water) move to the nearest grid's label point."""
    codes = area_codes(geography, lon, lat)
    lon, lat = lon.copy(), lat.copy()
    grids = geography.grids()
    for i in np.flatnonzero(codes["grid_code"].isna().to_numpy()):
        j = _nearest_grid(geography, lon[i], lat[i])
        lon[i], lat[i] = grids["label_lon"].iat[j], grids["label_lat"].iat[j]
    return lon, lat


def _along_rivers(count: int, projection: Projection, rng: np.random.Generator) -> list[tuple[str, float, float]]:
    lines = [(name, shapely.LineString(np.column_stack(projection.to_utm_xy(*np.array(pts).T)))) for name, pts in RIVERS]
    lengths = np.array([line.length for _, line in lines])
    picks = choose_weighted(rng, lengths, count)
    result = []
    for river in picks:
        name, line = lines[river]
        point = line.interpolate(rng.uniform(0.05, 0.95), normalized=True)
        lon, lat = projection.to_lonlat(point.x, point.y)
        result.append((name, float(lon), float(lat)))
    return result


@dataclass
class Sensors:
    points: PointSet
    kinds: np.ndarray
    ids: list[str]
    properties: list[dict]
    events: dict[str, list]  # sensor_status_events columns
    status: np.ndarray
    status_at: np.ndarray


def build_sensors(geography: Geography, roads: RoadNetwork, scale, seed: int, projection: Projection, axis: TimeAxis, weather: Weather) -> Sensors:
    rng = component_rng(seed, "sensors")
    grids = geography.grids()
    street_names = dict(zip(geography.areas["code"], geography.areas["name"]))
    ids, kinds, names, lons, lats, segment_ids, props = [], [], [], [], [], [], []

    # Air-quality stations: one per district seat, one by the petrochemical park, the rest where people live.
    seats = [spec.seat for spec in DISTRICTS] + [PETROCHEMICAL_PARK]
    extra = max(0, scale.air_stations - len(seats))
    urban_grids = choose_weighted(rng, grids["population"].to_numpy(dtype=float) ** 1.5, extra)
    station_lon, station_lat = points_in_grids(geography, urban_grids, rng)
    station_points = list(seats[: scale.air_stations]) + list(zip(station_lon, station_lat))
    taken: set[str] = set()
    for number, (lon, lat) in enumerate(station_points):
        grid = _nearest_grid(geography, lon, lat)
        base = _short(street_names[grids["parent_code"].iat[grid][:9]])
        name = base + ("监测站" if base + "监测站" not in taken else f"{len(taken) + 1}号监测站")
        taken.add(name)
        ids.append(f"{1001 + number}A")
        kinds.append("air_quality")
        names.append(name)
        lons.append(lon)
        lats.append(lat)
        segment_ids.append(None)
        props.append({"network": "国控" if number < 8 else "省控", "urban": bool(grids["urban"].iat[grid])})

    # Water level gauges on rivers (and two tide gauges on the coast); water quality stations on rivers.
    for number, (river, lon, lat) in enumerate(_along_rivers(scale.water_level_gauges - len(TIDE_GAUGES), projection, rng)):
        base_level = round(float(rng.uniform(1.5, 3.5)), 2)
        ids.append(f"SW{number + 1:04d}")
        kinds.append("water_level")
        names.append(f"{river}{number + 1}号水位站")
        lons.append(lon)
        lats.append(lat)
        segment_ids.append(None)
        props.append({"river": river, "type": "river", "unit": "m", "datum": "1985国家高程基准", "base_level_m": base_level,
                      "warning_level_m": round(base_level + float(rng.uniform(1.2, 1.8)), 2),
                      "guarantee_level_m": round(base_level + float(rng.uniform(2.2, 2.8)), 2), "response_hours": round(float(rng.uniform(6, 30)), 1)})
    for number, (name, (lon, lat)) in enumerate(TIDE_GAUGES, start=scale.water_level_gauges - len(TIDE_GAUGES)):
        ids.append(f"SW{number + 1:04d}")
        kinds.append("water_level")
        names.append(name)
        lons.append(lon)
        lats.append(lat)
        segment_ids.append(None)
        props.append({"type": "tide", "unit": "m", "datum": "1985国家高程基准", "warning_level_m": 3.2, "guarantee_level_m": 3.8})
    for number, (river, lon, lat) in enumerate(_along_rivers(scale.water_quality_stations, projection, rng)):
        ids.append(f"SZ{number + 1:04d}")
        kinds.append("water_quality")
        names.append(f"{river}{number + 1}号水质自动站")
        lons.append(lon)
        lats.append(lat)
        segment_ids.append(None)
        props.append({"river": river, "target_class": pick(rng, ("III", "III", "IV")), "metrics": ["ph", "dissolved_oxygen", "ammonia_nitrogen", "permanganate_index", "turbidity"]})

    # Traffic detectors on expressways and arterials, mostly urban.
    major = np.flatnonzero(np.isin(np.array(roads.classes), ["expressway", "arterial"]) & (roads.lengths_m > 200))
    weights = np.clip(roads.urban_density[major], 300, 8000) * np.where(np.array(roads.classes)[major] == "expressway", 1.5, 1.0)
    chosen = major[np.unique(choose_weighted(rng, weights, scale.traffic_detectors * 3))[: scale.traffic_detectors]]
    for number, segment in enumerate(chosen):
        ids.append(f"JC{number + 1:05d}")
        kinds.append("traffic_detector")
        names.append(f"{roads.names[segment]}{pick(rng, ('微波', '线圈', '视频'))}检测器{number + 1}")
        lons.append(float(roads.mid_lon[segment]))
        lats.append(float(roads.mid_lat[segment]))
        segment_ids.append(roads.ids[segment])
        props.append({"lanes": int(roads.lanes[segment]), "interval_min": scale.detector_interval_min, "road_class": roads.classes[segment]})

    # IoT devices where people live.
    iot_counts = np.round(np.array([share for *_, share, _ in IOT_KINDS]) * scale.iot_devices).astype(int)
    population = grids["population"].to_numpy(dtype=float)
    for (kind, label, _share, prefix), count in zip(IOT_KINDS, iot_counts):
        chosen_grids = choose_weighted(rng, population * (1.0 + 2.0 * grids["urban"].to_numpy()), count)
        lon, lat = points_in_grids(geography, chosen_grids, rng)
        for number in range(count):
            community = grids["parent_code"].iat[chosen_grids[number]]
            ids.append(f"{prefix}{number + 1:06d}")
            kinds.append(kind)
            names.append(f"{street_names[community]}{label}{number + 1}号")
            lons.append(float(lon[number]))
            lats.append(float(lat[number]))
            segment_ids.append(None)
            props.append({"battery_pct": int(rng.integers(20, 101)), "model": pick(rng, ("NB-IoT", "LoRa", "4G Cat.1"))})

    lon, lat = _on_land(geography, np.array(lons), np.array(lats))
    kinds_array = np.array(kinds, dtype=object)
    events, status, status_at = _status_history(kinds_array, geography, lon, lat, axis, weather, rng)
    installed = axis.now - (rng.uniform(200, 1500, len(ids)) * 86400).astype("timedelta64[s]")
    status_at = np.where(np.isnat(status_at), installed, status_at)
    points = PointSet(
        columns={"id": ids, "kind": kinds, "name": names, "road_segment_id": segment_ids, "properties": props, "installed_at": installed},
        lon=np.round(lon, 6),
        lat=np.round(lat, 6),
    )
    return Sensors(points, kinds_array, ids, props, events, status, status_at)


def _status_history(kinds: np.ndarray, geography: Geography, lon: np.ndarray, lat: np.ndarray, axis: TimeAxis, weather: Weather, rng: np.random.Generator):
    """Offline/alarm episodes per device; the last unresolved one is the device's current status."""
    span = (axis.now - axis.start).astype("timedelta64[s]").astype(float)
    alarm_rate = {"smoke": 1.2, "manhole": 0.6, "hydrant": 0.5, "gas": 0.5}
    alarm_detail = {"smoke": "烟雾浓度超限", "manhole": "井盖位移", "hydrant": "水压异常", "gas": "可燃气体浓度超限(≥25%LEL)"}
    park_lon, park_lat = PETROCHEMICAL_PARK
    codes = area_codes(geography, lon, lat)
    grids = geography.grids()
    elevation = dict(zip(grids["code"], geography.grid_elevation))
    low_lying = np.array([elevation.get(code, 99.0) < 5.0 for code in codes["grid_code"]])
    sensor_idx, at, status, detail = [], [], [], []
    current = np.full(len(kinds), "online", dtype=object)
    current_at = np.full(len(kinds), np.datetime64("NaT"), dtype="datetime64[s]")
    for i, kind in enumerate(kinds):
        episodes = []
        for _ in range(rng.poisson(0.8)):
            episodes.append((rng.uniform(0, span), "offline", "心跳超时", rng.exponential(6 * 3600)))
        if kind in alarm_rate:
            for _ in range(rng.poisson(alarm_rate[kind])):
                episodes.append((rng.uniform(0, span), "alarm", alarm_detail[kind], rng.exponential(3600)))
        if kind == "manhole" and low_lying[i] and rng.random() < 0.5:
            offset = (weather.rain_start - axis.start).astype("timedelta64[s]").astype(float) + rng.uniform(6, 40) * 3600
            episodes.append((offset, "alarm", "井下水位超限", rng.uniform(3, 12) * 3600))
        if kind == "gas" and np.hypot(lon[i] - park_lon, lat[i] - park_lat) < 0.08:
            offset = (weather.hazchem_at - axis.start).astype("timedelta64[s]").astype(float) + rng.uniform(0, 2) * 3600
            episodes.append((offset, "alarm", "可燃气体浓度超限(≥25%LEL)", rng.uniform(2, 8) * 3600))
        if rng.random() < 0.04:  # a dead battery or a lost link not yet repaired
            episodes.append((span - rng.uniform(3600, 10 * 86400), "offline", pick(rng, ("心跳超时", "电量低")), span * 2))
        if rng.random() < 0.004:
            episodes.append((span - rng.uniform(300, 4 * 3600), "alarm", alarm_detail.get(kind, "监测值超限"), span * 2))
        for start, state, note, duration in sorted(episodes):
            if start >= span:
                continue
            begin = axis.start + np.timedelta64(int(start), "s")
            sensor_idx.append(i)
            at.append(begin)
            status.append(state)
            detail.append(note)
            current[i], current_at[i] = state, begin
            if start + duration < span:
                end = axis.start + np.timedelta64(int(start + duration), "s")
                sensor_idx.append(i)
                at.append(end)
                status.append("online")
                detail.append("恢复在线" if state == "offline" else "告警解除")
                current[i], current_at[i] = "online", end
    events = {"sensor_index": np.array(sensor_idx, dtype=np.int64), "at": np.array(at, dtype="datetime64[s]"), "status": status, "detail": detail}
    return events, current, current_at


def build_resources(geography: Geography, seed: int) -> PointSet:
    rng = component_rng(seed, "resources")
    areas = geography.areas
    grids = geography.grids()
    streets = geography.by_level("street")
    district_names = dict(zip(areas["code"], areas["name"]))
    # The most populous grid of each street, of each district: where a town's institutions are.
    grid_street = grids["code"].str[:9].to_numpy()
    grid_district = grids["code"].str[:6].to_numpy()
    population = grids["population"].to_numpy()
    order = np.argsort(-population, kind="stable")
    top_of_street: dict[str, int] = {}
    top_of_district: dict[str, list[int]] = {}
    for index in order:
        top_of_street.setdefault(grid_street[index], int(index))
        top_of_district.setdefault(grid_district[index], []).append(int(index))
    rows: list[tuple] = []  # (kind, name, grid index, capacity, unit, properties)

    def district_grid(code: str) -> int:
        candidates = top_of_district[code][:30]
        return candidates[int(rng.integers(len(candidates)))]

    for name, district, beds in NAMED_HOSPITALS:
        rows.append(("hospital", name, district_grid(district), beds, "beds", {"grade": "三级" if beds >= 1500 else "二级"}))
    for name, district, people in NAMED_RESCUE_TEAMS:
        rows.append(("rescue_team", name, district_grid(district), people, "persons", {"speciality": pick(rng, ("综合", "水域", "山地", "危化"))}))
    rows.append(("supply_depot", "连云港市应急物资储备库", district_grid("320706"), 800, "tonnes", {"level": "市级"}))
    rows.append(("supply_depot", "徐圩新区危化品应急物资库", district_grid("320703"), 150, "tonnes", {"level": "园区"}))
    for spec in DISTRICTS:
        rows.append(("supply_depot", f"{spec.name}应急物资储备库", district_grid(spec.code), int(rng.integers(200, 500)), "tonnes", {"level": "县级"}))
        rows.append(("rescue_team", f"{spec.name}应急救援大队", district_grid(spec.code), int(rng.integers(30, 90)), "persons", {"speciality": "综合"}))
    for _, street in streets.iterrows():
        grid = top_of_street.get(street["code"])
        if grid is None:
            continue
        short = _short(street["name"])
        urban = street["name"].endswith("街道")
        rows.append(("police_station", f"{short}派出所", grid, int(rng.integers(25, 90 if urban else 45)), "persons", {}))
        if urban or rng.random() < 0.35:
            rows.append(("fire_station", f"{short}消防救援站", grid, int(rng.integers(4, 12 if urban else 7)), "vehicles", {"type": "普通站" if urban else "小型站"}))
        rows.append(("hospital", f"{short}{'社区卫生服务中心' if urban else '卫生院'}", grid, int(rng.integers(30, 80 if urban else 150)), "beds", {"grade": "一级"}))
        for _ in range(1 + int(urban)):
            place = pick(rng, ("广场", "公园", "体育场", "中学", "小学", "文化中心"))
            rows.append(("shelter", f"{short}{place}应急避难场所", grid, int(rng.integers(20, 400)) * 100, "persons", {"type": "室外" if place in ("广场", "公园", "体育场") else "室内"}))

    grid_index = np.array([r[2] for r in rows])
    lon, lat = points_in_grids(geography, grid_index, rng)
    kind_counter: dict[str, int] = {}
    ids, phones, addresses = [], [], []
    for kind, name, grid, *_ in rows:
        kind_counter[kind] = kind_counter.get(kind, 0) + 1
        ids.append(f"{kind.upper()[:3]}{kind_counter[kind]:04d}")
        phones.append(f"0518-8{int(rng.integers(0, 10_000_000)):07d}")
        community = grids["parent_code"].iat[grid]
        addresses.append(f"{district_names[community[:6]]}{district_names[community[:9]]}{district_names[community]}{int(rng.integers(1, 300))}号")
    return PointSet(
        columns={
            "id": ids, "kind": [r[0] for r in rows], "name": [r[1] for r in rows], "capacity": [float(r[3]) for r in rows],
            "capacity_unit": [r[4] for r in rows], "address": addresses, "phone": phones, "properties": [r[5] for r in rows],
        },
        lon=np.round(lon, 6),
        lat=np.round(lat, 6),
    )
