"""Road segments coloured by congestion band (交通拥堵指数), wider for bigger roads."""
from __future__ import annotations

import numpy as np
import pandas as pd

from layers.base import (
    Legend,
    LegendItem,
    MapLayer,
    RenderedLayer,
    Translate,
    format_number,
    line_paths,
    rendered,
    rgba,
    shift_geometry,
    term_label,
    tooltip_html,
)
from layers.palette import CONGESTION_RGB, NO_DATA_RGB, TRAFFIC_WIDTH_PX
from queries.vocab import CONGESTION_BANDS, ROAD_CLASSES

BAND_ORDER = {term.code: rank for rank, (_low, _high, term) in enumerate(CONGESTION_BANDS)}


class TrafficLayer(MapLayer):
    """Data: ``queries.map_data.road_congestion_lines``. Options: ``crs``."""

    name = "traffic"
    title_key = "layers.traffic.title"

    def render(self, data, *, t: Translate, **options) -> list[RenderedLayer]:
        bands = {term.code: term_label(term, t) for _low, _high, term in CONGESTION_BANDS}
        classes = {term.code: term_label(term, t) for term in ROAD_CLASSES}
        # Worst last: a jammed segment is drawn over its free-flowing neighbours.
        order = np.argsort([BAND_ORDER.get(b, -1) if isinstance(b, str) else -1 for b in data["band"]], kind="stable")
        frame = data.iloc[order]
        geometries = shift_geometry(np.asarray(frame.geometry.array, dtype=object), options.get("crs"))
        rows = []
        for geometry, name, road_class, band, index, speed in zip(
            geometries, frame["name"], frame["road_class"], frame["band"], frame["congestion_index"], frame["speed_kmh"]
        ):
            known = isinstance(band, str)
            colour = rgba(CONGESTION_RGB[band] if known else NO_DATA_RGB, 235 if known else 140)
            lines = [name if isinstance(name, str) and name else classes.get(road_class, road_class),
                     bands[band] if known else t("layers.traffic.no_data")]
            if index is not None and not pd.isna(index):
                lines.append(t("layers.traffic.index").format(index=format_number(float(index))))
            if speed is not None and not pd.isna(speed):
                lines.append(t("layers.traffic.speed").format(speed=format_number(float(speed))))
            tip = tooltip_html(*lines)
            width = TRAFFIC_WIDTH_PX.get(road_class, 2.0)
            rows += [{"path": path, "c": colour, "w": width, "tooltip": tip} for path in line_paths(geometry) if len(path) > 1]
        spec = {
            "@@type": "PathLayer", "id": "traffic-segments", "data": rows, "getPath": "@@=path", "getColor": "@@=c", "getWidth": "@@=w",
            "widthUnits": "pixels", "widthMinPixels": 1, "capRounded": True, "jointRounded": True, "pickable": True, "autoHighlight": True,
        }
        items = [LegendItem(bands[term.code], CONGESTION_RGB[term.code], "line") for _low, _high, term in CONGESTION_BANDS]
        items.append(LegendItem(t("layers.traffic.no_data"), NO_DATA_RGB, "line"))
        return [rendered(spec, Legend(t(self.title_key), tuple(items), t("layers.traffic.note")))]

