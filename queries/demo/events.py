"""Incidents (with their lifecycle) and 12345 hotline work orders of the demo city.

Incidents happen where people are (or on roads, for traffic; in low-lying urban grids, for
waterlogging), follow the hour of the day, and go reported → accepted → dispatched → on_scene →
resolved → closed, with one ``incident_events`` row per step already reached by ``now``. The
heavy-rain episode brings a cluster of 城市内涝 reports; the hazardous-chemicals fire in the
petrochemical park brings a severity-II incident with follow-ups. Work orders peak after both.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from queries.demo.assets import area_codes, points_in_grids
from queries.demo.common import (
    LOCAL_OFFSET_HOURS,
    TimeAxis,
    allocate,
    choose_weighted,
    component_rng,
    local_date_strings,
)
from queries.demo.geography import PETROCHEMICAL_PARK, Geography
from queries.demo.names import person_names, phone_numbers
from queries.demo.roads import RoadNetwork
from queries.demo.series import traffic_demand
from queries.demo.weather import Weather

STEPS = ("reported", "accepted", "dispatched", "on_scene", "resolved", "closed")


@dataclass(frozen=True)
class Subtype:
    category: str
    subtype: str
    share: float
    place: str  # people | road | low | hills
    timing: str  # day | traffic | night | flat | rain | fog
    channels: tuple[tuple[str, float], ...]
    responder: str
    resolve_hours: float
    severity: tuple[float, float, float]  # P(I), P(II), P(III); the rest is IV (I means ≥ 30 deaths: next to never)
    titles: tuple[str, ...]


SUBTYPES = (
    Subtype("accident", "traffic_accident", 0.22, "road", "traffic", (("110", 0.7), ("12345", 0.1), ("grid_officer", 0.1), ("120", 0.1)), "交警大队", 1.0, (2e-06, 5e-05, 0.01),
            ("{road}两车追尾", "{road}电动车与轿车碰擦", "{road}货车侧翻", "{road}多车相撞", "{road}行人被撞")),
    Subtype("accident", "fire", 0.05, "people", "day", (("119", 0.85), ("110", 0.1), ("iot", 0.05)), "消防救援站", 1.5, (2e-06, 0.0001, 0.01667),
            ("{community}居民楼起火", "{community}电动车充电起火", "{street}厂房火情", "{road}沿街商铺起火", "{community}垃圾堆起火")),
    Subtype("accident", "gas_leak", 0.015, "people", "day", (("12345", 0.4), ("119", 0.3), ("iot", 0.3)), "燃气抢修队", 2.0, (0, 5e-05, 0.01333),
            ("{community}居民家中燃气泄漏", "{road}燃气管道破损漏气")),
    Subtype("accident", "utility_failure", 0.06, "people", "day", (("12345", 0.8), ("grid_officer", 0.2)), "供水供电抢修队", 4.0, (0, 0, 0.003333),
            ("{community}大面积停电", "{road}供水管道爆裂", "{community}停水")),
    Subtype("accident", "production_safety", 0.01, "people", "day", (("110", 0.3), ("12345", 0.3), ("grid_officer", 0.4)), "应急管理局", 6.0, (2e-06, 0.00025, 0.02667),
            ("{street}某企业工人高处坠落", "{street}工地机械伤人")),
    Subtype("accident", "building", 0.015, "people", "day", (("12345", 0.5), ("grid_officer", 0.5)), "住建局", 24.0, (0, 5e-05, 0.01),
            ("{community}老旧房屋墙体开裂", "{road}广告牌松动")),
    Subtype("accident", "environmental", 0.02, "people", "day", (("12345", 0.7), ("grid_officer", 0.3)), "生态环境局", 12.0, (0, 5e-05, 0.01),
            ("{street}河道发现油污", "{community}周边企业偷排废水")),
    Subtype("social_security", "dispute", 0.2, "people", "day", (("grid_officer", 0.5), ("12345", 0.3), ("110", 0.2)), "司法所", 8.0, (0, 0, 0.001333),
            ("{community}邻里纠纷", "{community}物业纠纷", "{street}劳资纠纷", "{community}宅基地纠纷")),
    Subtype("social_security", "public_order", 0.14, "people", "night", (("110", 0.85), ("grid_officer", 0.15)), "派出所", 1.5, (0, 1.25e-05, 0.003333),
            ("{road}有人打架", "{community}疑似盗窃", "{road}醉酒滋事")),
    Subtype("social_security", "crowd_safety", 0.02, "people", "day", (("grid_officer", 0.6), ("110", 0.4)), "派出所", 3.0, (0, 5e-05, 0.01667),
            ("{street}商场人员聚集", "{road}活动现场人流密集")),
    Subtype("social_security", "mass_gathering", 0.003, "people", "day", (("110", 0.5), ("grid_officer", 0.5)), "派出所", 6.0, (0, 0.0005, 0.06667),
            ("{street}群众聚集讨薪", "{community}业主聚集维权")),
    Subtype("public_health", "medical_emergency", 0.17, "people", "flat", (("120", 0.95), ("12345", 0.05)), "120急救站", 1.0, (0, 0, 0.001667),
            ("{community}老人突发疾病", "{road}路人晕倒", "{community}儿童高热惊厥")),
    Subtype("public_health", "food_poisoning", 0.004, "people", "day", (("120", 0.6), ("12345", 0.4)), "卫生健康委", 12.0, (0, 0.00025, 0.03333),
            ("{street}某餐馆多人食物中毒", "{community}聚餐后多人腹泻")),
    Subtype("public_health", "infectious_disease", 0.003, "people", "day", (("12345", 0.5), ("grid_officer", 0.5)), "疾控中心", 48.0, (0, 0.00025, 0.03333),
            ("{street}学校聚集性发热病例", "{community}疑似传染病病例")),
    Subtype("natural_disaster", "waterlogging", 0.02, "low", "rain", (("12345", 0.5), ("grid_officer", 0.3), ("iot", 0.2)), "排水管理处", 4.0, (0, 2.5e-05, 0.01),
            ("{road}路段积水约{depth}厘米", "{community}地下车库进水", "{road}下穿通道积水", "{community}低洼小区积水")),
    Subtype("natural_disaster", "fog", 0.01, "road", "fog", (("110", 0.5), ("grid_officer", 0.5)), "交警大队", 5.0, (0, 2.5e-05, 0.006667),
            ("{road}团雾能见度不足100米",)),
    Subtype("natural_disaster", "geological", 0.003, "hills", "rain", (("grid_officer", 0.7), ("12345", 0.3)), "自然资源局", 24.0, (0, 0.00025, 0.03333),
            ("{street}山体落石", "{street}边坡滑塌")),
)
CHANNEL_ACTORS = {"12345": "12345热线", "110": "110指挥中心", "119": "119指挥中心", "120": "120急救指挥中心", "iot": "物联感知平台"}
CHANNEL_LABELS = {"12345": "12345热线", "110": "110", "119": "119", "120": "120", "iot": "物联感知设备告警", "grid_officer": "网格员巡查"}
DUTY_OFFICERS = ("张伟", "李娜", "王强", "刘洋", "陈静", "杨帆", "赵磊", "周敏")

# 12345 question classes: code, name, department (None = the district government), demand-type
# weights (consult, help, complaint, report, suggestion, praise), share, titles.
DEMAND_CODES = ("consult", "help", "complaint", "report", "suggestion", "praise")
HANDLE_DAYS = {"consult": 1, "help": 3, "complaint": 5, "report": 7, "suggestion": 10, "praise": 3}
QUESTIONS = (
    ("0101", "城乡建设/市政设施", "市住房和城乡建设局", (0.1, 0.3, 0.5, 0.05, 0.05, 0), 0.08, ("{road}路灯不亮", "{road}人行道破损", "{road}井盖缺失")),
    ("0102", "城乡建设/道路积水排水", "市住房和城乡建设局", (0.05, 0.45, 0.45, 0.02, 0.03, 0), 0.02, ("{road}路段积水严重", "{community}雨水倒灌", "{road}下水道堵塞")),
    ("0201", "城市管理/占道经营", None, (0.02, 0.03, 0.6, 0.33, 0.02, 0), 0.06, ("{road}流动摊贩占道经营", "{road}商户占道堆放")),
    ("0202", "城市管理/违章搭建", None, (0.03, 0.02, 0.35, 0.58, 0.02, 0), 0.04, ("{community}楼顶违章搭建", "{community}私搭乱建")),
    ("0301", "生态环境/噪声污染", "市生态环境局", (0.02, 0.05, 0.8, 0.1, 0.03, 0), 0.07, ("{community}夜间施工噪音扰民", "{road}商户音响噪音扰民")),
    ("0302", "生态环境/大气污染(异味)", "市生态环境局", (0.05, 0.05, 0.55, 0.33, 0.02, 0), 0.03, ("{street}附近有刺鼻异味", "{community}周边企业排放废气")),
    ("0401", "交通运输/公交出租", "市交通运输局", (0.4, 0.05, 0.4, 0.05, 0.1, 0), 0.05, ("{road}公交车不按站停靠", "出租车拒载", "咨询公交线路调整")),
    ("0402", "交通运输/道路交通秩序", "市公安局交通警察支队", (0.1, 0.1, 0.4, 0.2, 0.2, 0), 0.05, ("{road}违停严重", "{road}信号灯配时不合理")),
    ("0501", "供水供电供气/供水", "连云港市水务集团", (0.3, 0.4, 0.3, 0, 0, 0), 0.05, ("{community}突然停水", "{community}水压低", "{community}自来水浑浊")),
    ("0502", "供水供电供气/供电", "国网连云港供电公司", (0.3, 0.45, 0.25, 0, 0, 0), 0.05, ("{community}停电", "{road}电线杆倾斜", "{community}电压不稳")),
    ("0503", "供水供电供气/燃气", "连云港港华燃气有限公司", (0.4, 0.3, 0.3, 0, 0, 0), 0.02, ("{community}燃气开通咨询", "{community}燃气费用异议")),
    ("0601", "住房保障/物业管理", None, (0.1, 0.1, 0.7, 0.05, 0.05, 0), 0.08, ("{community}物业不作为", "{community}电梯故障长期未修")),
    ("0701", "劳动保障/欠薪", "市人力资源和社会保障局", (0.1, 0.3, 0.5, 0.1, 0, 0), 0.05, ("{street}某工地拖欠农民工工资", "公司拖欠工资")),
    ("0702", "社会保障/社保医保", "市医疗保障局", (0.85, 0.1, 0.05, 0, 0, 0), 0.07, ("咨询医保异地报销", "咨询灵活就业社保缴费")),
    ("0801", "教育/入学招生", "市教育局", (0.8, 0.05, 0.1, 0, 0.05, 0), 0.04, ("咨询{street}学区划分", "咨询幼儿园入园政策")),
    ("0901", "市场监管/消费维权", "市市场监督管理局", (0.1, 0.05, 0.65, 0.2, 0, 0), 0.06, ("{road}商家虚假宣传", "预付卡商家跑路", "{road}超市售卖过期食品")),
    ("1001", "公安/户籍证件", "市公安局", (0.9, 0.05, 0.05, 0, 0, 0), 0.04, ("咨询户口迁移手续", "咨询身份证补办")),
    ("1101", "政务服务/办事咨询", "市政务服务管理办公室", (0.85, 0.03, 0.05, 0, 0.05, 0.02), 0.05, ("咨询营业执照网上办理", "咨询不动产登记流程", "表扬窗口工作人员")),
    ("1201", "农业农村/农村人居环境", None, (0.05, 0.2, 0.55, 0.1, 0.1, 0), 0.03, ("{community}垃圾清运不及时", "{community}道路坑洼")),
    ("1301", "卫生健康/医疗服务", "市卫生健康委员会", (0.4, 0.1, 0.4, 0.05, 0.03, 0.02), 0.06, ("{street}医院挂号难", "表扬医护人员", "咨询疫苗接种")),
)
QUESTION_CODES = tuple(q[0] for q in QUESTIONS)


@dataclass
class Table:
    """Column-wise rows: plain lists, plus numpy time arrays (datetime64, NaT = NULL)."""

    columns: dict
    lon: np.ndarray | None = None
    lat: np.ndarray | None = None

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))


def _hour_profile(timing: str, local_hour: np.ndarray, weekday: np.ndarray, weather: Weather, fog_days: np.ndarray) -> np.ndarray:
    hour = local_hour.astype(float)
    human = 0.15 + np.exp(-((hour - 10) ** 2) / 8) + 0.9 * np.exp(-((hour - 15.5) ** 2) / 8) + 0.7 * np.exp(-((hour - 20) ** 2) / 4)
    rain = weather.on_axis(weather.rain_mm)
    if timing == "traffic":
        return traffic_demand(hour, weekday) * (1 + 0.6 * np.clip(rain / 5, 0, 1)) + 0.05
    if timing == "night":
        return 0.3 + np.exp(-((np.minimum(np.abs(hour - 23), 24 - np.abs(hour - 23))) ** 2) / 8) + 0.4 * human
    if timing == "flat":
        return 0.6 + 0.4 * human
    if timing == "rain":
        return np.clip(rain, 0, None) ** 1.3 + 1e-6
    if timing == "fog":
        return fog_days * np.exp(-((hour - 6) ** 2) / 4) + 1e-6
    return human * np.where(weekday >= 5, 0.85, 1.0)


def _sample_times(axis: TimeAxis, weights: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Times drawn over the axis hours by weight, at a uniform second within the hour, never after now."""
    hours = choose_weighted(rng, weights, count)
    seconds = rng.integers(0, 3600, count)
    times = axis.hours[hours] - np.timedelta64(3600, "s") + seconds.astype("timedelta64[s]") + np.timedelta64(1, "s")
    return np.minimum(times, axis.now)


