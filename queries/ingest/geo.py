"""Coordinates on the way in: CRS conversion to WGS84, plausibility (in China, in the city) and
polygon repair for boundary files."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from sqlalchemy import Connection, func, select

from queries import coords
from queries.ingest.report import IngestError
from queries.schema import Area

WGS84_EQUIVALENT = ("EPSG:4326", "EPSG:4490", "OGC:CRS84", "WGS84", "CGCS2000")
# Mainland, Hainan, Taiwan and the South China Sea islands, loosely: a point outside is an error.
CHINA_EXTENT = (73.0, 3.0, 136.0, 54.0)
CITY_MARGIN_DEG = 0.1  # ~10 km slack around the loaded areas before "outside the city"
CRS_FORMS = "EPSG:4326 (default), EPSG:4490 (CGCS2000), EPSG:3857, any EPSG:xxxx, gcj02 (Amap/Tencent), bd09 (Baidu)"


@dataclass(frozen=True)
class SourceCRS:
    """How the incoming coordinates are expressed: an offset system, or a pyproj CRS."""

    label: str
    offset: str | None = None  # 'gcj02' / 'bd09'
    proj: str | None = None  # pyproj CRS string when a real transform is needed

    @property
    def is_wgs84(self) -> bool:
        return self.offset is None and self.proj is None


def resolve_crs(option: str | None, declared: str | None) -> tuple[SourceCRS, str | None]:
    """The CRS to convert from (``--crs`` wins over what the file declares), and a note if they differ."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    text = (option or declared or "EPSG:4326").strip()
    key = text.lower().replace("-", "").replace("_", "")
    note = None
    if option and declared and _crs_epsg(declared) != _crs_epsg(option):
        note = f"file declares {_crs_short(declared)}; coordinates treated as {option} as asked by --crs"
    if key in ("gcj02", "gcj", "mars", "amap", "gaode", "tencent"):
        return SourceCRS("gcj02", offset="gcj02"), note
    if key in ("bd09", "bd09ll", "baidu"):
        return SourceCRS("bd09", offset="bd09"), note
    if key in ("wgs84", "wgs1984"):
        return SourceCRS("EPSG:4326"), note
    try:
        crs = CRS.from_user_input(text)
    except CRSError:
        raise IngestError(f"--crs {text!r}: unknown coordinate system; use {CRS_FORMS}") from None
    epsg = crs.to_epsg()
    if epsg in (4326, 4490) or (crs.is_geographic and crs.datum and "2000" in crs.datum.name and "China" in crs.datum.name):
        return SourceCRS(f"EPSG:{epsg}" if epsg else crs.name), note
    return SourceCRS(f"EPSG:{epsg}" if epsg else crs.name, proj=crs.to_wkt()), note


def _crs_epsg(text: str) -> int | str:
    from pyproj import CRS

    try:
        return CRS.from_user_input(text).to_epsg() or text
    except Exception:  # noqa: BLE001 - an offset name like gcj02 is not a pyproj CRS
        return text.lower()


def _crs_short(text: str) -> str:
    epsg = _crs_epsg(text)
    return f"EPSG:{epsg}" if isinstance(epsg, int) else str(text)[:40]


def convert_xy(x: np.ndarray, y: np.ndarray, crs: SourceCRS) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if crs.offset:
        return coords.to_wgs84(crs.offset, x, y)
    if crs.proj:
        from pyproj import Transformer

        transformer = Transformer.from_crs(crs.proj, "EPSG:4326", always_xy=True)
        lon, lat = transformer.transform(x, y)
        return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    return x, y


def convert_geometries(geometries: np.ndarray, crs: SourceCRS) -> np.ndarray:
    """Every coordinate to WGS84, Z dropped."""
    geometries = shapely.force_2d(np.asarray(geometries, dtype=object))
    if crs.is_wgs84:
        return geometries
    return shapely.transform(geometries, lambda xy: np.column_stack(convert_xy(xy[:, 0], xy[:, 1], crs)))


def looks_projected(x: np.ndarray, y: np.ndarray) -> bool:
    finite = np.isfinite(x) & np.isfinite(y)
    return bool(finite.any() and (np.nanmax(np.abs(x[finite])) > 360 or np.nanmax(np.abs(y[finite])) > 180))


def outside_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    min_lon, min_lat, max_lon, max_lat = CHINA_EXTENT
    finite = np.isfinite(lon) & np.isfinite(lat)
    return finite & ~((lon >= min_lon) & (lon <= max_lon) & (lat >= min_lat) & (lat <= max_lat))


def city_extent(conn: Connection) -> tuple[float, float, float, float] | None:
    """Bounding box of every loaded area, widened by a margin; None when no areas are loaded."""
    row = conn.execute(select(func.min(Area.minx), func.min(Area.miny), func.max(Area.maxx), func.max(Area.maxy))).one()
    if row[0] is None:
        return None
    return (row[0] - CITY_MARGIN_DEG, row[1] - CITY_MARGIN_DEG, row[2] + CITY_MARGIN_DEG, row[3] + CITY_MARGIN_DEG)


def outside_extent(lon: np.ndarray, lat: np.ndarray, extent) -> np.ndarray:
    min_lon, min_lat, max_lon, max_lat = extent
    finite = np.isfinite(lon) & np.isfinite(lat)
    return finite & ~((lon >= min_lon) & (lon <= max_lon) & (lat >= min_lat) & (lat <= max_lat))


# --- polygons ------------------------------------------------------------------------------------

def polygonal_part(geometry):
    """The polygons of a (repaired) geometry as one MultiPolygon, or None if there are none."""
    if geometry is None or geometry.is_empty:
        return None
    if geometry.geom_type == "Polygon":
        return shapely.MultiPolygon([geometry])
    if geometry.geom_type == "MultiPolygon":
        return geometry
    if geometry.geom_type == "GeometryCollection":
        parts = []
        for part in geometry.geoms:
            multi = polygonal_part(part)
            if multi is not None:
                parts.extend(multi.geoms)
        return shapely.MultiPolygon(parts) if parts else None
    return None


def repair_polygon(geometry) -> tuple[object | None, list[str], str | None]:
    """(MultiPolygon or None, repairs made, reason it cannot be used)."""
    repairs: list[str] = []
    if geometry is None or geometry.is_empty:
        return None, repairs, "no geometry"
    if geometry.geom_type not in ("Polygon", "MultiPolygon", "GeometryCollection"):
        return None, repairs, f"a {geometry.geom_type}, not a polygon"
    if not geometry.is_valid:
        reason = shapely.is_valid_reason(geometry)
        fixed = polygonal_part(shapely.make_valid(geometry))
        if fixed is None or fixed.area == 0:
            return None, repairs, f"invalid polygon ({reason}) that cannot be repaired"
        dropped = "" if fixed.area >= geometry.buffer(0).area * 0.999 else " (degenerate parts dropped)"
        repairs.append(f"made valid: {reason}{dropped}")
        geometry = fixed
    multi = polygonal_part(geometry)
    if multi is None or multi.area == 0:
        return None, repairs, "polygon with zero area"
    if geometry.geom_type == "GeometryCollection" and not repairs:
        repairs.append("kept only the polygonal parts of a geometry collection")
    return multi, repairs, None
