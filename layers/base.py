"""What every map layer shares: the rendered result, legends, and the helpers that keep specs small.

A layer is a stateless object turning a query frame into deck.gl layer JSON (``@@type`` dicts with
camelCase props, as deckgl-dash's ``layers`` prop takes them). Options common to every layer:

* ``crs`` — ``wgs84`` (default), ``gcj02`` or ``bd09``: the offset of the tile basemap in use;
  every coordinate a layer emits goes through ``shift_to(crs)`` so the layers sit on that basemap.
* text comes from ``t`` (the caller's translator for the current language): layers never import app.

Tooltips: a pickable JSON object carries a ``tooltip`` field (escaped HTML) shown by the DeckGL
``tooltip`` prop from ``layers.deck_tooltip()``; a binary layer carries plain-text ``tooltips`` in its
``@@binary`` block (deckgl-dash shows those by picked index).
"""
from __future__ import annotations

import base64
import html
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from queries.coords import OFFSET_SYSTEMS, from_wgs84, transform_geometry

Translate = Callable[[str], str]
RGB = tuple[int, int, int]

CRS_CHOICES = ("wgs84", *OFFSET_SYSTEMS)
# 5 decimals of a degree ≈ 1.1 m: finer than a screen pixel at street zoom, and every extra
# decimal is a byte per coordinate on the wire.
COORD_DECIMALS = 5
# CJK labels: deck.gl builds its glyph atlas from a system font (nothing is downloaded).
CJK_FONT_FAMILY = "Noto Sans CJK SC, Source Han Sans SC, PingFang SC, Microsoft YaHei, sans-serif"


@dataclass(frozen=True)
class LegendItem:
    label: str
    rgb: tuple[int, int, int]
    shape: str = "fill"  # fill | line | point | icon


@dataclass(frozen=True)
class Legend:
    title: str
    items: tuple[LegendItem, ...]
    note: str | None = None


@dataclass(frozen=True)
class RenderedLayer:
    id: str  # stable deck layer id, e.g. "incidents-points"
    spec: dict  # deck.gl layer JSON for deckgl-dash's `layers` prop
    legend: Legend | None
    payload_bytes: int  # len(json.dumps(spec)) — what travels to the browser


class MapLayer(ABC):
    name: ClassVar[str]  # registry key
    title_key: ClassVar[str]  # i18n key of the layer's name in app/i18n.py

    @abstractmethod
    def render(self, data, *, t: Translate, **options) -> list[RenderedLayer]:
        """Deck layers (bottom to top) for ``data`` in the language of ``t``."""


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


def rendered(spec: dict, legend: Legend | None = None) -> RenderedLayer:
    """A RenderedLayer for ``spec``, measuring what it will cost on the wire."""
    return RenderedLayer(id=spec["id"], spec=spec, legend=legend, payload_bytes=len(json.dumps(spec)))


def language_of(t: Translate) -> str:
    """``zh`` or ``en``: which of a bilingual value (area names, vocabulary terms) to show."""
    return "en" if t("layers.language") == "en" else "zh"


def term_label(term, t: Translate) -> str:
    """A ``queries.vocab.Term`` in the current language."""
    return term.en if language_of(t) == "en" else term.zh


def tooltip_html(*lines: str) -> str:
    """Escaped lines for the DeckGL tooltip template (it is inserted as HTML)."""
    return "<br>".join(html.escape(str(line)) for line in lines if line not in (None, ""))


def rgba(rgb: Iterable[int], alpha: int = 255) -> list[int]:
    r, g, b = (int(c) for c in tuple(rgb)[:3])
    return [r, g, b, int(alpha)]


def format_number(value: float) -> str:
    """Compact label numbers: 3, 12.5, 1,240."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.2f}"


def option(options: Mapping, name: str, default):
    value = options.get(name, default)
    return default if value is None else value


# ---------------------------------------------------------------------------------------------
# Coordinates: the one place where positions are shifted to the basemap's datum and rounded
# ---------------------------------------------------------------------------------------------


def check_crs(crs: str | None) -> str:
    crs = (crs or "wgs84").lower()
    if crs not in CRS_CHOICES:
        raise ValueError(f"crs must be one of {CRS_CHOICES}, not {crs!r}")
    return crs


def shift_to(crs: str | None) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(lon, lat) -> (lon, lat)`` arrays from WGS84 into ``crs`` (identity for wgs84)."""
    crs = check_crs(crs)

    def shift(lon, lat):
        lon = np.asarray(lon, dtype="float64")
        lat = np.asarray(lat, dtype="float64")
        if crs == "wgs84":
            return lon, lat
        return from_wgs84(crs, lon, lat)

    return shift