def _lognormal_seconds(rng: np.random.Generator, median_s: np.ndarray, sigma: float, count: int) -> np.ndarray:
    return (np.asarray(median_s, dtype=float) * rng.lognormal(0, sigma, count)).astype(np.int64).astype("timedelta64[s]")


def codes_of_points(geography: Geography, lon: np.ndarray, lat: np.ndarray, grid_of: np.ndarray) -> pd.DataFrame:
    """Area codes per point: from the grid a point was drawn in (codes are prefixes of the grid
    code), by a spatial lookup for the others; a point a hair outside every grid moves to the
    nearest grid's label point (``lon``/``lat`` are updated in place)."""
    grid_codes = geography.grids()["code"].to_numpy()
    grid_of = grid_of.copy()
    lookup = np.flatnonzero(grid_of < 0)
    if len(lookup):
        found = area_codes(geography, lon[lookup], lat[lookup])["grid_code"].to_numpy()
        index_of = {code: i for i, code in enumerate(grid_codes)}
        grids = geography.grids()
        for position, code in zip(lookup, found):
            if code is None:
                j = int(np.argmin((grids["label_lon"].to_numpy() - lon[position]) ** 2 + (grids["label_lat"].to_numpy() - lat[position]) ** 2))
                lon[position], lat[position] = grids["label_lon"].iat[j], grids["label_lat"].iat[j]
                grid_of[position] = j
            else:
                grid_of[position] = index_of[code]
    grid = grid_codes[grid_of]
    return pd.DataFrame({"district_code": [g[:6] for g in grid], "street_code": [g[:9] for g in grid], "community_code": [g[:12] for g in grid], "grid_code": list(grid)})


