"""Time series of the demo city, generated vectorised with numpy (never a Python loop per reading).

* road speeds: hourly per segment; congestion follows commuter demand (rush hours on weekdays, a
  flatter midday hump at weekends), is worse in dense areas and in the rain; speed follows the
  congestion index deterministically, so the two always agree;
* traffic detectors: flow/speed/occupancy every few minutes from the same demand model;
* air quality: a regional PM2.5 level that builds up under stagnant air and is washed out by
  rain, NO2 from traffic, O3 from afternoon sunlight; 24-h and 8-h moving averages; AQI and
  primary pollutant per HJ 633-2012 (queries.airquality);
* water: river levels respond to rain through a linear reservoir (the heavy-rain episode pushes
  some over their warning level), tide gauges follow the semi-diurnal tide, water quality
  worsens with runoff and stops three days before ``now`` (a late source, on purpose).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from queries.airquality import aqi, load_standard, primary_label
from queries.demo.common import TimeAxis, component_rng
from queries.demo.geography import PETROCHEMICAL_PARK
from queries.demo.roads import RoadNetwork
from queries.demo.weather import Weather

CLASS_SENSITIVITY = {"expressway": 0.55, "arterial": 1.0, "secondary": 0.8, "branch": 0.6}
WATER_QUALITY_DELAY_DAYS = 3
WATER_QUALITY_METRICS = ("ph", "dissolved_oxygen", "ammonia_nitrogen", "permanganate_index", "turbidity")
# Which concentration rates the hourly (real-time) AQI: SO2/NO2/CO/O3 by their 1-h values, O3 also by
# its 8-h moving average, PM by their 24-h moving averages (see queries.airquality).
HOURLY_AQI_TABLES = {"so2_1h": "so2", "no2_1h": "no2", "co_1h": "co", "o3_1h": "o3", "o3_8h": "o3_8h", "pm10_24h": "pm10_24h", "pm25_24h": "pm2_5_24h"}


def _bump(hour: np.ndarray, centre: float, width: float) -> np.ndarray:
    distance = np.minimum(np.abs(hour - centre), 24 - np.abs(hour - centre))
    return np.exp(-(distance**2) / (2 * width**2))


def traffic_demand(local_hour: np.ndarray, weekday: np.ndarray) -> np.ndarray:
    """Relative traffic demand (≈0.1 at night, ≈1 in a weekday rush hour)."""
    workday = 0.12 + 0.78 * _bump(local_hour, 7.9, 0.9) + 0.85 * _bump(local_hour, 17.8, 1.1) + 0.45 * _bump(local_hour, 12.5, 3.0)
    weekend = 0.12 + 0.5 * _bump(local_hour, 10.5, 2.5) + 0.55 * _bump(local_hour, 16.5, 3.0)
    night = np.where((local_hour >= 0) & (local_hour < 5), 0.5, 1.0)
    return np.where(weekday >= 5, weekend, workday) * night


def _segment_sensitivity(roads: RoadNetwork, rng: np.random.Generator) -> np.ndarray:
    by_class = np.array([CLASS_SENSITIVITY[c] for c in roads.classes])
    urban = np.clip(roads.urban_density / 5000.0, 0.2, 1.4)
    return by_class * urban * rng.uniform(0.75, 1.25, len(roads))


def congestion(sensitivity: np.ndarray, demand: np.ndarray, rain_mm: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Congestion index 0–10 per (segment, time)."""
    wet = 1.0 + 0.4 * np.clip(rain_mm / 8.0, 0, 1)
    return np.clip(7.5 * sensitivity[:, None] * (demand * wet)[None, :] + noise, 0, 10)


def speed_from_congestion(free_flow: np.ndarray, index: np.ndarray) -> np.ndarray:
    """km/h: free flow at index 0, 28 % of it at index 10."""
    return free_flow[:, None] * (1.0 - 0.072 * index)


@dataclass
class RoadSpeeds:
    hour_index: np.ndarray  # indices into the axis
    congestion: np.ndarray  # (segments, hours)
    speed: np.ndarray


