"""The resource catalogue (datasets), the indicator catalogue and the indicator values of the demo.

Indicator values are aggregated from the generated data wherever the data exists (incidents,
12345 orders, AQI, congestion, water levels, IoT status), so that a number on a panel agrees with
the records behind it; the rest (一网通办, electricity, population) are plausible series.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from queries.demo.common import (
    LOCAL_OFFSET_HOURS,
    TimeAxis,
    component_rng,
    local_midnight_utc,
)


@dataclass(frozen=True)
class DatasetSpec:
    code: str
    name: str
    name_en: str
    provider: str
    provider_en: str
    sharing_type: str
    update_cycle: str
    description: str


DATASETS = (
    DatasetSpec("LYG-ZRZY-0001", "行政区划与单元网格", "Administrative areas and unit grids", "市自然资源和规划局", "Natural Resources and Planning Bureau", "unconditional", "yearly", "区县、街道（乡镇）、社区（村）及单元网格边界，CGCS2000。"),
    DatasetSpec("LYG-JTYS-0001", "城市道路网", "Road network", "市交通运输局", "Transport Bureau", "unconditional", "monthly", "道路路段及节点拓扑，含等级、车道数、限速。"),
    DatasetSpec("LYG-JJ-0001", "路段实时路况", "Road segment speeds", "市公安局交通警察支队", "Traffic Police Detachment", "conditional", "hourly", "路段小时平均车速与交通拥堵指数。"),
    DatasetSpec("LYG-JJ-0002", "交通流量检测数据", "Traffic detector data", "市公安局交通警察支队", "Traffic Police Detachment", "conditional", "realtime", "微波、线圈、视频检测器的流量、速度、占有率。"),
    DatasetSpec("LYG-STHJ-0001", "空气质量监测站小时数据", "Hourly air quality", "市生态环境局", "Ecology and Environment Bureau", "unconditional", "hourly", "国控、省控空气质量自动监测站小时数据及AQI（HJ 633-2012）。"),
    DatasetSpec("LYG-STHJ-0002", "地表水水质自动监测数据", "Surface water quality", "市生态环境局", "Ecology and Environment Bureau", "conditional", "hourly", "水质自动站pH、溶解氧、氨氮、高锰酸盐指数、浊度。"),
    DatasetSpec("LYG-SL-0001", "河道水位与潮位监测", "River and tide levels", "市水利局", "Water Resources Bureau", "conditional", "hourly", "主要河道水位站及沿海潮位站小时水位（1985国家高程基准）。"),
    DatasetSpec("LYG-YJ-0001", "突发事件信息", "Emergency incidents", "市应急管理局", "Emergency Management Bureau", "conditional", "realtime", "各渠道接报的突发事件及处置过程。"),
    DatasetSpec("LYG-YJ-0002", "应急资源", "Emergency resources", "市应急管理局", "Emergency Management Bureau", "conditional", "monthly", "消防站、医院、避难场所、物资储备库、派出所、救援队伍。"),
    DatasetSpec("LYG-12345-0001", "12345热线工单", "12345 hotline work orders", "市12345政务服务便民热线", "12345 Citizen Service Hotline", "conditional", "hourly", "12345热线受理、派单、办结、回访全过程工单。"),
    DatasetSpec("LYG-SJ-0001", "物联感知设备及状态", "IoT devices and status", "市数据局", "Data Bureau", "conditional", "realtime", "烟感、智能井盖、消火栓、燃气等物联感知设备及在线、告警状态。"),
    DatasetSpec("LYG-SJ-0002", "城市运行指标", "City operations indicators", "市数据局", "Data Bureau", "unconditional", "daily", "城市运行管理中心汇聚计算的综合指标。"),
    DatasetSpec("LYG-ZWFW-0001", "一网通办办件统计", "One-stop government service statistics", "市政务服务管理办公室", "Government Services Office", "unconditional", "daily", "政务服务事项办件量、网上办理率。"),
    DatasetSpec("LYG-GD-0001", "全社会用电量", "Electricity consumption", "国网连云港供电公司", "State Grid Lianyungang", "conditional", "daily", "全社会用电量日统计。"),
    DatasetSpec("LYG-TJ-0001", "人口基础信息统计", "Population statistics", "市公安局", "Public Security Bureau", "none", "monthly", "常住人口按区县统计（汇总数据，明细不予共享）。"),
)
# The tables each dataset's rows live in (record_change passes them on for cache invalidation).
DATASET_TABLES = {
    "LYG-ZRZY-0001": ("areas",), "LYG-JTYS-0001": ("road_segments",), "LYG-JJ-0001": ("road_speeds",),
    "LYG-JJ-0002": ("sensors", "traffic_readings"), "LYG-STHJ-0001": ("sensors", "aq_readings"),
    "LYG-STHJ-0002": ("sensors", "sensor_readings"), "LYG-SL-0001": ("sensors", "sensor_readings"),
    "LYG-YJ-0001": ("incidents", "incident_events"), "LYG-YJ-0002": ("resources",), "LYG-12345-0001": ("work_orders",),
    "LYG-SJ-0001": ("sensors", "sensor_status_events"), "LYG-SJ-0002": ("indicators", "indicator_values"),
    "LYG-ZWFW-0001": ("indicator_values",), "LYG-GD-0001": ("indicator_values",), "LYG-TJ-0001": ("indicator_values",),
}
STALE_DATASETS = {"LYG-STHJ-0002": 3, "LYG-ZWFW-0001": 3}  # days late, on purpose: freshness must show


@dataclass(frozen=True)
class IndicatorSpec:
    code: str
    name_zh: str
    name_en: str
    unit: str | None
    domain: str
    good_direction: str
    warn: float | None
    alarm: float | None
    dataset_code: str
    aggregation: str
    description: str


INDICATORS = (
    IndicatorSpec("gov_online_rate", "一网通办网上办理率", "Online handling rate", "%", "government_service", "up", 85, 80, "LYG-ZWFW-0001", "weighted_mean", "网上办理办件数/办件总数，目标不低于80%。"),
    IndicatorSpec("gov_service_volume", "政务服务办件量", "Government service cases", "件", "government_service", "neutral", None, None, "LYG-ZWFW-0001", "sum", "当日政务服务办件总量。"),
    IndicatorSpec("hotline_volume", "12345工单量", "12345 work orders", "件", "hotline", "neutral", None, None, "LYG-12345-0001", "sum", "当日受理的12345热线工单数。"),
    IndicatorSpec("hotline_ontime_rate", "12345按期办结率", "12345 on-time completion rate", "%", "hotline", "up", 95, 90, "LYG-12345-0001", "weighted_mean", "当日受理且已办结工单中按期办结的比例。"),
    IndicatorSpec("hotline_satisfaction", "12345满意率", "12345 satisfaction rate", "%", "hotline", "up", 90, 85, "LYG-12345-0001", "weighted_mean", "回访工单中满意和基本满意的比例。"),
    IndicatorSpec("incidents_today", "今日事件数", "Incidents today", "起", "emergency", "down", None, None, "LYG-YJ-0001", "sum", "当日接报的突发事件数。"),
    IndicatorSpec("incidents_open", "未办结事件数", "Open incidents", "起", "emergency", "down", None, None, "LYG-YJ-0001", "last", "日终尚未结案的事件数。"),
    IndicatorSpec("major_incidents", "较大及以上事件数", "Major incidents (I–III)", "起", "emergency", "down", 1, 2, "LYG-YJ-0001", "sum", "当日接报的Ⅰ、Ⅱ、Ⅲ级事件数。"),
    IndicatorSpec("aqi", "空气质量指数", "Air quality index", None, "environment", "down", 100, 150, "LYG-STHJ-0001", "mean", "各站点小时AQI均值（HJ 633-2012）。"),
    IndicatorSpec("pm2_5", "PM2.5浓度", "PM2.5", "μg/m³", "environment", "down", 75, 115, "LYG-STHJ-0001", "mean", "各站点PM2.5小时浓度均值。"),
    IndicatorSpec("good_air_rate", "空气质量优良天数比率", "Share of good air days (30 days)", "%", "environment", "up", 80, 70, "LYG-STHJ-0001", "last", "近30天日均AQI不超过100的天数比例。"),
    IndicatorSpec("water_quality_rate", "地表水水质达标率", "Surface water compliance", "%", "environment", "up", 90, 80, "LYG-STHJ-0002", "weighted_mean", "水质自动站日均值达到Ⅲ类标准的比例。"),
    IndicatorSpec("congestion_index", "交通拥堵指数", "Congestion index", None, "traffic", "down", 6, 8, "LYG-JJ-0001", "weighted_mean", "路段拥堵指数按长度加权平均（0–10）。"),
    IndicatorSpec("avg_speed", "路网平均车速", "Average network speed", "km/h", "traffic", "up", 35, 25, "LYG-JJ-0001", "weighted_mean", "路段平均车速按长度加权。"),
    IndicatorSpec("traffic_flow", "检测器日车流量", "Detected daily traffic", "辆", "traffic", "neutral", None, None, "LYG-JJ-0002", "sum", "交通检测器断面日累计车流量。"),
    IndicatorSpec("water_level_margin", "最高水位距警戒", "Highest level above warning", "m", "emergency", "down", -0.3, 0, "LYG-SL-0001", "max", "各河道水位站水位减警戒水位的最大值，正值为超警戒。"),
    IndicatorSpec("rain_24h", "24小时降雨量", "Rainfall, last 24 h", "mm", "emergency", "down", 50, 100, "LYG-SL-0001", "max", "过去24小时累计降雨量（50毫米以上为暴雨）。"),
    IndicatorSpec("iot_online_rate", "物联感知设备在线率", "IoT devices online", "%", "iot", "up", 95, 90, "LYG-SJ-0001", "weighted_mean", "日终在线设备数/设备总数。"),
    IndicatorSpec("iot_alarms", "物联设备告警数", "IoT alarms", "次", "iot", "down", None, None, "LYG-SJ-0001", "sum", "当日物联感知设备告警次数。"),
    IndicatorSpec("shelter_capacity", "应急避难场所容量", "Shelter capacity", "万人", "emergency", "up", None, None, "LYG-YJ-0002", "sum", "应急避难场所可容纳人数。"),
    IndicatorSpec("electricity_consumption", "全社会用电量", "Electricity consumption", "万千瓦时", "economy", "neutral", None, None, "LYG-GD-0001", "sum", "全社会日用电量。"),
    IndicatorSpec("resident_population", "常住人口", "Resident population", "万人", "population", "neutral", None, None, "LYG-TJ-0001", "last", "常住人口（月度统计）。"),
)


def day_starts(axis: TimeAxis) -> np.ndarray:
    """UTC instants of the Beijing-time midnights covering the axis (the last one is today)."""
    first = local_midnight_utc(axis.hours[:1])[0]
    last = local_midnight_utc(np.array([axis.now]))[0]
    return np.arange(first, last + np.timedelta64(1, "D"), np.timedelta64(1, "D")).astype("datetime64[s]")


def day_of(times: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Index of the local day each time falls in (-1 before the first day)."""
    return np.searchsorted(days, times.astype("datetime64[s]"), side="right") - 1