def positions(lon, lat, crs: str | None) -> np.ndarray:
    """``n × 2`` array of shifted, rounded positions."""
    x, y = shift_to(crs)(lon, lat)
    return np.round(np.column_stack([np.atleast_1d(x), np.atleast_1d(y)]), COORD_DECIMALS)


def shift_geometry(geometries, crs: str | None):
    """Geometries (array or GeoSeries values) with every vertex shifted into ``crs``."""
    geometries = np.asarray(geometries, dtype=object)
    if check_crs(crs) == "wgs84":
        return geometries
    return transform_geometry(geometries, shift_to(crs))


def _ring(coords) -> list[list[float]]:
    return np.round(np.asarray(coords)[:, :2], COORD_DECIMALS).tolist()


def polygon_rings(geometry) -> list[list[list[list[float]]]]:
    """Per polygon part: [outer ring, holes…] as nested lists (PolygonLayer's ``getPolygon``)."""
    if geometry is None or geometry.is_empty:
        return []
    parts = geometry.geoms if geometry.geom_type in ("MultiPolygon", "GeometryCollection") else [geometry]
    result = []
    for part in parts:
        if part.geom_type != "Polygon" or part.is_empty:
            continue
        result.append([_ring(part.exterior.coords), *(_ring(hole.coords) for hole in part.interiors)])
    return result


def line_paths(geometry) -> list[list[list[float]]]:
    """Per line part: its vertices (PathLayer's ``getPath``); polygons give their rings."""
    if geometry is None or geometry.is_empty:
        return []
    kind = geometry.geom_type
    if kind == "LineString":
        return [_ring(geometry.coords)]
    if kind == "LinearRing":
        return [_ring(geometry.coords)]
    if kind == "Polygon":
        return [_ring(geometry.exterior.coords), *(_ring(r.coords) for r in geometry.interiors)]
    if kind in ("MultiLineString", "MultiPolygon", "GeometryCollection"):
        return [path for part in geometry.geoms for path in line_paths(part)]
    return []




# ---------------------------------------------------------------------------------------------
# Binary transport: deckgl-dash's ``{"@@binary": …}`` block (same layout as deckgl_dash.binary,
# packed here so that layers need not import the Dash component)
# ---------------------------------------------------------------------------------------------

_JS_DTYPES = {"float32": 4, "float64": 8, "uint8": 1, "uint16": 2, "uint32": 4, "int32": 4}


def binary_block(length: int, attributes: Mapping[str, np.ndarray], tooltips: list[str] | None = None) -> dict:
    """Pack accessor arrays (``n`` or ``n × size``) into one aligned buffer, base64 in JSON."""
    chunks: list[bytes] = []
    offset = 0
    meta = {}
    for name, array in attributes.items():
        array = np.asarray(array)
        dtype = array.dtype.name
        if dtype not in _JS_DTYPES:
            raise ValueError(f"{name}: dtype {dtype} cannot travel as a JS typed array")
        align = _JS_DTYPES[dtype]
        padding = (-offset) % align
        chunks.append(b"\x00" * padding)
        offset += padding
        raw = np.ascontiguousarray(array).tobytes()
        meta[name] = {"offset": offset, "byteLength": len(raw), "dtype": dtype, "size": int(array.shape[1]) if array.ndim == 2 else 1}
        chunks.append(raw)
        offset += len(raw)
    block = {"length": int(length), "attributes": meta, "buffer": base64.b64encode(b"".join(chunks)).decode("ascii")}
    if tooltips is not None:
        if len(tooltips) != length:
            raise ValueError(f"tooltips: one per item ({length}), got {len(tooltips)}")
        block["tooltips"] = list(tooltips)
    return {"@@binary": block}


def decode_binary_block(data: Mapping) -> dict[str, np.ndarray]:
    """The arrays of a ``binary_block`` (the browser's side of it, for tests and the benchmark)."""
    block = data["@@binary"]
    buffer = base64.b64decode(block["buffer"])
    arrays = {}
    for name, meta in block["attributes"].items():
        values = np.frombuffer(buffer, dtype=meta["dtype"], count=meta["byteLength"] // _JS_DTYPES[meta["dtype"]], offset=meta["offset"])
        arrays[name] = values.reshape(-1, meta["size"]) if meta["size"] > 1 else values
    return arrays
