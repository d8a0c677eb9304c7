"""Administrative areas of one level with their names, the selected one highlighted."""
from __future__ import annotations

import numpy as np

from layers.base import (
    CJK_FONT_FAMILY,
    Legend,
    LegendItem,
    MapLayer,
    RenderedLayer,
    Translate,
    language_of,
    option,
    polygon_rings,
    positions,
    rendered,
    rgba,
    shift_geometry,
    tooltip_html,
)
from layers.palette import BOUNDARY_RGB, LABEL_RGB, SELECTED_RGB
from queries.vocab import AREA_LEVELS, lookup


def area_names(frame, t: Translate) -> list[str]:
    """Area names in the current language (English falls back to the Chinese name)."""
    names = frame["name"].tolist()
    if language_of(t) == "en" and "name_en" in frame:
        return [en if isinstance(en, str) and en else zh for zh, en in zip(names, frame["name_en"].tolist())]
    return names


class BoundariesLayer(MapLayer):
    """Data: ``queries.map_data.area_shapes``. Options: ``selected`` (area code), ``labels`` (True), ``crs``."""

    name = "boundaries"
    title_key = "layers.boundaries.title"

    def render(self, data, *, t: Translate, **options) -> list[RenderedLayer]:
        crs = options.get("crs")
        selected = options.get("selected")
        names = area_names(data, t)
        geometries = shift_geometry(np.asarray(data.geometry.array, dtype=object), crs)
        level_names = {code: _level_label(code, t) for code in set(data["level"])} if len(data) else {}
        rows, selected_rows = [], []
        for code, name, level, geometry in zip(data["code"], names, data["level"], geometries):
            tip = tooltip_html(name, f"{level_names.get(level, level)} · {code}")
            for rings in polygon_rings(geometry):
                row = {"polygon": rings, "code": code, "tooltip": tip}
                rows.append(row)
                if selected is not None and code == selected:
                    selected_rows.append({"polygon": rings})
        legend = Legend(t(self.title_key), (LegendItem(t("layers.boundaries.area"), BOUNDARY_RGB, "line"),
                                           LegendItem(t("layers.boundaries.selected"), SELECTED_RGB, "line")))
        result = [
            rendered({
                "@@type": "PolygonLayer", "id": "boundaries-areas", "data": rows, "getPolygon": "@@=polygon",
                "filled": True, "getFillColor": rgba(BOUNDARY_RGB, 18), "stroked": True, "getLineColor": rgba(BOUNDARY_RGB, 190),
                "lineWidthUnits": "pixels", "getLineWidth": 1, "pickable": True, "autoHighlight": True,
                "highlightColor": rgba(SELECTED_RGB, 60),
            }, legend),
            rendered({
                "@@type": "PolygonLayer", "id": "boundaries-selected", "data": selected_rows, "getPolygon": "@@=polygon",
                "filled": True, "getFillColor": rgba(SELECTED_RGB, 36), "stroked": True, "getLineColor": rgba(SELECTED_RGB),
                "lineWidthUnits": "pixels", "getLineWidth": 3, "pickable": False,
            }),
        ]
        if option(options, "labels", True):
            result.append(rendered(self._labels(data, names, crs)))
        return result

    def _labels(self, data, names: list[str], crs) -> dict:
        lon = data["label_lon"].to_numpy(dtype="float64", copy=True) if "label_lon" in data else np.full(len(data), np.nan)
        lat = data["label_lat"].to_numpy(dtype="float64", copy=True) if "label_lat" in data else np.full(len(data), np.nan)
        missing = ~(np.isfinite(lon) & np.isfinite(lat))
        if missing.any():  # areas imported without a label point: a point inside the shape
            points = data.geometry[missing].representative_point()
            lon[missing], lat[missing] = points.x.to_numpy(), points.y.to_numpy()
        xy = positions(lon, lat, crs).tolist()
        return {
            "@@type": "TextLayer", "id": "boundaries-labels", "data": [{"p": p, "text": n} for p, n in zip(xy, names)],
            "getPosition": "@@=p", "getText": "@@=text", "getColor": rgba(LABEL_RGB, 230), "getSize": 13, "sizeUnits": "pixels",
            "characterSet": "auto", "fontFamily": CJK_FONT_FAMILY, "fontWeight": 600, "outlineWidth": 2, "outlineColor": [0, 0, 0, 200],
            "fontSettings": {"sdf": True}, "getTextAnchor": "middle", "getAlignmentBaseline": "center", "pickable": False,
        }


def _level_label(code: str, t: Translate) -> str:
    term = lookup(AREA_LEVELS, code)
    if term is None:
        return code
    return term.en if language_of(t) == "en" else term.zh