class IndicatorValues:
    """Collects (indicator, area, ts, value) rows."""

    def __init__(self):
        self.parts: list[pd.DataFrame] = []

    def add(self, indicator: str, area: np.ndarray | list, ts: np.ndarray, value: np.ndarray, decimals: int = 2) -> None:
        frame = pd.DataFrame({"indicator_code": indicator, "area_code": np.asarray(area, dtype=object), "ts": np.asarray(ts, dtype="datetime64[s]"), "value": np.round(np.asarray(value, dtype=float), decimals)})
        self.parts.append(frame[np.isfinite(frame["value"])])

    def add_grouped(self, indicator: str, table: pd.DataFrame, days: np.ndarray, decimals: int = 2) -> None:
        """``table`` indexed by (area_code, day index) with a ``value`` column."""
        flat = table.reset_index()
        flat = flat[(flat["day"] >= 0) & (flat["day"] < len(days))]
        self.add(indicator, flat["area_code"].to_numpy(), days[flat["day"].to_numpy()], flat["value"].to_numpy(), decimals)

    def frame(self) -> pd.DataFrame:
        frame = pd.concat(self.parts, ignore_index=True)
        return frame.drop_duplicates(["indicator_code", "area_code", "ts"], keep="last").sort_values(["indicator_code", "area_code", "ts"], kind="stable")


