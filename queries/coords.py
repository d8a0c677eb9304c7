"""Chinese map offsets: GCJ-02 (Amap, Tencent) and BD-09 (Baidu) to and from WGS84, vectorised.

GCJ-02 is WGS84 plus a published, deterministic offset (the widely circulated "eviltransform"
algorithm, Krasovsky ellipsoid constants) applied only inside China's bounding box; outside it
GCJ-02 equals WGS84. There is no closed-form inverse, so GCJ→WGS iterates the forward offset until
the round trip agrees to ~1e-9 degrees (≪ 0.1 m). BD-09 is a further rotation/scaling of GCJ-02.

All functions take and return numpy arrays (or scalars) as ``(lon, lat)``; NaN passes through.
``transform_geometry`` applies a conversion to every coordinate of shapely geometries.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import shapely

# Krasovsky 1940 semi-major axis and eccentricity squared, as used by the GCJ-02 offset.
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
_BD_X_PI = np.pi * 3000.0 / 180.0
# Where the offset applies (the algorithm's own rectangle around China).
CHINA_BBOX = (72.004, 0.8293, 137.8347, 55.8271)
_INVERSE_TOLERANCE_DEG = 1e-10
_INVERSE_MAX_ITERATIONS = 30

OFFSET_SYSTEMS = ("gcj02", "bd09")


def in_china(lon, lat) -> np.ndarray:
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    min_lon, min_lat, max_lon, max_lat = CHINA_BBOX
    return (lon >= min_lon) & (lon <= max_lon) & (lat >= min_lat) & (lat <= max_lat)


def _gcj_offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The GCJ-02 offset (degrees) to add to a WGS84 position."""
    x = lon - 105.0
    y = lat - 35.0
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x)) + common
    d_lat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    d_lat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x)) + common
    d_lon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    d_lon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _KRASOVSKY_EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_KRASOVSKY_A * (1.0 - _KRASOVSKY_EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = (d_lon * 180.0) / (_KRASOVSKY_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    inside = in_china(lon, lat)
    return np.where(inside, d_lon, 0.0), np.where(inside, d_lat, 0.0)


def _arrays(lon, lat) -> tuple[np.ndarray, np.ndarray, bool]:
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    return np.atleast_1d(np.asarray(lon, dtype=float)), np.atleast_1d(np.asarray(lat, dtype=float)), scalar


def _out(lon: np.ndarray, lat: np.ndarray, scalar: bool):
    return (float(lon[0]), float(lat[0])) if scalar else (lon, lat)


def wgs84_to_gcj02(lon, lat):
    lon, lat, scalar = _arrays(lon, lat)
    d_lon, d_lat = _gcj_offset(lon, lat)
    return _out(lon + d_lon, lat + d_lat, scalar)


def gcj02_to_wgs84(lon, lat):
    """Exact inverse by fixed-point iteration: wgs ← wgs − (gcj(wgs) − target)."""
    lon, lat, scalar = _arrays(lon, lat)
    wgs_lon, wgs_lat = lon.copy(), lat.copy()
    for _ in range(_INVERSE_MAX_ITERATIONS):
        d_lon, d_lat = _gcj_offset(wgs_lon, wgs_lat)
        err_lon = wgs_lon + d_lon - lon
        err_lat = wgs_lat + d_lat - lat
        wgs_lon -= err_lon
        wgs_lat -= err_lat
        if not np.any(np.abs(err_lon) > _INVERSE_TOLERANCE_DEG) and not np.any(np.abs(err_lat) > _INVERSE_TOLERANCE_DEG):
            break
    return _out(wgs_lon, wgs_lat, scalar)


def gcj02_to_bd09(lon, lat):
    lon, lat, scalar = _arrays(lon, lat)
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _BD_X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _BD_X_PI)
    return _out(z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006, scalar)


def bd09_to_gcj02(lon, lat):
    lon, lat, scalar = _arrays(lon, lat)
    x = lon - 0.0065
    y = lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_X_PI)
    return _out(z * np.cos(theta), z * np.sin(theta), scalar)


def wgs84_to_bd09(lon, lat):
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat):
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


_TO_WGS84 = {"gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84, "wgs84": None}
_FROM_WGS84 = {"gcj02": wgs84_to_gcj02, "bd09": wgs84_to_bd09, "wgs84": None}


def to_wgs84(system: str, lon, lat):
    """(lon, lat) in ``system`` ('gcj02', 'bd09' or 'wgs84') → WGS84."""
    func = _TO_WGS84[system.lower()]
    return (lon, lat) if func is None else func(lon, lat)


def from_wgs84(system: str, lon, lat):
    """WGS84 → ``system`` ('gcj02', 'bd09' or 'wgs84'), e.g. to draw on a vendor basemap."""
    func = _FROM_WGS84[system.lower()]
    return (lon, lat) if func is None else func(lon, lat)


def transform_geometry(geometries, func: Callable):
    """Apply a ``(lon, lat) -> (lon, lat)`` array function to every coordinate (2D output)."""

    def apply(coords: np.ndarray) -> np.ndarray:
        lon, lat = func(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geometries, apply, include_z=False)
