"""Emergency resources by kind and IoT sensors by status.

A city has tens of thousands of sensors: positions, colours and radii travel as one binary
buffer (16 bytes a point before base64: float32 lon/lat, RGBA, float32 radius), hover texts only up to ``tooltip_limit`` points.

Resources are a few hundred points and travel as JSON rows: deckgl-dash decodes a binary block
into new typed arrays every time the DeckGL component re-renders (a click, any prop), which
makes deck.gl re-upload that layer and redraw the map — a whole frame for nothing on every
click. JSON rows keep their identity across re-renders, so an unchanged layer costs nothing.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from layers.base import (
    Legend,
    LegendItem,
    MapLayer,
    RenderedLayer,
    Translate,
    binary_block,
    format_number,
    option,
    positions,
    rendered,
    rgba,
    term_label,
    tooltip_html,
)
from layers.palette import RESOURCE_RGB, SENSOR_STATUS_RGB
from queries.vocab import RESOURCE_KINDS, SENSOR_KINDS, SENSOR_STATUSES

TOOLTIP_LIMIT = 3000
OTHER_RGB = (200, 200, 200)
SENSOR_RADIUS_PX = {"online": 3.0, "offline": 3.0, "alarm": 7.0}
STATUS_DRAW_ORDER = {"online": 0, "offline": 1, "alarm": 2}  # alarms on top


def binary_points_spec(layer_id: str, frame: pd.DataFrame, colours: np.ndarray, radii: np.ndarray, crs, tooltips) -> dict:
    xy = positions(frame["lon"].to_numpy(), frame["lat"].to_numpy(), crs).astype("float32").reshape(-1, 2)
    attributes = {"getPosition": xy, "getFillColor": colours.astype("uint8").reshape(-1, 4), "getRadius": radii.astype("float32")}
    return {
        "@@type": "ScatterplotLayer", "id": layer_id, "data": binary_block(len(frame), attributes, tooltips),
        "radiusUnits": "pixels", "radiusMinPixels": 2, "stroked": True, "getLineColor": [10, 16, 24, 220], "lineWidthUnits": "pixels",
        "getLineWidth": 1, "pickable": True, "autoHighlight": True,
    }


class ResourcesLayer(MapLayer):
    """Data: ``queries.map_data.resource_points``. Options: ``crs``, ``tooltip_limit`` (3000)."""

    name = "resources"
    title_key = "layers.resources.title"
    radius_px = 7

    def render(self, data, *, t: Translate, **options) -> list[RenderedLayer]:
        frame = data[data["lon"].notna() & data["lat"].notna()]
        kinds = {term.code: term_label(term, t) for term in RESOURCE_KINDS}
        colours = np.array([rgba(RESOURCE_RGB.get(k, OTHER_RGB)) for k in frame["kind"]], dtype="uint8")
        tooltips = None
        if len(frame) <= int(option(options, "tooltip_limit", TOOLTIP_LIMIT)):
            tooltips = []
            for name, kind, capacity, unit in zip(frame["name"], frame["kind"], frame.get("capacity", [None] * len(frame)), frame.get("capacity_unit", [None] * len(frame))):
                text = f"{name}\n{kinds.get(kind, kind)}"
                if capacity is not None and not pd.isna(capacity):
                    text += "\n" + t("layers.resources.capacity").format(capacity=format_number(float(capacity)), unit=unit or "")
                tooltips.append(text)
        xy = positions(frame["lon"].to_numpy(), frame["lat"].to_numpy(), options.get("crs")).tolist()
        rows = [{"p": p, "c": c.tolist(), **({"tooltip": tooltip_html(*tip.split("\n"))} if tooltips is not None else {})}
                for p, c, tip in zip(xy, colours.reshape(-1, 4), tooltips if tooltips is not None else [None] * len(xy))]
        spec = {
            "@@type": "ScatterplotLayer", "id": "resources-points", "data": rows, "getPosition": "@@=p", "getFillColor": "@@=c",
            "getRadius": self.radius_px, "radiusUnits": "pixels", "radiusMinPixels": 2, "stroked": True, "getLineColor": [10, 16, 24, 220],
            "lineWidthUnits": "pixels", "getLineWidth": 1, "pickable": True, "autoHighlight": True,
        }
        present = set(frame["kind"])
        items = tuple(LegendItem(kinds[term.code], RESOURCE_RGB[term.code], "point") for term in RESOURCE_KINDS if term.code in present or not present)
        return [rendered(spec, Legend(t(self.title_key), items))]


class SensorsLayer(MapLayer):
    """Data: ``queries.map_data.sensor_points``. Options: ``crs``, ``tooltip_limit`` (3000)."""

    name = "sensors"
    title_key = "layers.sensors.title"

    def render(self, data, *, t: Translate, **options) -> list[RenderedLayer]:
        frame = data[data["lon"].notna() & data["lat"].notna()]
        frame = frame.iloc[np.argsort([STATUS_DRAW_ORDER.get(s, 0) for s in frame["status"]], kind="stable")]
        statuses = {term.code: term_label(term, t) for term in SENSOR_STATUSES}
        kinds = {term.code: term_label(term, t) for term in SENSOR_KINDS}
        colours = np.array([rgba(SENSOR_STATUS_RGB.get(s, OTHER_RGB)) for s in frame["status"]], dtype="uint8")
        radii = np.array([SENSOR_RADIUS_PX.get(s, 3.0) for s in frame["status"]])
        tooltips = None
        if len(frame) <= int(option(options, "tooltip_limit", TOOLTIP_LIMIT)):
            names = frame["name"] if "name" in frame else frame["id"]
            tooltips = [f"{name or sensor_id}\n{kinds.get(kind, kind)} · {statuses.get(status, status)}"
                        for sensor_id, name, kind, status in zip(frame["id"], names, frame["kind"], frame["status"])]
        spec = binary_points_spec("sensors-points", frame, colours, radii, options.get("crs"), tooltips)
        items = tuple(LegendItem(statuses[term.code], SENSOR_STATUS_RGB[term.code], "point") for term in SENSOR_STATUSES)
        return [rendered(spec, Legend(t(self.title_key), items))]