def road_speeds(roads: RoadNetwork, axis: TimeAxis, weather: Weather, days: int, seed: int) -> RoadSpeeds:
    rng = component_rng(seed, "road_speeds")
    hour_index = np.arange(max(0, len(axis) - days * 24), len(axis))
    local_hour = axis.local_hour()[hour_index].astype(float)
    demand = traffic_demand(local_hour, axis.local_weekday()[hour_index])
    rain = weather.on_axis(weather.rain_mm)[hour_index]
    sensitivity = _segment_sensitivity(roads, rng)
    noise = rng.normal(0, 0.35, (len(roads), len(hour_index))).astype(np.float32)
    index = np.round(congestion(sensitivity, demand, rain, noise), 1)
    free_flow = roads.speed_limits * np.where(roads.urban_density > 1500, 0.85, 0.95)
    return RoadSpeeds(hour_index, index, np.round(speed_from_congestion(free_flow, index), 1))


@dataclass
class DetectorReadings:
    detector_index: np.ndarray  # per row
    times: np.ndarray  # datetime64[s] of each step (shared by every detector)
    flow: np.ndarray  # (detectors, steps)
    speed: np.ndarray
    occupancy: np.ndarray


def detector_readings(roads: RoadNetwork, segment_ids: list[str], axis: TimeAxis, weather: Weather, interval_min: int, seed: int) -> DetectorReadings:
    rng = component_rng(seed, "detectors")
    index_of = {segment: i for i, segment in enumerate(roads.ids)}
    segments = np.array([index_of[s] for s in segment_ids], dtype=np.int64)
    steps_per_hour = 60 // interval_min
    steps = len(axis) * steps_per_hour
    times = axis.now - (np.arange(steps - 1, -1, -1) * interval_min).astype("timedelta64[m]").astype("timedelta64[s]")
    local_hour = axis.local_hour(times) + (times.astype("datetime64[m]").astype(np.int64) % 60) / 60.0
    demand = traffic_demand(local_hour, axis.local_weekday(times))
    rain = weather.on_axis(weather.rain_mm)[axis.hour_index(times)]
    sensitivity = _segment_sensitivity(roads, rng)[segments]
    index = congestion(sensitivity, demand, rain, rng.normal(0, 0.5, (len(segments), len(times))))
    free_flow = roads.speed_limits[segments] * np.where(roads.urban_density[segments] > 1500, 0.85, 0.95)
    speed = np.clip(speed_from_congestion(free_flow, index) + rng.normal(0, 2.0, index.shape), 5, None)
    lanes = roads.lanes[segments].astype(float)
    capacity = np.where(np.array(roads.classes)[segments] == "expressway", 1900.0, 1500.0) * lanes
    # Flow rises with demand until the road saturates, then falls as congestion sets in.
    flow = capacity[:, None] * np.clip(0.06 + 0.8 * demand, 0, 0.95)[None, :] * (1 - 0.05 * np.clip(index - 6, 0, None))
    flow = np.clip(flow * rng.lognormal(0, 0.08, flow.shape), 0, None)
    occupancy = np.clip(flow / lanes[:, None] * 6.5 / (speed * 1000.0) * 100.0, 0, 95)
    return DetectorReadings(segments, times, np.round(flow), np.round(speed, 1), np.round(occupancy, 1))


@dataclass
class AirQuality:
    columns: dict[str, np.ndarray]  # (stations, hours) per aq_readings column
    aqi: np.ndarray
    primary: np.ndarray  # object (stations, hours)


def _moving(values: np.ndarray, window: int, how: str = "mean") -> np.ndarray:
    """Trailing moving mean/max along the last axis (the warm-up makes every window full)."""
    if how == "mean":
        padded = np.concatenate([np.zeros(values.shape[:-1] + (1,)), np.cumsum(values, axis=-1)], axis=-1)
        out = np.empty_like(values, dtype=float)
        out[..., window - 1 :] = (padded[..., window:] - padded[..., :-window]) / window
        for i in range(window - 1):
            out[..., i] = padded[..., i + 1] / (i + 1)
        return out
    stacked = np.stack([np.roll(values, shift, axis=-1) for shift in range(window)])
    for shift in range(1, window):
        stacked[shift, ..., :shift] = values[..., :shift]
    return stacked.max(axis=0)


