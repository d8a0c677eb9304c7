"""Lines from an incident to its nearest resources, labelled with distance and travel time."""
from __future__ import annotations

import pandas as pd

from layers.base import (
    CJK_FONT_FAMILY,
    Legend,
    LegendItem,
    MapLayer,
    RenderedLayer,
    Translate,
    positions,
    rendered,
    rgba,
    term_label,
    tooltip_html,
)
from layers.palette import RESOURCE_RGB
from queries.vocab import RESOURCE_KINDS

INCIDENT_RGB = (255, 255, 255)
OTHER_RGB = (200, 200, 200)


def distance_label(metres: float, t: Translate) -> str:
    if metres >= 1000:
        return t("layers.route.km").format(km=f"{metres / 1000:.1f}")
    return t("layers.route.m").format(m=f"{metres:.0f}")


def minutes_label(seconds: float, t: Translate) -> str:
    return t("layers.route.minutes").format(minutes=max(1, round(seconds / 60)))


class RouteLayer(MapLayer):
    """Data: ``{"incident": {"lon": …, "lat": …}, "resources": queries.response.nearest_resources(...)}``.
    Options: ``crs``."""

    name = "route"
    title_key = "layers.route.title"

    def render(self, data, *, t: Translate, **options) -> list[RenderedLayer]:
        crs = options.get("crs")
        incident = data["incident"]
        resources: pd.DataFrame = data["resources"]
        resources = resources[resources["lon"].notna() & resources["lat"].notna()]
        kinds = {term.code: term_label(term, t) for term in RESOURCE_KINDS}
        origin = positions([incident["lon"]], [incident["lat"]], crs)[0].tolist()
        ends = positions(resources["lon"].to_numpy(), resources["lat"].to_numpy(), crs).tolist()
        lines, labels, points = [], [], [{"p": origin, "c": rgba(INCIDENT_RGB), "r": 8, "tooltip": tooltip_html(t("layers.route.incident"))}]
        for end, name, kind, metres, seconds, method in zip(ends, resources["name"], resources["kind"], resources["distance_m"],
                                                             resources["travel_s"], resources["method"]):
            colour = rgba(RESOURCE_RGB.get(kind, OTHER_RGB))
            text = f"{distance_label(float(metres), t)} · {minutes_label(float(seconds), t)}"
            tip = tooltip_html(name, kinds.get(kind, kind), text, t(f"layers.route.method.{method}"))
            lines.append({"s": origin, "e": end, "c": colour, "tooltip": tip})
            labels.append({"p": [(origin[0] + end[0]) / 2, (origin[1] + end[1]) / 2], "text": text})
            points.append({"p": end, "c": colour, "r": 6, "tooltip": tip})
        present = list(dict.fromkeys(resources["kind"]))
        legend = Legend(t(self.title_key), (LegendItem(t("layers.route.incident"), INCIDENT_RGB, "point"),
                                            *(LegendItem(kinds.get(k, k), RESOURCE_RGB.get(k, OTHER_RGB), "line") for k in present)),
                        t("layers.route.note"))
        return [
            rendered({
                "@@type": "LineLayer", "id": "route-lines", "data": lines, "getSourcePosition": "@@=s", "getTargetPosition": "@@=e",
                "getColor": "@@=c", "getWidth": 3, "widthUnits": "pixels", "pickable": True, "autoHighlight": True,
            }, legend),
            rendered({
                "@@type": "ScatterplotLayer", "id": "route-ends", "data": points, "getPosition": "@@=p", "getFillColor": "@@=c",
                "getRadius": "@@=r", "radiusUnits": "pixels", "stroked": True, "getLineColor": [0, 0, 0, 220], "lineWidthUnits": "pixels",
                "getLineWidth": 1.5, "pickable": True,
            }),
            rendered({
                "@@type": "TextLayer", "id": "route-labels", "data": labels, "getPosition": "@@=p", "getText": "@@=text",
                "getSize": 12, "sizeUnits": "pixels", "getColor": [255, 255, 255, 255], "characterSet": "auto", "fontFamily": CJK_FONT_FAMILY,
                "background": True, "getBackgroundColor": [0, 0, 0, 170], "backgroundPadding": [4, 2], "pickable": False,
            }),
        ]
