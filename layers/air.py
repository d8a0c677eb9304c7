"""Air quality: stations in their HJ 633 level colour, and an interpolated AQI surface.

The surface interpolates *concentrations* (never AQIs: AQI is not additive) from the stations to
the cell centroids by inverse distance weighting, then rates each cell with the national method
(``queries.airquality``, the real-time inputs of ``queries.environment``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from layers.base import (
    CJK_FONT_FAMILY,
    Legend,
    LegendItem,
    MapLayer,
    RenderedLayer,
    Translate,
    language_of,
    polygon_rings,
    positions,
    rendered,
    rgba,
    shift_geometry,
    tooltip_html,
)
from layers.choropleth import h3_cells_spec
from layers.palette import NO_DATA_RGB
from queries.airquality import aqi, level_of, load_standard
from queries.environment import REALTIME_INPUTS

IDW_POWER = 2.0
EARTH_RADIUS_M = 6_371_008.8
SURFACE_ALPHA = 150


def level_index(standard, value) -> int:
    """0–5 for the six HJ 633 levels, -1 without a value."""
    if value is None or pd.isna(value):
        return -1
    level = level_of(standard, float(value))
    return standard.levels.index(level) if level is not None else -1


def level_legend(title: str, t: Translate, standard, note: str | None = None) -> Legend:
    items = [LegendItem(t(f"layers.aqi.level{i + 1}"), tuple(level.rgb), "fill") for i, level in enumerate(standard.levels)]
    items.append(LegendItem(t("layers.no_data"), NO_DATA_RGB, "fill"))
    return Legend(title, tuple(items), note)


def idw(station_lon, station_lat, values, target_lon, target_lat, power: float = IDW_POWER) -> np.ndarray:
    """Inverse-distance-weighted values at the targets from the stations that measured (finite) values.

    Distances on the local tangent plane (exact enough within a city); a target on a station takes
    its value.
    """
    values = np.asarray(values, dtype="float64")
    usable = np.isfinite(values) & np.isfinite(station_lon) & np.isfinite(station_lat)
    target_lon = np.asarray(target_lon, dtype="float64")
    target_lat = np.asarray(target_lat, dtype="float64")
    if not usable.any():
        return np.full(target_lon.shape, np.nan)
    s_lon, s_lat, v = np.asarray(station_lon)[usable], np.asarray(station_lat)[usable], values[usable]
    scale = np.cos(np.radians(np.nanmean(target_lat) if target_lat.size else 0.0))
    dx = (target_lon[:, None] - s_lon[None, :]) * scale
    dy = target_lat[:, None] - s_lat[None, :]
    distance = np.radians(np.hypot(dx, dy)) * EARTH_RADIUS_M
    with np.errstate(divide="ignore"):
        weights = 1.0 / np.power(distance, power)
    on_station = distance < 1.0
    weights = np.where(on_station.any(axis=1, keepdims=True), on_station.astype("float64"), weights)
    return (weights * v[None, :]).sum(axis=1) / weights.sum(axis=1)


def interpolate_aqi(stations: pd.DataFrame, target_lon, target_lat, standard=None) -> np.ndarray:
    """AQI at the targets from IDW-interpolated real-time concentrations (HJ 633)."""
    standard = standard or load_standard()
    s_lon = stations["lon"].to_numpy(dtype="float64")
    s_lat = stations["lat"].to_numpy(dtype="float64")
    concentrations = {table: idw(s_lon, s_lat, stations[field].to_numpy(dtype="float64"), target_lon, target_lat)
                      for table, field in REALTIME_INPUTS.items() if field in stations}
    values, _primary = aqi(standard, concentrations)
    return values


class AirStationsLayer(MapLayer):
    """Data: ``queries.environment.station_air_quality``. Options: ``crs``."""

    name = "air_stations"
    title_key = "layers.air_stations.title"

    def render(self, data, *, t: Translate, **options) -> list[RenderedLayer]:
        standard = load_standard()
        crs = options.get("crs")
        frame = data[data["lon"].notna() & data["lat"].notna()]
        xy = positions(frame["lon"].to_numpy(), frame["lat"].to_numpy(), crs).tolist()
        english = language_of(t) == "en"
        primaries = frame["primary_pollutant_en" if english else "primary_pollutant"] if len(frame) else []
        rows, labels = [], []
        for p, name, value, primary in zip(xy, frame["name"], frame["aqi"], primaries):
            index = level_index(standard, value)
            colour = tuple(standard.levels[index].rgb) if index >= 0 else NO_DATA_RGB
            has_value = index >= 0
            lines = [name, f"AQI {int(value)} · {t(f'layers.aqi.level{index + 1}')}" if has_value else t("layers.no_data")]
            if isinstance(primary, str) and primary:
                lines.append(t("layers.aqi.primary").format(pollutant=primary))
            rows.append({"p": p, "c": rgba(colour), "tooltip": tooltip_html(*lines)})
            labels.append({"p": p, "text": str(int(value)) if has_value else "—"})
        return [
            rendered({
                "@@type": "ScatterplotLayer", "id": "air-stations", "data": rows, "getPosition": "@@=p", "getFillColor": "@@=c",
                "getRadius": 11, "radiusUnits": "pixels", "stroked": True, "getLineColor": [255, 255, 255, 220], "lineWidthUnits": "pixels",
                "getLineWidth": 1.5, "pickable": True, "autoHighlight": True,
            }, level_legend(t(self.title_key), t, standard, t("layers.aqi.note"))),
            rendered({
                "@@type": "TextLayer", "id": "air-stations-aqi", "data": labels, "getPosition": "@@=p", "getText": "@@=text",
                "getSize": 10, "sizeUnits": "pixels", "getColor": [0, 0, 0, 255], "fontWeight": 700, "characterSet": "auto",
                "fontFamily": CJK_FONT_FAMILY, "getTextAnchor": "middle", "getAlignmentBaseline": "center", "pickable": False,
            }),
        ]


class AqiSurfaceLayer(MapLayer):
    """Data: ``{"stations": station_air_quality(...), "cells": queries.map_data.surface_cells(...)}``
    — unit grids (code, lon, lat, geometry) or H3 cells (h3, lon, lat). Options: ``crs``, ``power`` (2)."""

    name = "aqi_surface"
    title_key = "layers.aqi_surface.title"

    def render(self, data, *, t: Translate, **options) -> list[RenderedLayer]:
        standard = load_standard()
        stations = data["stations"]
        stations = stations[stations["lon"].notna() & stations["lat"].notna()]
        cells = data["cells"]
        crs = options.get("crs")
        values = interpolate_aqi(stations, cells["lon"].to_numpy(dtype="float64"), cells["lat"].to_numpy(dtype="float64"), standard) \
            if len(cells) else np.array([])
        rows = []
        for value in values:
            index = level_index(standard, value)
            colour = rgba(standard.levels[index].rgb, SURFACE_ALPHA) if index >= 0 else rgba(NO_DATA_RGB, 60)
            tip = tooltip_html(f"AQI {int(value)} · {t(f'layers.aqi.level{index + 1}')}" if index >= 0 else t("layers.no_data"), t("layers.aqi_surface.estimated"))
            rows.append({"c": colour, "tooltip": tip})
        props = {"getFillColor": "@@=c", "filled": True, "stroked": False, "pickable": True, "autoHighlight": True}
        if "geometry" in cells and "h3" not in cells:
            geometries = shift_geometry(np.asarray(cells.geometry.array, dtype=object), crs)
            data_rows = [{"polygon": rings, **row} for row, geometry in zip(rows, geometries) for rings in polygon_rings(geometry)]
            spec = {"@@type": "PolygonLayer", "id": "aqi-surface", "data": data_rows, "getPolygon": "@@=polygon", **props}
        else:
            spec = h3_cells_spec("aqi-surface", cells["h3"].tolist(), rows, crs, **props)
        note = t("layers.aqi_surface.note").format(stations=len(stations))
        return [rendered(spec, level_legend(t(self.title_key), t, standard, note))]
