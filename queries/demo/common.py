"""Shared pieces of the demo city: scales, seeded randomness, the time axis and map projections."""
from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass

import numpy as np
import pyproj
import shapely

# Beijing time has no daylight saving: a fixed offset is exact.
LOCAL_OFFSET_HOURS = 8
UTM_CRS = "EPSG:32650"  # UTM zone 50N covers Lianyungang (114–120°E); metres, near equal-area here
WGS84_CRS = "EPSG:4326"


@dataclass(frozen=True)
class DemoScale:
    """How big a demo city is: counts of areas, assets and events, and how much history to make."""

    name: str
    streets: int
    communities: int
    grids: int
    candidates_per_grid: int
    days: int
    speed_days: int  # hourly road speeds are the biggest table: the small scale keeps a week
    urban_road_spacing_m: float  # secondary street lattice in urban cores
    branch_roads: bool
    air_stations: int
    water_level_gauges: int
    water_quality_stations: int
    traffic_detectors: int
    detector_interval_min: int
    iot_devices: int
    incidents: int
    rain_waterlogging_reports: int
    work_orders: int


SCALES: dict[str, DemoScale] = {
    "small": DemoScale(
        "small", streets=20, communities=100, grids=400, candidates_per_grid=12, days=30, speed_days=7,
        urban_road_spacing_m=3000, branch_roads=False, air_stations=6, water_level_gauges=6,
        water_quality_stations=3, traffic_detectors=8, detector_interval_min=60, iot_devices=150,
        incidents=2000, rain_waterlogging_reports=60, work_orders=1500,
    ),
    "city": DemoScale(
        "city", streets=92, communities=1600, grids=10000, candidates_per_grid=10, days=90, speed_days=90,
        urban_road_spacing_m=1500, branch_roads=False, air_stations=20, water_level_gauges=30,
        water_quality_stations=10, traffic_detectors=60, detector_interval_min=15, iot_devices=4000,
        incidents=100_000, rain_waterlogging_reports=700, work_orders=60_000,
    ),
    "large": DemoScale(
        "large", streets=120, communities=5000, grids=50000, candidates_per_grid=8, days=90, speed_days=90,
        urban_road_spacing_m=600, branch_roads=True, air_stations=40, water_level_gauges=60,
        water_quality_stations=20, traffic_detectors=200, detector_interval_min=15, iot_devices=20000,
        incidents=1_000_000, rain_waterlogging_reports=5000, work_orders=400_000,
    ),
}


def component_rng(seed: int, component: str) -> np.random.Generator:
    """An independent random stream per component, so that changing one part never shifts another."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(component.encode("utf-8"))])


def floor_hour(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: pass an aware time (UTC or Asia/Shanghai)")
    return moment.astimezone(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)


def to_datetime64(moment: dt.datetime) -> np.datetime64:
    """Aware datetime → naive-UTC numpy datetime64[s] (all arrays of the demo are UTC)."""
    return np.datetime64(moment.astimezone(dt.timezone.utc).replace(tzinfo=None), "s")


@dataclass(frozen=True)
class TimeAxis:
    """Hourly UTC instants from ``days`` ago (exclusive) up to ``now`` (inclusive)."""

    now: np.datetime64  # datetime64[s], UTC, on the hour
    hours: np.ndarray  # datetime64[s] per hour

    @classmethod
    def ending(cls, now: dt.datetime, days: int) -> TimeAxis:
        end = to_datetime64(now)
        count = days * 24
        hours = end - np.arange(count - 1, -1, -1).astype("timedelta64[h]")
        return cls(now=end, hours=hours.astype("datetime64[s]"))

    def __len__(self) -> int:
        return len(self.hours)

    @property
    def start(self) -> np.datetime64:
        return self.hours[0]

    def local_hour(self, times: np.ndarray | None = None) -> np.ndarray:
        times = self.hours if times is None else times
        return ((times.astype("datetime64[h]").astype(np.int64) + LOCAL_OFFSET_HOURS) % 24).astype(np.int64)

    def local_weekday(self, times: np.ndarray | None = None) -> np.ndarray:
        """0 = Monday … 6 = Sunday, in Beijing time."""
        times = self.hours if times is None else times
        local_days = (times.astype("datetime64[h]").astype(np.int64) + LOCAL_OFFSET_HOURS) // 24
        return ((local_days + 3) % 7).astype(np.int64)  # 1970-01-01 was a Thursday

    def hour_index(self, times: np.ndarray) -> np.ndarray:
        """Index of the hour containing each time (clipped to the axis)."""
        offset = (times.astype("datetime64[s]") - self.start).astype("timedelta64[s]").astype(np.int64) // 3600
        return np.clip(offset, 0, len(self) - 1)


def local_midnight_utc(times: np.ndarray) -> np.ndarray:
    """The UTC instant of the Beijing-time midnight starting each time's local day."""
    hours = times.astype("datetime64[h]").astype(np.int64) + LOCAL_OFFSET_HOURS
    return ((hours // 24) * 24 - LOCAL_OFFSET_HOURS).astype("datetime64[h]").astype("datetime64[s]")


def local_date_strings(times: np.ndarray) -> np.ndarray:
    """YYYYMMDD of each time in Beijing time (for ids such as work-order numbers)."""
    local = times.astype("datetime64[s]") + np.timedelta64(LOCAL_OFFSET_HOURS, "h")
    return np.char.replace(np.datetime_as_string(local, unit="D"), "-", "")


@dataclass(frozen=True)
class Projection:
    """WGS84 ↔ UTM 50N for geometry arrays and coordinate arrays."""

    forward: pyproj.Transformer
    inverse: pyproj.Transformer

    @classmethod
    def create(cls) -> Projection:
        return cls(
            forward=pyproj.Transformer.from_crs(WGS84_CRS, UTM_CRS, always_xy=True),
            inverse=pyproj.Transformer.from_crs(UTM_CRS, WGS84_CRS, always_xy=True),
        )

    def to_utm_xy(self, lon, lat) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.forward.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        return np.asarray(x), np.asarray(y)

    def to_lonlat(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        lon, lat = self.inverse.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        return np.asarray(lon), np.asarray(lat)

    def geoms_to_utm(self, geoms):
        return shapely.transform(geoms, lambda xy: np.column_stack(self.forward.transform(xy[:, 0], xy[:, 1])))

    def geoms_to_wgs84(self, geoms):
        return shapely.transform(geoms, lambda xy: np.column_stack(self.inverse.transform(xy[:, 0], xy[:, 1])))


def gaussian(x: np.ndarray, y: np.ndarray, cx: float, cy: float, sigma_m: float) -> np.ndarray:
    return np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2.0 * sigma_m**2))


def choose_weighted(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    """Indices drawn with replacement in proportion to ``weights``."""
    weights = np.asarray(weights, dtype=float)
    cumulative = np.cumsum(weights)
    return np.minimum(np.searchsorted(cumulative, rng.random(size) * cumulative[-1], side="right"), len(weights) - 1)


def allocate(total: int, weights: np.ndarray, minimum: int = 1) -> np.ndarray:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder), each ≥ ``minimum``."""
    weights = np.asarray(weights, dtype=float)
    count = len(weights)
    spare = max(0, total - minimum * count)
    share = weights / weights.sum() * spare if weights.sum() > 0 else np.zeros(count)
    result = np.floor(share).astype(int)
    remainder = spare - int(result.sum())
    if remainder > 0:
        order = np.argsort(-(share - result), kind="stable")[:remainder]
        result[order] += 1
    return result + minimum