def air_quality(station_lon: np.ndarray, station_lat: np.ndarray, station_urban: np.ndarray, weather: Weather, seed: int) -> AirQuality:
    rng = component_rng(seed, "air_quality")
    stations, hours = len(station_lon), len(weather.hours)
    # Regional PM2.5: relaxes towards a level set by ventilation, washed out by rain.
    regional = np.empty(hours)
    level = 35.0
    target = 15.0 + 120.0 * (1.0 - weather.ventilation) ** 2
    for i in range(hours):
        level += (target[i] - level) / 18.0
        level *= np.exp(-0.06 * weather.rain_mm[i])
        regional[i] = level
    hour = weather.local_hour.astype(float)
    boundary_layer = 1.0 + 0.22 * np.cos(2 * np.pi * (hour - 22) / 24)
    local_noise = np.empty((stations, hours))
    local_noise[:, 0] = 0
    shocks = rng.normal(0, 0.05, (stations, hours))
    for i in range(1, hours):
        local_noise[:, i] = 0.9 * local_noise[:, i - 1] + shocks[:, i]
    urban = np.where(station_urban, 1.15, 0.9)[:, None]
    pm25 = np.clip(regional[None, :] * boundary_layer[None, :] * urban * np.exp(local_noise), 3, None)
    pm10 = pm25 * rng.uniform(1.45, 1.9, (stations, 1)) + 12 * weather.ventilation[None, :]
    demand = traffic_demand(hour, weather.weekday)
    no2 = (10 + 42 * demand[None, :] * urban) * (1.35 - 0.7 * weather.ventilation[None, :]) * np.exp(local_noise * 0.8)
    park_distance_km = np.hypot(station_lon - PETROCHEMICAL_PARK[0], (station_lat - PETROCHEMICAL_PARK[1]) * 1.2) * 92
    so2 = (5 + 10 * np.exp(-park_distance_km / 8))[:, None] * np.exp(local_noise + rng.normal(0, 0.15, (stations, hours)))
    co = 0.3 + 0.011 * pm25 + 0.15 * demand[None, :] + rng.normal(0, 0.03, (stations, hours))
    sun_lagged = np.roll(weather.sunlight, 2)
    o3 = np.clip(18 + 145 * sun_lagged[None, :] * rng.uniform(0.8, 1.15, (stations, 1)) - 0.35 * no2 + rng.normal(0, 6, (stations, hours)), 2, None)

    # The hazardous-chemicals fire: a plume over the stations nearest the park for half a day.
    since = (weather.hours - weather.hazchem_at).astype("timedelta64[m]").astype(float) / 60.0
    plume = np.where(since >= 0, np.exp(-np.clip(since, 0, None) / 5.0), 0.0)[None, :] * np.exp(-park_distance_km / 4)[:, None]
    so2 = so2 + 420 * plume
    no2 = no2 + 160 * plume
    pm25 = pm25 + 90 * plume
    pm10 = pm10 + 120 * plume

    columns = {"pm2_5": np.round(pm25), "pm10": np.round(pm10), "so2": np.round(so2), "no2": np.round(no2), "co": np.round(np.clip(co, 0.1, None), 2), "o3": np.round(o3)}
    for name in ("pm2_5", "pm10", "so2", "no2"):
        columns[f"{name}_24h"] = np.round(_moving(columns[name], 24))
    columns["co_24h"] = np.round(_moving(columns["co"], 24), 2)
    columns["o3_8h"] = np.round(_moving(columns["o3"], 8))
    columns["o3_8h_24h"] = np.round(_moving(columns["o3_8h"], 24, "max"))
    columns = {name: weather.on_axis(values) for name, values in columns.items()}
    standard = load_standard()
    values, primaries = aqi(standard, {table: columns[column].ravel() for table, column in HOURLY_AQI_TABLES.items()})
    primary = np.array([primary_label(p) for p in primaries], dtype=object).reshape(stations, -1)
    return AirQuality(columns, values.reshape(stations, -1), primary)