def _district_roads(roads: RoadNetwork) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for name, district in zip(roads.names, roads.district_codes):
        if district and not name.startswith(("G", "S", "X")) and name not in result.setdefault(district, []):
            result[district].append(name)
    return result


def _points_on_roads(roads: RoadNetwork, weights: np.ndarray, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    segments = choose_weighted(rng, weights, count)
    points = shapely.line_interpolate_point(roads.geoms[segments], rng.uniform(0.05, 0.95, count), normalized=True)
    return segments, shapely.get_x(points), shapely.get_y(points)


def build_incidents(geography: Geography, roads: RoadNetwork, scale, seed: int, axis: TimeAxis, weather: Weather) -> tuple[Table, Table]:
    rng = component_rng(seed, "incidents")
    grids = geography.grids()
    population = grids["population"].to_numpy(dtype=float)
    density = geography.grid_density
    lowness = np.clip(6.0 - geography.grid_elevation, 0, None) ** 2
    urban = grids["urban"].to_numpy()
    day_count = len(axis) // 24
    fog_days = np.repeat(rng.random(day_count + 1) < 0.12, 24)[: len(axis)].astype(float)
    local_hour, weekday = axis.local_hour(), axis.local_weekday()
    # Roads where accidents can happen: on land (inside a grid), weighted by traffic and people.
    road_codes = area_codes(geography, roads.mid_lon, roads.mid_lat)
    road_ok = road_codes["grid_code"].notna().to_numpy()
    road_weight = roads.lengths_m * np.clip(roads.urban_density, 200, 10000) ** 0.6 * np.where(np.array(roads.classes) == "expressway", 0.6, 1.0) * road_ok

    hazchem_rows = _hazchem_episode(weather)
    base_total = scale.incidents - scale.rain_waterlogging_reports - len(hazchem_rows)
    counts = allocate(base_total, np.array([s.share for s in SUBTYPES]), minimum=1)
    parts = []  # (subtype index, times, lon, lat, road name or None)
    for index, (spec, count) in enumerate(zip(SUBTYPES, counts)):
        times = _sample_times(axis, _hour_profile(spec.timing, local_hour, weekday, weather, fog_days), count, rng)
        if spec.place == "road":
            segments, lon, lat = _points_on_roads(roads, road_weight, count, rng)
            road_names = [roads.names[s] for s in segments]
            grid_of = np.full(count, -1)
        else:
            if spec.place == "low":
                weights = population * lowness * (0.2 + urban)
            elif spec.place == "hills":
                weights = grids["area_km2"].to_numpy() * (geography.grid_elevation > 40)
                weights = weights if weights.sum() > 0 else population
            else:
                weights = population * (1 + 0.5 * np.log1p(density / 1000))
            grid_of = choose_weighted(rng, weights, count)
            lon, lat = points_in_grids(geography, grid_of, rng)
            road_names = [None] * count
        parts.append((np.full(count, index), times, lon, lat, road_names, grid_of))
    # The heavy-rain episode: 城市内涝 reports in low-lying urban grids while it pours.
    waterlogging = next(i for i, s in enumerate(SUBTYPES) if s.subtype == "waterlogging")
    storm_weights = np.where(weather.in_rain_episode(axis.hours), weather.on_axis(weather.rain_mm), 0) ** 1.5 + 1e-9
    count = scale.rain_waterlogging_reports
    grid_index = choose_weighted(rng, population * lowness * (0.1 + urban) * np.clip(density / 3000, 0.2, 3), count)
    lon, lat = points_in_grids(geography, grid_index, rng)
    parts.append((np.full(count, waterlogging), _sample_times(axis, storm_weights, count, rng), lon, lat, [None] * count, grid_index))

    subtype_index = np.concatenate([p[0] for p in parts])
    reported = np.concatenate([p[1] for p in parts])
    lon = np.concatenate([p[2] for p in parts])
    lat = np.concatenate([p[3] for p in parts])
    road_names = [name for p in parts for name in p[4]]
    grid_of = np.concatenate([p[5] for p in parts])
    total = len(subtype_index)
    severity = np.full(total, 4)
    draw = rng.random(total)
    for index, spec in enumerate(SUBTYPES):
        mask = subtype_index == index
        p1, p2, p3 = spec.severity
        severity[mask] = np.where(draw[mask] < p1, 1, np.where(draw[mask] < p1 + p2, 2, np.where(draw[mask] < p1 + p2 + p3, 3, 4)))
    channel = np.empty(total, dtype=object)
    for index, spec in enumerate(SUBTYPES):
        mask = np.flatnonzero(subtype_index == index)
        names, weights = zip(*spec.channels)
        channel[mask] = np.array(names, dtype=object)[choose_weighted(rng, np.array(weights), len(mask))]

    # Lifecycle: faster for severe incidents, slower far from town.
    codes = codes_of_points(geography, lon, lat, grid_of)
    grid_urban = dict(zip(grids["code"], urban))
    is_urban = np.array([grid_urban.get(c, False) for c in codes["grid_code"]])
    urgency = np.where(severity <= 2, 0.5, 1.0)
    resolve_median = np.array([SUBTYPES[i].resolve_hours for i in subtype_index]) * 3600
    steps = {
        "reported": reported,
        "accepted": reported + _lognormal_seconds(rng, 150 * urgency, 0.6, total),
    }
    steps["dispatched"] = steps["accepted"] + _lognormal_seconds(rng, 360 * urgency, 0.7, total)
    steps["on_scene"] = steps["dispatched"] + _lognormal_seconds(rng, np.where(is_urban, 720, 1500) * urgency, 0.5, total)
    steps["resolved"] = steps["on_scene"] + _lognormal_seconds(rng, resolve_median, 0.8, total)
    steps["closed"] = steps["resolved"] + _lognormal_seconds(rng, np.full(total, 10 * 3600), 0.9, total)
    incidents = _describe(geography, roads, rng, subtype_index, severity, channel, reported, lon, lat, codes, road_names, steps, axis, total)
    incidents = _append_hazchem(incidents, hazchem_rows, geography, rng, weather)
    return _finish(incidents, rng, axis)


def _describe(geography, roads, rng, subtype_index, severity, channel, reported, lon, lat, codes, road_names, steps, axis, total) -> dict:
    names = dict(zip(geography.areas["code"], geography.areas["name"]))
    district_roads = _district_roads(roads)
    reporter = np.array(person_names(rng, total), dtype=object)
    phone = np.array(phone_numbers(rng, total), dtype=object)
    casualties = np.where(subtype_index == 0, rng.poisson(0.15, total), np.where(subtype_index == 1, rng.poisson(0.05, total), 0))
    local = (reported + np.timedelta64(LOCAL_OFFSET_HOURS, "h")).astype("datetime64[m]")
    clock = np.datetime_as_string(local, unit="m")
    titles, descriptions, addresses = [], [], []
    template_pick = rng.integers(0, 1000, total)
    house_number = rng.integers(1, 400, total)
    depth = rng.integers(15, 60, total)
    district_codes, street_codes, community_codes = (codes[c].tolist() for c in ("district_code", "street_code", "community_code"))
    subtype_list, template_list, number_list, depth_list = subtype_index.tolist(), template_pick.tolist(), house_number.tolist(), depth.tolist()
    channel_list, casualty_list = channel.tolist(), casualties.tolist()
    for i in range(total):
        spec = SUBTYPES[subtype_list[i]]
        district, street, community = district_codes[i], street_codes[i], community_codes[i]
        pool = district_roads.get(district) or ["人民路"]
        road = road_names[i] or pool[template_list[i] % len(pool)]
        title = spec.titles[template_list[i] % len(spec.titles)].format(road=road, community=names[community], street=names[street], depth=depth_list[i])
        address = f"{names[district]}{names[street]}{road}{number_list[i]}号"
        injured = f"，{casualty_list[i]}人受伤" if casualty_list[i] else ""
        descriptions.append(f"{clock[i][11:16]}接{CHANNEL_LABELS[channel_list[i]]}报：{address}附近{title}{injured}。请属地及相关部门核实处置。")
        titles.append(title)
        addresses.append(address)
    iot = channel == "iot"
    return {
        "subtype_index": subtype_index, "severity": severity, "channel": channel, "lon": lon, "lat": lat,
        "codes": codes, "title": titles, "description": descriptions, "address": addresses,
        "reporter_name": np.where(iot, "物联感知平台", reporter), "reporter_phone": np.where(iot, None, phone),
        "casualties": casualties, "steps": steps,
        "category": np.array([SUBTYPES[i].category for i in subtype_index], dtype=object),
        "subtype": np.array([SUBTYPES[i].subtype for i in subtype_index], dtype=object),
        "responder": np.array([SUBTYPES[i].responder for i in subtype_index], dtype=object),
        "notes": [None] * total,
    }


def _hazchem_episode(weather: Weather) -> list[dict]:
    """The hazardous-chemicals fire in the petrochemical park and its follow-up incidents."""
    main_notes = {
        "dispatched": ["启动危险化学品事故Ⅱ级应急响应", "调派市消防救援支队18车85人、徐圩新区危化品专业救援队赶赴现场"],
        "on_scene": ["现场设立警戒区，疏散周边500米范围内人员", "环境应急监测：下风向1公里处二氧化硫浓度超标", "明火已扑灭，持续冷却降温，防止复燃"],
        "resolved": ["泄漏点封堵完成，险情基本排除，转入环境监测与善后处置"],
    }
    return [
        dict(category="accident", subtype="hazchem", severity=2, channel="119", offset=(0, 2, 6, 28, 20 * 60, None), casualties=3,
             title="徐圩新区石化基地企业储罐区泄漏起火", responder="市消防救援支队",
             description="14:20接119报：徐圩新区石化产业基地某企业罐区管线泄漏引发火灾，现场有浓烟，3名作业人员受伤送医。已启动危险化学品事故Ⅱ级应急响应。",
             lonlat=PETROCHEMICAL_PARK, notes=main_notes),
        dict(category="accident", subtype="environmental", severity=3, channel="grid_officer", offset=(40, 45, 55, 90, 3 * 24 * 60, None), casualties=0,
             title="徐圩新区周边大气环境应急监测", responder="市生态环境局",
             description="石化基地火灾次生环境风险：对下风向村居、港区开展大气环境应急监测，每小时报送一次。", lonlat=(PETROCHEMICAL_PARK[0] - 0.02, PETROCHEMICAL_PARK[1] + 0.015), notes={}),
        dict(category="public_health", subtype="occupational", severity=4, channel="120", offset=(60, 61, 63, 80, 6 * 60, 30 * 60), casualties=2,
             title="2名作业人员吸入刺激性气体送医", responder="120急救站",
             description="石化基地火灾现场2名作业人员出现呼吸道刺激症状，已送市第一人民医院救治，生命体征平稳。", lonlat=(PETROCHEMICAL_PARK[0] + 0.004, PETROCHEMICAL_PARK[1] - 0.003), notes={}),
        dict(category="social_security", subtype="crowd_safety", severity=3, channel="grid_officer", offset=(90, 92, 95, 120, 16 * 60, 40 * 60), casualties=0,
             title="周边企业及村居人员疏散安置", responder="徐圩街道",
             description="对事故点周边企业职工及村居群众共计1200余人实施疏散，安置于徐圩街道应急避难场所。", lonlat=(PETROCHEMICAL_PARK[0] - 0.05, PETROCHEMICAL_PARK[1] + 0.03), notes={}),
        dict(category="accident", subtype="environmental", severity=3, channel="grid_officer", offset=(26 * 60, 26 * 60 + 5, 26 * 60 + 20, 27 * 60, None, None), casualties=0,
             title="事故消防废水围堵与处置", responder="市生态环境局",
             description="石化基地火灾产生的消防废水已围堵于厂区应急池，正组织转运处置，防止进入排洪沟和近岸海域。", lonlat=(PETROCHEMICAL_PARK[0] + 0.01, PETROCHEMICAL_PARK[1] + 0.006), notes={}),
    ]


def _append_hazchem(incidents: dict, episode: list[dict], geography: Geography, rng, weather: Weather) -> dict:
    """Add the scripted episode's incidents; ``offset`` holds minutes after the fire per lifecycle step."""
    lon = np.array([e["lonlat"][0] for e in episode])
    lat = np.array([e["lonlat"][1] for e in episode])
    codes = area_codes(geography, lon, lat)
    names = dict(zip(geography.areas["code"], geography.areas["name"]))
    count = len(episode)
    steps = {}
    for position, step in enumerate(STEPS):
        values = []
        for event in episode:
            offset = event["offset"][position]
            values.append(np.datetime64("NaT") if offset is None else weather.hazchem_at + np.timedelta64(int(offset * 60), "s"))
        steps[step] = np.array(values, dtype="datetime64[s]")
    added = {
        "subtype_index": np.full(count, -1), "severity": np.array([e["severity"] for e in episode]),
        "channel": np.array([e["channel"] for e in episode], dtype=object), "lon": lon, "lat": lat, "codes": codes,
        "title": [e["title"] for e in episode], "description": [e["description"] for e in episode],
        "address": [f"{names[codes['district_code'].iat[i]]}{names[codes['street_code'].iat[i]]}石化产业基地" for i in range(count)],
        "reporter_name": np.array(person_names(rng, count), dtype=object), "reporter_phone": np.array(phone_numbers(rng, count), dtype=object),
        "casualties": np.array([e["casualties"] for e in episode]), "steps": steps,
        "category": np.array([e["category"] for e in episode], dtype=object), "subtype": np.array([e["subtype"] for e in episode], dtype=object),
        "responder": np.array([e["responder"] for e in episode], dtype=object), "notes": [e["notes"] for e in episode],
    }
    merged = {}
    for key, value in incidents.items():
        if key == "codes":
            merged[key] = pd.concat([value, added[key]], ignore_index=True)
        elif key == "steps":
            merged[key] = {s: np.concatenate([value[s], added[key][s]]) for s in STEPS}
        elif isinstance(value, list):
            merged[key] = value + list(added[key])
        else:
            merged[key] = np.concatenate([value, added[key]])
    return merged


def _finish(incidents: dict, rng: np.random.Generator, axis: TimeAxis) -> tuple[Table, Table]:
    """Ids in time order, the status reached by now, and one event row per step reached."""
    steps = incidents["steps"]
    for step in STEPS:  # steps still in the future have not happened yet
        steps[step] = np.where(steps[step] <= axis.now, steps[step], np.datetime64("NaT"))
    for later, earlier in zip(STEPS[1:], STEPS[:-1]):  # nor can a step follow one that has not happened
        steps[later] = np.where(np.isnat(steps[earlier]), np.datetime64("NaT"), steps[later])
    order = np.lexsort((np.arange(len(steps["reported"])), steps["reported"]))
    reported = steps["reported"][order]
    dates = local_date_strings(reported)
    sequence = np.ones(len(order), dtype=np.int64)
    same_day = np.concatenate(([False], dates[1:] == dates[:-1]))
    for i in np.flatnonzero(same_day):
        sequence[i] = sequence[i - 1] + 1
    ids = np.array([f"SJ{d}{s:05d}" for d, s in zip(dates.tolist(), sequence.tolist())], dtype=object)
    reached = np.stack([~np.isnat(steps[s][order]) for s in STEPS])
    status = np.array(STEPS, dtype=object)[reached.sum(axis=0) - 1]
    updated = np.max(np.stack([np.where(np.isnat(steps[s][order]), np.datetime64(0, "s"), steps[s][order]) for s in STEPS]), axis=0)
    codes = incidents["codes"].iloc[order].reset_index(drop=True)
    pick_list = lambda values: [values[i] for i in order]
    table = Table(
        columns={
            "id": ids.tolist(), "category": incidents["category"][order].tolist(), "subtype": incidents["subtype"][order].tolist(),
            "severity": incidents["severity"][order].astype(int).tolist(), "status": status.tolist(), "channel": incidents["channel"][order].tolist(),
            "title": pick_list(incidents["title"]), "description": pick_list(incidents["description"]), "address": pick_list(incidents["address"]),
            "reporter_name": incidents["reporter_name"][order].tolist(), "reporter_phone": incidents["reporter_phone"][order].tolist(),
            "casualties": incidents["casualties"][order].astype(int).tolist(),
            "district_code": codes["district_code"].tolist(), "street_code": codes["street_code"].tolist(),
            "community_code": codes["community_code"].tolist(), "grid_code": codes["grid_code"].tolist(),
            **{f"{s}_at": steps[s][order] for s in STEPS},
            "updated_at": updated,
        },
        lon=np.round(incidents["lon"][order], 6),
        lat=np.round(incidents["lat"][order], 6),
    )
    # Event rows, ordered by incident then step, built step by step over all incidents at once.
    district_names = {"320703": "连云区", "320706": "海州区", "320707": "赣榆区", "320722": "东海县", "320723": "灌云县", "320724": "灌南县"}
    units = np.array([district_names.get(d, "") + r for d, r in zip(table.columns["district_code"], incidents["responder"][order].tolist())], dtype=object)
    officers = np.array([f"网格员{name}" for name in person_names(rng, 64)], dtype=object)
    rows = np.arange(len(order))
    reporters = np.array([CHANNEL_ACTORS.get(c) for c in incidents["channel"][order].tolist()], dtype=object)
    reporters = np.where(reporters == None, officers[rows % len(officers)], reporters)
    duty = np.array([f"市城运中心值班员{n}" for n in DUTY_OFFICERS], dtype=object)[rows % len(DUTY_OFFICERS)]
    actors = {"reported": reporters, "accepted": duty, "dispatched": np.full(len(rows), "市城运中心", dtype=object),
              "on_scene": units, "resolved": units, "closed": np.full(len(rows), "市城运中心", dtype=object)}
    notes_by_step = {"reported": np.full(len(rows), "接报", dtype=object), "accepted": np.full(len(rows), "已受理，核实情况", dtype=object),
                     "dispatched": np.array([f"派遣至{u}" for u in units.tolist()], dtype=object), "on_scene": np.array([f"{u}到达现场" for u in units.tolist()], dtype=object),
                     "resolved": np.full(len(rows), "现场处置完毕", dtype=object), "closed": np.full(len(rows), "核查无误，结案归档", dtype=object)}
    parts = []
    for position, step in enumerate(STEPS):
        at = steps[step][order]
        reached = np.flatnonzero(~np.isnat(at))
        parts.append((reached, np.full(len(reached), position), at[reached], actors[step][reached], notes_by_step[step][reached]))
    scripted = pick_list(incidents["notes"])
    for row in np.flatnonzero([bool(n) for n in scripted]):  # the hazchem incident's follow-up log
        for position, step in enumerate(STEPS):
            base = steps[step][order[row]]
            texts = scripted[row].get(step, [])
            if np.isnat(base) or not texts:
                continue
            parts.append((np.full(len(texts), row), np.full(len(texts), position),
                          base + (np.arange(1, len(texts) + 1) * 17 * 60).astype("timedelta64[s]"), np.full(len(texts), units[row], dtype=object), np.array(texts, dtype=object)))
    event_row = np.concatenate([p[0] for p in parts])
    event_step = np.concatenate([p[1] for p in parts])
    event_at = np.concatenate([p[2] for p in parts]).astype("datetime64[s]")
    arrange = np.lexsort((event_at, event_step, event_row))
    events = Table(columns={
        "incident_id": ids[event_row[arrange]].tolist(), "status": np.array(STEPS, dtype=object)[event_step[arrange]].tolist(),
        "at": event_at[arrange], "actor": np.concatenate([p[3] for p in parts])[arrange].tolist(), "note": np.concatenate([p[4] for p in parts])[arrange].tolist(),
    })
    return table, events


def build_work_orders(geography: Geography, roads: RoadNetwork, scale, seed: int, axis: TimeAxis, weather: Weather, incidents: Table) -> Table:
    """12345 work orders: everyday calls by the hour, surges after the rain and the chemical fire,
    plus one order per incident that came in through the hotline (linked by incident_id)."""
    rng = component_rng(seed, "work_orders")
    grids = geography.grids()
    names = dict(zip(geography.areas["code"], geography.areas["name"]))
    local_hour, weekday = axis.local_hour().astype(float), axis.local_weekday()
    office = np.clip(np.exp(-((local_hour - 10) ** 2) / 10) + 0.9 * np.exp(-((local_hour - 15.5) ** 2) / 10) + 0.5 * np.exp(-((local_hour - 20) ** 2) / 6), 0.03, None)
    office = office * np.where(weekday >= 5, 0.7, 1.0)
    rain = weather.on_axis(weather.rain_mm)
    after_rain = np.convolve(rain, np.exp(-np.arange(72) / 30.0))[: len(rain)] * office
    since_fire = (axis.hours - weather.hazchem_at).astype("timedelta64[m]").astype(float) / 60.0
    after_fire = np.where(since_fire >= 0, np.exp(-np.clip(since_fire, 0, None) / 20.0), 0) * office + 1e-9

    linked = [i for i, c in enumerate(incidents.columns["channel"]) if c == "12345"][: scale.work_orders // 3]
    total = scale.work_orders - len(linked)
    surge_rain, surge_fire = int(total * 0.08), int(total * 0.015)
    base = total - surge_rain - surge_fire
    question = np.concatenate([
        choose_weighted(rng, np.array([q[4] for q in QUESTIONS]), base),
        np.array([QUESTION_CODES.index(c) for c in ("0102", "0502", "0501")])[choose_weighted(rng, np.array([0.6, 0.25, 0.15]), surge_rain)],
        np.full(surge_fire, QUESTION_CODES.index("0302")),
    ])
    call_time = np.concatenate([_sample_times(axis, office, base, rng), _sample_times(axis, after_rain + 1e-9, surge_rain, rng), _sample_times(axis, after_fire, surge_fire, rng)])
    population = grids["population"].to_numpy(dtype=float)
    lowness = np.clip(6.0 - geography.grid_elevation, 0, None) + 0.2
    park = np.hypot(grids["label_lon"].to_numpy() - PETROCHEMICAL_PARK[0], grids["label_lat"].to_numpy() - PETROCHEMICAL_PARK[1])
    grid_index = np.concatenate([
        choose_weighted(rng, population, base),
        choose_weighted(rng, population * lowness, surge_rain),
        choose_weighted(rng, population * np.exp(-park / 0.08), surge_fire),
    ])
    lon, lat = points_in_grids(geography, grid_index, rng)
    codes = codes_of_points(geography, lon, lat, grid_index)
    incident_id = [None] * total
    # Hotline-reported incidents: the order is the incident's 12345 record.
    if linked:
        linked_idx = np.array(linked)
        question = np.concatenate([question, np.full(len(linked), QUESTION_CODES.index("0101"))])
        for position, i in enumerate(linked_idx):
            category = incidents.columns["subtype"][i]
            if category == "waterlogging":
                question[total + position] = QUESTION_CODES.index("0102")
            elif category in ("utility_failure",):
                question[total + position] = QUESTION_CODES.index("0502")
            elif category in ("environmental",):
                question[total + position] = QUESTION_CODES.index("0302")
            elif category in ("dispute",):
                question[total + position] = QUESTION_CODES.index("0601")
        call_time = np.concatenate([call_time, incidents.columns["reported_at"][linked_idx]])
        lon = np.concatenate([lon, incidents.lon[linked_idx]])
        lat = np.concatenate([lat, incidents.lat[linked_idx]])
        codes = pd.concat([codes, pd.DataFrame({k: [incidents.columns[k][i] for i in linked] for k in ("district_code", "street_code", "community_code", "grid_code")})], ignore_index=True)
        incident_id += [incidents.columns["id"][i] for i in linked]
    count = len(question)

    demand = np.empty(count, dtype=object)
    for q, spec in enumerate(QUESTIONS):
        mask = np.flatnonzero(question == q)
        demand[mask] = np.array(DEMAND_CODES, dtype=object)[choose_weighted(rng, np.array(spec[3]) + 1e-9, len(mask))]
    urgency = np.array(["一般", "紧急", "特急"], dtype=object)[choose_weighted(rng, np.array([0.9, 0.09, 0.01]), count)]
    handle_days = np.array([HANDLE_DAYS[d] for d in demand], dtype=float)
    handle_days = np.where(urgency == "一般", handle_days, 1.0)
    direct = (demand == "consult") & (rng.random(count) < 0.7)  # answered on the call (直接办结)
    dispatch = call_time + _lognormal_seconds(rng, np.full(count, 25 * 60), 0.8, count)
    dispatch = np.where(direct, np.datetime64("NaT"), dispatch)
    deadline = np.where(direct, np.datetime64("NaT"), dispatch + (handle_days * 86400).astype(np.int64).astype("timedelta64[s]"))
    returned = (~direct) & (rng.random(count) < 0.06)
    delayed = (~direct) & (rng.random(count) < 0.04)
    delay_days = np.where(delayed, rng.integers(3, 8, count), 0).astype(float)
    deadline = np.where(delayed, deadline + (delay_days * 86400).astype(np.int64).astype("timedelta64[s]"), deadline)
    work = (handle_days * 86400 * 0.45 * rng.lognormal(0, 0.7, count) + returned * 2 * 86400 + delay_days * 0.8 * 86400).astype(np.int64)
    complete = np.where(direct, call_time + rng.integers(180, 900, count).astype("timedelta64[s]"), dispatch + work.astype("timedelta64[s]"))
    visited = rng.random(count) < 0.8
    visit = np.where(visited, complete + rng.integers(3600, 48 * 3600, count).astype("timedelta64[s]"), np.datetime64("NaT"))
    now = axis.now
    complete_done = complete <= now
    visit_done = (~np.isnat(visit)) & (visit <= now) & complete_done
    state = np.where(visit_done, "visited", np.where(complete_done, "completed", np.where(delayed, "delayed", np.where(returned, "returned", "dispatched"))))
    state = np.where((~direct) & (dispatch > now), "accepted", state).astype(object)
    complete = np.where(complete_done, complete, np.datetime64("NaT"))
    visit = np.where(visit_done, visit, np.datetime64("NaT"))
    dispatch = np.where(dispatch <= now, dispatch, np.datetime64("NaT"))
    overdue = (~np.isnat(deadline)) & np.where(complete_done, complete > deadline, now > deadline)
    solved = visit_done & (rng.random(count) < 0.88)
    satisfaction = np.where(
        ~visit_done, None,
        np.where(solved, np.array(["满意", "基本满意", "不满意"], dtype=object)[choose_weighted(rng, np.array([0.86, 0.12, 0.02]), count)],
                 np.array(["满意", "基本满意", "不满意"], dtype=object)[choose_weighted(rng, np.array([0.2, 0.35, 0.45]), count)]),
    )
    updated = np.max(np.stack([np.where(np.isnat(t), call_time, t) for t in (dispatch, complete, visit)]), axis=0)

    order = np.lexsort((np.arange(count), call_time))
    dates = local_date_strings(call_time[order])
    sequence = np.ones(count, dtype=np.int64)
    for i in np.flatnonzero(np.concatenate(([False], dates[1:] == dates[:-1]))):
        sequence[i] = sequence[i - 1] + 1
    caller = person_names(rng, count)
    phones = phone_numbers(rng, count)
    sexes = np.array(["男", "女"], dtype=object)[rng.integers(0, 2, count)]
    source = np.array(["phone", "wechat", "app", "web", "sms", "email"], dtype=object)[choose_weighted(rng, np.array([0.62, 0.15, 0.1, 0.08, 0.03, 0.02]), count)]
    district_roads = _district_roads(roads)
    departments = sorted({q[2] for q in QUESTIONS if q[2]})
    titles, contents, addresses, org_codes, org_names = [], [], [], [], []
    picks = rng.integers(0, 1000, count)
    district_codes, street_codes, community_codes = (codes[c].tolist() for c in ("district_code", "street_code", "community_code"))
    question_list, pick_list = question.tolist(), picks.tolist()
    for i in range(count):
        spec = QUESTIONS[question_list[i]]
        district, street, community = district_codes[i], street_codes[i], community_codes[i]
        pool = district_roads.get(district) or ["人民路"]
        road = pool[pick_list[i] % len(pool)]
        title = spec[5][pick_list[i] % len(spec[5])].format(road=road, community=names[community], street=names[street])
        address = f"{names[district]}{names[street]}{names[community]}{road}{pick_list[i] % 300 + 1}号"
        titles.append(title)
        addresses.append(address)
        contents.append(f"来电人反映：{address}，{title}。诉求：请相关部门尽快核实处理并回复。")
        if spec[2] is None or pick_list[i] % 10 < 4:
            org_codes.append(f"{district}000")
            org_names.append(f"{names[district]}人民政府")
        else:
            org_codes.append(f"320700{departments.index(spec[2]) + 101:03d}")
            org_names.append(spec[2])
    select = lambda values: [values[i] for i in order]
    as_list = lambda values: np.asarray(values, dtype=object)[order].tolist()
    return Table(
        columns={
            "order_num": [f"{d}{s:06d}" for d, s in zip(dates.tolist(), sequence.tolist())],
            "call_time": call_time[order], "source_type": as_list(source), "caller_type": as_list(np.where(rng.random(count) < 0.93, "个人", "企业")),
            "caller_name": select(caller), "caller_sex": as_list(sexes), "caller_phone": select(phones),
            "is_secret": as_list(rng.random(count) < 0.04), "title": select(titles), "content": select(contents),
            "demand_type": as_list(demand), "question_code": [QUESTIONS[q][0] for q in question[order]], "question_name": [QUESTIONS[q][1] for q in question[order]],
            "address": select(addresses), "urgency": as_list(urgency), "organization_code": select(org_codes), "organization_name": select(org_names),
            "dispatch_time": dispatch[order], "handle_days": handle_days[order].tolist(), "deadline": deadline[order], "state": as_list(state),
            "back_num": returned[order].astype(int).tolist(), "delay_days": as_list(np.where(delayed, delay_days, None)),
            "is_supervised": as_list(overdue | (rng.random(count) < 0.03)), "complete_time": complete[order], "visit_time": visit[order],
            "visit_solved": as_list(np.where(visit_done, solved, None)), "satisfaction": as_list(satisfaction),
            "is_rehandle": as_list((satisfaction == "不满意") & (rng.random(count) < 0.4)), "is_hard": as_list(rng.random(count) < 0.01),
            "incident_id": select(incident_id),
            "district_code": as_list(codes["district_code"]), "street_code": as_list(codes["street_code"]),
            "community_code": as_list(codes["community_code"]), "grid_code": as_list(codes["grid_code"]),
            "updated_at": updated[order],
        },
        lon=np.round(lon[order], 6),
        lat=np.round(lat[order], 6),
    )
