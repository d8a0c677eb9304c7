"""Unit grids coloured by a value in classed colours, or H3 cells where the city has no grids.

Shared by the incident hexagons and the AQI surface: ``h3_cells_spec`` draws H3 ids with deck.gl's
H3HexagonLayer on a WGS84 map, and as shifted polygons on a GCJ-02/BD-09 basemap (the browser
computes H3 geometry in WGS84 and cannot shift it).
"""
from __future__ import annotations

import h3
import numpy as np

from layers.base import (
    Legend,
    LegendItem,
    MapLayer,
    RenderedLayer,
    Translate,
    check_crs,
    format_number,
    option,
    polygon_rings,
    positions,
    rendered,
    rgba,
    shift_geometry,
    tooltip_html,
)
from layers.boundaries import area_names
from layers.classify import MIN_CLASSES, class_breaks, class_index, ramp
from layers.palette import NO_DATA_RGB, ZERO_RGB

FILL_ALPHA = 190
ZERO_ALPHA = 60  # a count of zero: a faint dark neutral wash, so the classes stand out on the dark land


def classed_colours(values, t: Translate, *, method: str, classes: int, value_label: str, title: str, zero_is_none: bool = False):
    """(rgba per value, Legend): classed colours with one legend line per class, plus no-data.

    ``zero_is_none`` (counts): zero is "nothing here", not the lowest class — a faint dark neutral
    (``ZERO_RGB``) with its own legend line, and the classes are those of the non-zero values; a
    pale ramp colour for the many empty grids would light up the whole dark map."""
    values = np.asarray(values, dtype="float64")
    zero = np.isfinite(values) & (values == 0) if zero_is_none else np.zeros(values.shape, dtype=bool)
    breaks = class_breaks(values[~zero], method, classes)
    colours = ramp(len(breaks))
    index = np.where(zero, -2, class_index(values, breaks))
    fills = [rgba(colours[i], FILL_ALPHA) if i >= 0 else (rgba(ZERO_RGB, ZERO_ALPHA) if i == -2 else rgba(NO_DATA_RGB, 90)) for i in index]
    items, lower = [], None
    if zero.any():
        items.append(LegendItem(t("layers.zero"), ZERO_RGB, "fill"))
    finite = values[np.isfinite(values) & ~zero]
    for colour, upper in zip(colours, breaks):
        label = f"≤ {format_number(upper)}" if lower is None else f"{format_number(lower)} – {format_number(upper)}"
        if lower is None and finite.size and finite.min() < upper:
            label = f"{format_number(finite.min())} – {format_number(upper)}"
        items.append(LegendItem(label, colour, "fill"))
        lower = upper
    if not np.isfinite(values).all():
        items.append(LegendItem(t("layers.no_data"), NO_DATA_RGB, "fill"))
    note = t(f"layers.classes.{method}").format(classes=len(breaks), value=value_label)
    return fills, Legend(title, tuple(items), note)


def h3_cells_spec(layer_id: str, cells, rows: list[dict], crs, **props) -> dict:
    """H3HexagonLayer of ``cells`` (ids) with per-cell row fields, or shifted polygons off-WGS84."""
    if check_crs(crs) == "wgs84":
        data = [{"hex": cell, **row} for cell, row in zip(cells, rows)]
        return {"@@type": "H3HexagonLayer", "id": layer_id, "data": data, "getHexagon": "@@=hex", "extruded": False,
                "highPrecision": "auto", **props}
    data = []
    for cell, row in zip(cells, rows):
        boundary = [(lng, lat) for lat, lng in h3.cell_to_boundary(cell)]
        ring = positions([p[0] for p in boundary], [p[1] for p in boundary], crs).tolist()
        data.append({"polygon": [ring + ring[:1]], **row})
    return {"@@type": "PolygonLayer", "id": layer_id, "data": data, "getPolygon": "@@=polygon", **props}


class GridChoroplethLayer(MapLayer):
    """Data: unit grids with geometry and a value (``grid_aggregate(..., with_geometry=True)``).

    Options: ``value_column`` ("count"), ``value_key`` (i18n key naming the value, "layers.value.count"),
    ``method`` ("quantile" | "natural"), ``classes`` (5–7), ``crs``.
    """

    name = "grid_choropleth"
    title_key = "layers.grid_choropleth.title"
    layer_id = "grid-choropleth"

    def render(self, data, *, t: Translate, **options) -> list[RenderedLayer]:
        value_column = option(options, "value_column", "count")
        value_label = t(option(options, "value_key", "layers.value.count"))
        fills, legend = classed_colours(
            data[value_column].to_numpy(dtype="float64"), t, method=option(options, "method", "quantile"),
            classes=int(option(options, "classes", MIN_CLASSES)), value_label=value_label, title=t(self.title_key),
            zero_is_none=value_column == "count",
        )
        names = area_names(data, t) if "name" in data else data["code"].tolist()
        geometries = shift_geometry(np.asarray(data.geometry.array, dtype=object), options.get("crs"))
        rows = []
        for code, name, value, fill, geometry in zip(data["code"], names, data[value_column], fills, geometries):
            tip = tooltip_html(name if name != code else code, f"{value_label} {format_number(float(value))}")
            rows += [{"polygon": rings, "code": code, "c": fill, "tooltip": tip} for rings in polygon_rings(geometry)]
        spec = {
            "@@type": "PolygonLayer", "id": self.layer_id, "data": rows, "getPolygon": "@@=polygon", "getFillColor": "@@=c",
            "stroked": True, "getLineColor": [255, 255, 255, 40], "lineWidthUnits": "pixels", "getLineWidth": 0.5,
            "pickable": True, "autoHighlight": True,
        }
        return [rendered(spec, legend)]


class H3Layer(MapLayer):
    """Data: ``h3_aggregate`` output (``h3`` ids and a value). Options as ``grid_choropleth``."""

    name = "h3"
    title_key = "layers.h3.title"

    def render(self, data, *, t: Translate, **options) -> list[RenderedLayer]:
        value_column = option(options, "value_column", "count")
        value_label = t(option(options, "value_key", "layers.value.count"))
        values = data[value_column].to_numpy(dtype="float64")
        fills, legend = classed_colours(values, t, method=option(options, "method", "quantile"),
                                        classes=int(option(options, "classes", MIN_CLASSES)), value_label=value_label, title=t(self.title_key),
                                        zero_is_none=value_column == "count")
        rows = [{"c": fill, "tooltip": tooltip_html(f"{value_label} {format_number(v)}")} for fill, v in zip(fills, values)]
        spec = h3_cells_spec("h3-cells", data["h3"].tolist(), rows, options.get("crs"), getFillColor="@@=c", filled=True, stroked=True,
                             getLineColor=[255, 255, 255, 40], lineWidthUnits="pixels", getLineWidth=0.5, pickable=True, autoHighlight=True)
        return [rendered(spec, legend)]
