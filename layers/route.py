"""Lines from an incident to its nearest resources, labelled with distance and travel time.

Labels sit on their lines, moved along them and then off them (a pixel offset) until none
overlaps another or the incident: resources close to each other would otherwise stack their
labels at the same midpoint. Placement is computed for the view that frames the incident and its
resources on a console-sized map (``LABEL_MAP_PX``); deckgl-dash has no collision extension.
"""
from __future__ import annotations

import math

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
LABEL_MAP_PX = (1000, 700)  # the map a placement is computed for (a console's map, padding included)
LABEL_PADDING_PX = 40
LABEL_HEIGHT_PX = 18  # 12-px text with its background
LABEL_ALONG = (0.5, 0.4, 0.6, 0.3, 0.7, 0.22, 0.78, 0.85)  # where on its line a label may sit, preferred first
LABEL_ACROSS_PX = (0, -20, 20, -40, 40, -60, 60, -80, 80, -100, 100, -120, 120)  # and how far off the line
INCIDENT_CLEAR_PX = 12  # labels keep off the incident marker


def _world_px(lon: float, lat: float, zoom: float) -> tuple[float, float]:
    """Web-Mercator pixels at ``zoom`` (deck.gl's 512-px world)."""
    scale = 512 * 2 ** zoom
    y = (math.pi - math.log(math.tan(math.pi / 4 + math.radians(max(-85.0, min(85.0, lat))) / 2))) / (2 * math.pi)
    return scale * (lon + 180) / 360, scale * y


def fit_zoom(points: list[list[float]], size=LABEL_MAP_PX, padding=LABEL_PADDING_PX) -> float:
    """The zoom at which ``points`` ([lon, lat]) fill a map of ``size`` pixels."""
    xs, ys = zip(*(_world_px(lon, lat, 0) for lon, lat in points))
    width, height = max(1e-9, max(xs) - min(xs)), max(1e-9, max(ys) - min(ys))
    return max(0.0, min(20.0, math.log2((size[0] - 2 * padding) / width), math.log2((size[1] - 2 * padding) / height)))


def label_width_px(text: str) -> float:
    return 8 + sum(12 if ord(ch) >= 0x2E80 else 7 for ch in text)


def place_labels(origin: list[float], ends: list[list[float]], texts: list[str], zoom: float | None = None,
                 size=LABEL_MAP_PX) -> list[tuple[list[float], list[int]]]:
    """(position on the line, pixel offset) of each label, so that no two labels overlap and none
    covers the incident (at ``zoom``, default the zoom framing the incident and the ends). Labels
    are placed in the order given (nearest resource first); when nothing fits, the last candidate."""
    if not ends:
        return []
    zoom = fit_zoom([origin, *ends], size=size) if zoom is None else zoom
    ox, oy = _world_px(origin[0], origin[1], zoom)
    placed = [(ox - INCIDENT_CLEAR_PX, oy - INCIDENT_CLEAR_PX, ox + INCIDENT_CLEAR_PX, oy + INCIDENT_CLEAR_PX)]
    result = []
    for end, text in zip(ends, texts):
        ex, ey = _world_px(end[0], end[1], zoom)
        half_w, half_h = label_width_px(text) / 2, LABEL_HEIGHT_PX / 2
        choice = None
        for across in LABEL_ACROSS_PX:
            for along in LABEL_ALONG:
                x, y = ox + (ex - ox) * along, oy + (ey - oy) * along + across
                box = (x - half_w, y - half_h, x + half_w, y + half_h)
                choice = (along, across, box)
                if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                    break
            else:
                continue
            break
        along, across, box = choice
        placed.append(box)
        position = [round(origin[0] + (end[0] - origin[0]) * along, 6), round(origin[1] + (end[1] - origin[1]) * along, 6)]
        result.append((position, [0, across]))
    return result


def label_characters(t: Translate) -> str:
    """Every character a label can hold, so that deck.gl builds the glyph atlas once (with the
    page's layers) instead of again whenever a label brings a character it has not drawn yet —
    with CJK glyphs, a canvas per glyph and a texture upload at every incident opened."""
    words = t("layers.route.km").format(km="") + t("layers.route.m").format(m="") + t("layers.route.minutes").format(minutes="")
    return "".join(sorted(set("0123456789.,· " + words)))


def distance_label(metres: float, t: Translate) -> str:
    if metres >= 1000:
        return t("layers.route.km").format(km=f"{metres / 1000:.1f}")
    return t("layers.route.m").format(m=f"{metres:.0f}")


def minutes_label(seconds: float, t: Translate) -> str:
    return t("layers.route.minutes").format(minutes=max(1, round(seconds / 60)))


class RouteLayer(MapLayer):
    """Data: ``{"incident": {"lon": …, "lat": …}, "resources": queries.response.nearest_resources(...)}``.
    Options: ``crs``, ``map_px`` (the map's size, for placing the labels; default ``LABEL_MAP_PX``),
    ``label_zoom`` (the zoom labels are placed for; default: the view framing them on that map)."""

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
            labels.append({"text": text})
            points.append({"p": end, "c": colour, "r": 6, "tooltip": tip})
        placed = place_labels(origin, ends, [label["text"] for label in labels], options.get("label_zoom"), tuple(options.get("map_px") or LABEL_MAP_PX))
        for label, (position, offset) in zip(labels, placed):
            label.update(p=position, o=offset)
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
                "@@type": "TextLayer", "id": "route-labels", "data": labels, "getPosition": "@@=p", "getText": "@@=text", "getPixelOffset": "@@=o",
                "getSize": 12, "sizeUnits": "pixels", "getColor": [255, 255, 255, 255], "characterSet": label_characters(t), "fontFamily": CJK_FONT_FAMILY,
                "background": True, "getBackgroundColor": [0, 0, 0, 170], "backgroundPadding": [4, 2], "pickable": False,
            }),
        ]
