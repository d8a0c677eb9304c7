"""The weather and the scripted episodes that drive every demo time series.

Rain (showers, plus a two-day heavy-rain episode about 17 days before ``now``), ventilation (low
during stagnant spells, when PM2.5 builds up) and sunlight (drives O3). The hazardous-chemicals
incident time lives here too, so that air quality, incidents and 12345 calls agree on it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from queries.demo.common import TimeAxis, component_rng, local_midnight_utc

WARMUP_HOURS = 48  # simulated before the axis so that 24-h moving averages are full from the first row
RAIN_EPISODE_DAYS_AGO = 17
RAIN_EPISODE_HOURS = 48
HAZCHEM_DAYS_AGO = 5


@dataclass(frozen=True)
class Weather:
    hours: np.ndarray  # datetime64[s], WARMUP_HOURS before the axis start … now
    rain_mm: np.ndarray  # mm in each hour
    ventilation: np.ndarray  # 0 (stagnant) … 1 (windy)
    sunlight: np.ndarray  # 0 … 1
    local_hour: np.ndarray
    weekday: np.ndarray
    rain_start: np.datetime64
    rain_end: np.datetime64
    hazchem_at: np.datetime64

    def on_axis(self, values: np.ndarray) -> np.ndarray:
        """The part of an extended (warm-up included) series that lies on the time axis."""
        return values[..., WARMUP_HOURS:]

    def in_rain_episode(self, times: np.ndarray) -> np.ndarray:
        return (times >= self.rain_start) & (times < self.rain_end)


def episode_times(axis: TimeAxis) -> tuple[np.datetime64, np.datetime64, np.datetime64]:
    """Start and end of the heavy-rain episode and the hazardous-chemicals incident time (UTC)."""
    rain_day = local_midnight_utc(np.array([axis.now - np.timedelta64(RAIN_EPISODE_DAYS_AGO, "D")]))[0]
    rain_start = rain_day + np.timedelta64(4, "h")  # 04:00 Beijing time
    hazchem_day = local_midnight_utc(np.array([axis.now - np.timedelta64(HAZCHEM_DAYS_AGO, "D")]))[0]
    hazchem_at = hazchem_day + np.timedelta64(14 * 60 + 20, "m")  # 14:20 Beijing time
    return rain_start, rain_start + np.timedelta64(RAIN_EPISODE_HOURS, "h"), hazchem_at.astype("datetime64[s]")


def build_weather(axis: TimeAxis, seed: int) -> Weather:
    rng = component_rng(seed, "weather")
    hours = axis.start - np.arange(WARMUP_HOURS, 0, -1).astype("timedelta64[h]")
    hours = np.concatenate([hours.astype("datetime64[s]"), axis.hours])
    count = len(hours)
    local_hour = axis.local_hour(hours)
    weekday = axis.local_weekday(hours)
    rain_start, rain_end, hazchem_at = episode_times(axis)

    rain = np.zeros(count)
    for _ in range(rng.poisson(count / (24 * 6))):  # a shower every ~6 days
        start, length = rng.integers(0, count), rng.integers(2, 9)
        rain[start : start + length] += rng.gamma(1.5, 1.5, size=len(rain[start : start + length]))
    since = (hours - rain_start).astype("timedelta64[m]").astype(float) / 60.0
    storm = (since >= 0) & (since < RAIN_EPISODE_HOURS)
    # Two bursts (暴雨 then 大暴雨), about 260 mm in two days.
    profile = 3.0 + 38.0 * np.exp(-((since - 10) ** 2) / (2 * 3.5**2)) + 26.0 * np.exp(-((since - 31) ** 2) / (2 * 4.0**2))
    rain[storm] = profile[storm] * rng.gamma(6.0, 1 / 6.0, size=int(storm.sum()))

    # Ventilation: smooth noise, with stagnant spells of 3–4 days; rain means wind and mixing.
    noise = np.zeros(count)
    shocks = rng.normal(0, 0.08, count)
    for i in range(1, count):
        noise[i] = 0.96 * noise[i - 1] + shocks[i]
    ventilation = 0.55 + noise + 0.15 * np.sin(2 * np.pi * (local_hour - 9) / 24)
    for days_ago in (70, 47, 26, 9):
        centre = axis.now - np.timedelta64(days_ago * 24 + int(rng.integers(-24, 24)), "h")
        distance = np.abs((hours - centre).astype("timedelta64[h]").astype(float))
        ventilation -= 0.45 * np.exp(-((distance / 40.0) ** 4))
    ventilation = np.clip(ventilation + 0.04 * np.minimum(rain, 10), 0.05, 1.0)

    cloud = np.clip(rain / 4.0, 0, 0.8)
    sunlight = np.clip(np.sin(np.pi * (local_hour - 6.5) / 11.0), 0, None) * (1 - cloud)
    return Weather(hours, rain, ventilation, sunlight, local_hour, weekday, rain_start, rain_end, hazchem_at)