def by_city_and_district(frame: pd.DataFrame, district_column: str, city_code: str) -> pd.DataFrame:
    """Duplicate rows: once under their district, once under the city."""
    district = frame.assign(area_code=frame[district_column])
    city = frame.assign(area_code=city_code)
    return pd.concat([city, district], ignore_index=True)


def synthetic_daily(values: IndicatorValues, axis: TimeAxis, days: np.ndarray, districts: list[str], populations: dict[str, int], city_code: str, seed: int) -> None:
    """一网通办, electricity and population: trend + weekday rhythm + noise."""
    rng = component_rng(seed, "indicators")
    weekday = ((days.astype("datetime64[h]").astype(np.int64) + LOCAL_OFFSET_HOURS) // 24 + 3) % 7
    work = np.where(weekday >= 5, 0.25, 1.0)
    stale_days = STALE_DATASETS["LYG-ZWFW-0001"]
    published = days[: max(0, len(days) - stale_days)]
    city_volume = 0.0
    city_online = 0.0
    city_power = 0.0
    for code in districts:
        share = populations[code] / populations[city_code]
        volume = np.round(9000 * share * work[: len(published)] * rng.lognormal(0, 0.08, len(published)))
        online = np.clip(83 + 4 * rng.standard_normal() + np.linspace(-1.5, 1.5, len(published)) + rng.normal(0, 1.2, len(published)), 70, 99)
        values.add("gov_service_volume", [code] * len(published), published, volume, 0)
        values.add("gov_online_rate", [code] * len(published), published, online, 1)
        city_volume = city_volume + volume
        city_online = city_online + online * volume
        power = np.round(3600 * share * (0.85 + 0.15 * work) * rng.lognormal(0, 0.05, len(days)), 1)
        values.add("electricity_consumption", [code] * len(days), days, power, 1)
        city_power = city_power + power
        values.add("resident_population", [code] * len(days), days, np.full(len(days), populations[code] / 1e4), 2)
    values.add("gov_service_volume", [city_code] * len(published), published, city_volume, 0)
    values.add("gov_online_rate", [city_code] * len(published), published, city_online / np.maximum(city_volume, 1), 1)
    values.add("electricity_consumption", [city_code] * len(days), days, city_power, 1)
    values.add("resident_population", [city_code] * len(days), days, np.full(len(days), populations[city_code] / 1e4), 2)


def derived_indicators(values: IndicatorValues, *, axis: TimeAxis, days: np.ndarray, city_code: str, incidents, work_orders,
                       road_speeds, roads, air, air_districts: np.ndarray, levels, level_props: list[dict], level_districts: np.ndarray,
                       rain_mm: np.ndarray, water_quality, iot_events: pd.DataFrame, iot_districts: np.ndarray, detectors, detector_districts: np.ndarray,
                       shelters: pd.DataFrame) -> None:
    """Indicators computed from the generated records, daily (and hourly where it makes sense)."""
    # Incidents: reported per day, major ones, and those still open at the end of each day.
    frame = pd.DataFrame({"district": incidents.columns["district_code"], "severity": incidents.columns["severity"],
                          "day": day_of(incidents.columns["reported_at"], days)})
    for indicator, subset in (("incidents_today", frame), ("major_incidents", frame[frame["severity"] <= 3])):
        counts = by_city_and_district(subset, "district", city_code).groupby(["area_code", "day"]).size().rename("value")
        full = counts.reindex(pd.MultiIndex.from_product([sorted(set(frame["district"]) | {city_code}), range(len(days))], names=["area_code", "day"]), fill_value=0)
        values.add_grouped(indicator, full.to_frame(), days, 0)
    reported = incidents.columns["reported_at"]
    closed = incidents.columns["closed_at"]
    districts = np.array(incidents.columns["district_code"], dtype=object)
    for start in days:
        end = min(start + np.timedelta64(1, "D"), axis.now)
        open_now = (reported <= end) & (np.isnat(closed) | (closed > end))
        counts = pd.Series(districts[open_now]).value_counts()
        values.add("incidents_open", [city_code, *counts.index], [start] * (len(counts) + 1), [int(open_now.sum()), *counts.to_numpy()], 0)

    # 12345: volume, on-time completion and satisfaction by the day the call came in.
    orders = pd.DataFrame({"district": work_orders.columns["district_code"], "day": day_of(work_orders.columns["call_time"], days),
                           "done": ~np.isnat(work_orders.columns["complete_time"]),
                           "on_time": np.isnat(work_orders.columns["deadline"]) | (work_orders.columns["complete_time"] <= work_orders.columns["deadline"]),
                           "visited": [s is not None for s in work_orders.columns["satisfaction"]],
                           "satisfied": [s in ("满意", "基本满意") for s in work_orders.columns["satisfaction"]]})
    both = by_city_and_district(orders, "district", city_code)
    values.add_grouped("hotline_volume", both.groupby(["area_code", "day"]).size().rename("value").to_frame(), days, 0)
    done = both[both["done"]]
    values.add_grouped("hotline_ontime_rate", (done.groupby(["area_code", "day"])["on_time"].mean() * 100).rename("value").to_frame(), days, 1)
    visited = both[both["visited"]]
    values.add_grouped("hotline_satisfaction", (visited.groupby(["area_code", "day"])["satisfied"].mean() * 100).rename("value").to_frame(), days, 1)

    # Air quality: hourly and daily means of the stations of each district and of the city.
    hour_ts = axis.hours
    for indicator, matrix in (("aqi", air.aqi), ("pm2_5", air.columns["pm2_5"])):
        for area, mask in [(city_code, np.ones(len(air_districts), bool))] + [(d, air_districts == d) for d in sorted(set(air_districts))]:
            hourly = np.nanmean(matrix[mask], axis=0)
            values.add(indicator, [area] * len(hour_ts), hour_ts, hourly, 1)
            daily = pd.Series(hourly).groupby(day_of(hour_ts, days)).mean()
            daily = daily[daily.index >= 0]
            values.add(indicator, [area] * len(daily), days[daily.index.to_numpy()], daily.to_numpy(), 1)
            if indicator == "aqi":
                good = (daily <= 100).astype(float).rolling(30, min_periods=1).mean() * 100
                values.add("good_air_rate", [area] * len(good), days[good.index.to_numpy()], good.to_numpy(), 1)

    # Traffic: length-weighted congestion and speed, hourly and daily.
    speed_hours = hour_ts[road_speeds.hour_index]
    segment_districts = np.array(roads.district_codes, dtype=object)
    for area, mask in [(city_code, np.ones(len(roads), bool))] + [(d, segment_districts == d) for d in sorted(set(segment_districts))]:
        weights = roads.lengths_m[mask]
        for indicator, matrix in (("congestion_index", road_speeds.congestion), ("avg_speed", road_speeds.speed)):
            hourly = weights @ matrix[mask] / weights.sum()
            values.add(indicator, [area] * len(speed_hours), speed_hours, hourly, 2)
            daily = pd.Series(hourly).groupby(day_of(speed_hours, days)).mean()
            values.add(indicator, [area] * len(daily), days[daily.index.to_numpy()], daily.to_numpy(), 2)
    interval_hours = (detectors.times[1] - detectors.times[0]).astype("timedelta64[m]").astype(float) / 60.0 if len(detectors.times) > 1 else 1.0
    detector_day = day_of(detectors.times, days)
    for area, mask in [(city_code, np.ones(len(detector_districts), bool))] + [(d, detector_districts == d) for d in sorted(set(detector_districts))]:
        vehicles = pd.Series(detectors.flow[mask].sum(axis=0) * interval_hours).groupby(detector_day).sum()
        values.add("traffic_flow", [area] * len(vehicles), days[vehicles.index.to_numpy()], vehicles.to_numpy(), 0)

    # Water: the highest river level relative to its warning level; rainfall over the last 24 h.
    river = np.array([p.get("type") == "river" for p in level_props])
    if river.any():
        steps = len(axis)
        margins = levels.value.reshape(len(level_props), steps) - np.array([p.get("warning_level_m", np.nan) for p in level_props])[:, None]
        for area, mask in [(city_code, river)] + [(d, river & (level_districts == d)) for d in sorted(set(level_districts[river]))]:
            hourly = margins[mask].max(axis=0)
            values.add("water_level_margin", [area] * steps, hour_ts, hourly, 2)
            daily = pd.Series(hourly).groupby(day_of(hour_ts, days)).max()
            values.add("water_level_margin", [area] * len(daily), days[daily.index.to_numpy()], daily.to_numpy(), 2)
    rain_24h = np.convolve(rain_mm, np.ones(24))[: len(rain_mm)][-len(axis):]
    values.add("rain_24h", [city_code] * len(axis), hour_ts, rain_24h, 1)
    daily_rain = pd.Series(rain_24h).groupby(day_of(hour_ts, days)).max()
    values.add("rain_24h", [city_code] * len(daily_rain), days[daily_rain.index.to_numpy()], daily_rain.to_numpy(), 1)

    # Water quality (class III: NH3-N ≤ 1.0 mg/L and DO ≥ 5 mg/L), by day, as long as the feed ran.
    if len(water_quality.value):
        quality = pd.DataFrame({"station": water_quality.sensor_index, "metric": water_quality.metric, "day": day_of(hour_ts[water_quality.hour_index], days), "value": water_quality.value})
        daily = quality.groupby(["station", "day", "metric"])["value"].mean().unstack("metric")
        compliant = ((daily["ammonia_nitrogen"] <= 1.0) & (daily["dissolved_oxygen"] >= 5.0)).groupby("day").mean() * 100
        values.add("water_quality_rate", [city_code] * len(compliant), days[compliant.index.to_numpy()], compliant.to_numpy(), 1)

    # IoT: alarms per day and the share of devices online at the end of each day.
    if len(iot_districts):
        events = iot_events.assign(district=iot_districts[iot_events["sensor_index"].to_numpy()], day=day_of(iot_events["at"].to_numpy(), days))
        alarms = by_city_and_district(events[events["status"] == "alarm"], "district", city_code).groupby(["area_code", "day"]).size().rename("value")
        full = alarms.reindex(pd.MultiIndex.from_product([sorted(set(iot_districts) | {city_code}), range(len(days))], names=["area_code", "day"]), fill_value=0)
        values.add_grouped("iot_alarms", full.to_frame(), days, 0)
        events = events.sort_values(["at", "sensor_index"], kind="stable")
        device_total = pd.Series(iot_districts).value_counts()
        for start in days:
            end = min(start + np.timedelta64(1, "D"), axis.now)
            last = events[events["at"] <= end].groupby("sensor_index").tail(1)
            down = last[last["status"] != "online"]
            down_by_district = down["district"].value_counts()
            rates = [(city_code, 100 * (1 - len(down) / len(iot_districts)))]
            rates += [(d, 100 * (1 - down_by_district.get(d, 0) / n)) for d, n in device_total.items()]
            values.add("iot_online_rate", [r[0] for r in rates], [start] * len(rates), [r[1] for r in rates], 2)

    capacity = by_city_and_district(shelters, "district", city_code).groupby("area_code")["capacity"].sum() / 1e4
    for area, value in capacity.items():
        values.add("shelter_capacity", [area] * len(days), days, np.full(len(days), value), 2)