@dataclass
class WaterReadings:
    sensor_index: np.ndarray  # row → sensor (into the water sensors given)
    metric: list[str]
    hour_index: np.ndarray  # row → axis hour
    value: np.ndarray
    last_time: np.datetime64  # newest reading


def water_levels(properties: list[dict], axis: TimeAxis, weather: Weather, seed: int) -> WaterReadings:
    rng = component_rng(seed, "water_level")
    hours = len(weather.hours)
    t = (weather.hours - weather.hours[0]).astype("timedelta64[m]").astype(float) / 60.0
    series = []
    for props in properties:
        if props.get("type") == "tide":
            phase = rng.uniform(0, 2 * np.pi)
            surge = 0.04 * np.convolve(weather.rain_mm, np.ones(12) / 12, mode="same")
            level = 0.3 + 1.8 * np.cos(2 * np.pi * t / 12.42 + phase) + 0.25 * np.cos(2 * np.pi * t / 24.84 + phase) + surge
        else:
            decay = np.exp(-1.0 / props["response_hours"])
            local_rain = weather.rain_mm * rng.uniform(0.7, 1.3)
            storage = np.empty(hours)
            stored = 0.0
            for i in range(hours):  # a linear reservoir per gauge: 2 k steps, cheap
                stored = decay * stored + (1 - decay) * local_rain[i]
                storage[i] = stored
            rise = (props["warning_level_m"] - props["base_level_m"]) / 8.0  # ~8 mm/h sustained reaches the warning level
            level = props["base_level_m"] + rise * storage + 0.05 * np.sin(2 * np.pi * t / (24 * 11) + rng.uniform(0, 6))
        series.append(np.round(level + rng.normal(0, 0.01, hours), 2))
    values = weather.on_axis(np.array(series)) if series else np.zeros((0, len(axis)))
    count, steps = values.shape
    return WaterReadings(np.repeat(np.arange(count), steps), ["water_level"] * (count * steps), np.tile(np.arange(steps), count), values.ravel(), axis.now)


def water_quality(count: int, axis: TimeAxis, weather: Weather, seed: int) -> WaterReadings:
    rng = component_rng(seed, "water_quality")
    hours = len(weather.hours)
    runoff = np.empty(hours)
    stored, decay = 0.0, np.exp(-1 / 36.0)
    for i in range(hours):
        stored = decay * stored + (1 - decay) * weather.rain_mm[i]
        runoff[i] = stored
    runoff = np.clip(runoff / 8.0, 0, 1.5)
    daily = np.sin(2 * np.pi * (weather.local_hour - 14) / 24)
    last = len(axis) - WATER_QUALITY_DELAY_DAYS * 24  # the feed stopped three days ago
    sensor_index, metrics, hour_index, values = [], [], [], []
    for station in range(count):
        base = rng.uniform(0.85, 1.15)
        by_metric = {
            "ph": np.round(7.6 + 0.25 * daily - 0.3 * runoff + rng.normal(0, 0.05, hours), 2),
            "dissolved_oxygen": np.round((7.2 + 1.1 * daily - 2.0 * runoff) * base + rng.normal(0, 0.15, hours), 2),
            "ammonia_nitrogen": np.round(np.clip(0.4 * base + 0.7 * runoff + rng.normal(0, 0.04, hours), 0.02, None), 3),
            "permanganate_index": np.round(4.2 * base + 2.5 * runoff + rng.normal(0, 0.2, hours), 2),
            "turbidity": np.round(np.clip(18 * base + 110 * runoff + rng.normal(0, 3, hours), 1, None), 1),
        }
        for metric in WATER_QUALITY_METRICS:
            sensor_index.append(np.full(last, station))
            metrics.extend([metric] * last)
            hour_index.append(np.arange(last))
            values.append(weather.on_axis(by_metric[metric])[:last])
    if count == 0:
        return WaterReadings(np.zeros(0, np.int64), [], np.zeros(0, np.int64), np.zeros(0), axis.hours[last - 1])
    return WaterReadings(np.concatenate(sensor_index), metrics, np.concatenate(hour_index), np.concatenate(values), axis.hours[last - 1])
