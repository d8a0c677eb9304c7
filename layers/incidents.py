"""Incidents: points by severity colour and category icon, aggregated into hexagons when zoomed out.

Payload discipline (a 200k-point ``pydeck.Deck.to_json()`` is ≈19 MB):

* below ``aggregate_below_zoom`` the points are binned on the server into H3 cells sized for the
  zoom (one JSON object per occupied cell: worst severity as colour, count as opacity);
* at or above it, only the points handed in (the caller queries the visible bbox) travel, as one
  binary IconLayer per category: float32 lon/lat (8 bytes, ≈1 m at this longitude) + RGBA colour
  (4 bytes) = 12 bytes a point, 16 once base64'd. The category is the layer's constant icon, so it
  costs nothing per point. Per-point hover texts are added only up to ``tooltip_limit`` points.
* incidents reported within ``new_within_minutes`` of ``now`` get a ring in ``incidents-new``
  that pulses through deck.gl transitions when the caller flips ``pulse_phase`` (0/1) on a timer
  and sends only that layer's data (``layerData``); deck.gl animates the radius between the two.
  Without ``pulse_phase`` the ring stands still and carries no transitions.

Picking a binary point gives its layer id and index: ``picked_incident(frame, layer_id, index)``
finds the row (the order within a category layer is the frame's order).
"""
from __future__ import annotations

import base64
import functools
from pathlib import Path
from zoneinfo import ZoneInfo

import h3
import numpy as np
import pandas as pd

from layers.base import (
    Legend,
    LegendItem,
    MapLayer,
    RenderedLayer,
    Translate,
    binary_block,
    option,
    positions,
    rendered,
    rgba,
    term_label,
    tooltip_html,
)
from layers.choropleth import h3_cells_spec
from layers.classify import class_index, quantile_breaks
from layers.palette import HEAT_RGB
from queries.vocab import (
    INCIDENT_CATEGORIES,
    INCIDENT_STATUSES,
    SEVERITIES,
    SEVERITY_RGB,
    lookup,
)

ICON_ATLAS_PATH = Path(__file__).resolve().parents[1] / "assets" / "map" / "incident-icons.svg"
ICON_CELL_PX = 64
# Column of each category's marker in the atlas (see the SVG's comment).
ICON_COLUMN = {"natural_disaster": 0, "accident": 1, "public_health": 2, "social_security": 3}
CATEGORY_CODES = tuple(ICON_COLUMN)

AGGREGATE_BELOW_ZOOM = 12.0
DEFAULT_ZOOM = 10.0
NEW_WITHIN_MINUTES = 30
TOOLTIP_LIMIT = 1500
ICON_SIZE_PX = 20
# H3 resolution per zoom when aggregating: cells a few dozen pixels across on screen.
H3_RESOLUTION_BY_ZOOM = ((8.0, 5), (9.5, 6), (11.0, 7), (99.0, 8))
CELL_ALPHA = (90, 130, 170, 205, 240)  # more incidents, more opaque
# Heat weight per severity: each level up counts twice as much.
HEAT_WEIGHT = {1: 8.0, 2: 4.0, 3: 2.0, 4: 1.0}
HEAT_RESOLUTION_BY_ZOOM = ((9.0, 7), (11.0, 8), (13.0, 9), (99.0, 10))
PULSE_RADIUS_PX = (10.0, 26.0)
PULSE_ALPHA = (230, 40)
PULSE_MS = 900
SHANGHAI = ZoneInfo("Asia/Shanghai")


@functools.cache  # a vendored file that never changes while the process runs
def icon_atlas_data_url() -> str:
    """The category marker atlas inline (no second request, no asset prefix to know)."""
    return "data:image/svg+xml;base64," + base64.b64encode(ICON_ATLAS_PATH.read_bytes()).decode("ascii")


def icon_mapping() -> dict:
    return {code: {"x": column * ICON_CELL_PX, "y": 0, "width": ICON_CELL_PX, "height": ICON_CELL_PX, "mask": True}
            for code, column in ICON_COLUMN.items()}


def severity_rgb(severity) -> tuple[int, int, int]:
    """Standard colour of a severity 1–4 (I red, II orange, III yellow, IV blue)."""
    return SEVERITY_RGB[int(severity)]


def resolution_for(zoom: float, table) -> int:
    for below, resolution in table:
        if zoom < below:
            return resolution
    return table[-1][1]


def _severity_label(severity: int, t: Translate) -> str:
    roman = ("I", "II", "III", "IV")[int(severity) - 1]
    return f"{roman} · {term_label(SEVERITIES[int(severity) - 1], t)}" if 1 <= int(severity) <= 4 else str(severity)


def _category_label(code: str, t: Translate) -> str:
    term = lookup(INCIDENT_CATEGORIES, code)
    return term_label(term, t) if term else str(code)


def _local_time(value) -> str:
    if value is None or pd.isna(value):
        return ""
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    return stamp.tz_convert(SHANGHAI).strftime("%m-%d %H:%M")


def _usable(frame: pd.DataFrame) -> pd.DataFrame:
    keep = frame["lon"].notna() & frame["lat"].notna() & frame["severity"].isin([1, 2, 3, 4])
    return frame[keep]


def picked_incident(frame: pd.DataFrame, layer_id: str, index: int) -> pd.Series | None:
    """The row of ``frame`` (as rendered) that a click on ``layer_id`` at ``index`` picked."""
    prefix = "incidents-points-"
    if not layer_id.startswith(prefix):
        return None
    rows = _usable(frame)
    rows = rows[rows["category"] == layer_id[len(prefix):]]
    return rows.iloc[index] if 0 <= index < len(rows) else None


def severity_legend(title: str, t: Translate, note: str | None, *, with_categories: bool) -> Legend:
    items = [LegendItem(_severity_label(s, t), severity_rgb(s), "point") for s in (1, 2, 3, 4)]
    if with_categories:
        items += [LegendItem(_category_label(code, t), (220, 220, 220), "icon") for code in CATEGORY_CODES]
    return Legend(title, tuple(items), note)


class IncidentsLayer(MapLayer):
    """Data: ``queries.map_data.incident_points``. Options: ``zoom``, ``aggregate_below_zoom`` (12),
    ``now`` (aware datetime: rings for new incidents), ``new_within_minutes`` (30), ``pulse_phase`` (0/1),
    ``tooltip_limit`` (1500), ``crs``."""

    name = "incidents"
    title_key = "layers.incidents.title"

    def render(self, data, *, t: Translate, **options) -> list[RenderedLayer]:
        frame = _usable(data)
        zoom = float(option(options, "zoom", DEFAULT_ZOOM))
        crs = options.get("crs")
        if zoom < float(option(options, "aggregate_below_zoom", AGGREGATE_BELOW_ZOOM)):
            return [self._cells(frame, zoom, crs, t)]
        limit = int(option(options, "tooltip_limit", TOOLTIP_LIMIT))
        layers = [self._points(frame[frame["category"] == code], code, crs, t, with_tooltips=len(frame) <= limit) for code in CATEGORY_CODES]
        legend = severity_legend(t(self.title_key), t, t("layers.incidents.note_points"), with_categories=True)
        layers[0] = rendered(layers[0].spec, legend)
        layers.append(self._rings(frame, crs, t, options))
        return layers

    def _points(self, frame: pd.DataFrame, category: str, crs, t: Translate, *, with_tooltips: bool) -> RenderedLayer:
        xy = positions(frame["lon"].to_numpy(), frame["lat"].to_numpy(), crs).astype("float32").reshape(-1, 2)
        colours = np.array([rgba(severity_rgb(s)) for s in frame["severity"]], dtype="uint8").reshape(-1, 4)
        tooltips = None
        if with_tooltips:
            category_label = _category_label(category, t)
            statuses = {term.code: term_label(term, t) for term in INCIDENT_STATUSES}
            tooltips = [
                f"{_severity_label(s, t)} · {category_label}\n{statuses.get(st, st)} · {_local_time(at)}"
                for s, st, at in zip(frame["severity"], frame["status"], frame["reported_at"])
            ]
        spec = {
            "@@type": "IconLayer", "id": f"incidents-points-{category}",
            "data": binary_block(len(frame), {"getPosition": xy, "getColor": colours}, tooltips),
            "iconAtlas": icon_atlas_data_url(), "iconMapping": icon_mapping(), "getIcon": category,
            "getSize": ICON_SIZE_PX, "sizeUnits": "pixels", "sizeMinPixels": 8, "billboard": True,
            "pickable": True, "autoHighlight": True, "highlightColor": [255, 255, 255, 120],
        }
        return rendered(spec)

    def _rings(self, frame: pd.DataFrame, crs, t: Translate, options) -> RenderedLayer:
        now = options.get("now")
        minutes = int(option(options, "new_within_minutes", NEW_WITHIN_MINUTES))
        phase = int(option(options, "pulse_phase", 0)) % 2
        rows = []
        if now is not None and len(frame):
            reported = pd.to_datetime(frame["reported_at"], utc=True)
            now = pd.Timestamp(now)
            now = now.tz_localize("UTC") if now.tzinfo is None else now
            recent = frame[(reported > now - pd.Timedelta(minutes=minutes)) & (reported <= now)]
            xy = positions(recent["lon"].to_numpy(), recent["lat"].to_numpy(), crs).tolist()
            rows = [{"p": p, "r": PULSE_RADIUS_PX[phase], "c": rgba(severity_rgb(s), PULSE_ALPHA[phase])} for p, s in zip(xy, recent["severity"])]
        spec = {
            "@@type": "ScatterplotLayer", "id": "incidents-new", "data": rows, "getPosition": "@@=p", "getRadius": "@@=r",
            "getLineColor": "@@=c", "radiusUnits": "pixels", "filled": False, "stroked": True, "lineWidthUnits": "pixels",
            "getLineWidth": 2.5, "pickable": False,
        }
        if options.get("pulse_phase") is not None:
            # Only for a caller that flips the phase: a transition redraws the whole map every
            # frame for PULSE_MS, which a map that does not pulse should not pay at each update.
            spec["transitions"] = {"getRadius": PULSE_MS, "getLineColor": PULSE_MS}
        legend = Legend(t("layers.incidents.new").format(minutes=minutes), (LegendItem(t("layers.incidents.new").format(minutes=minutes), (255, 255, 255), "point"),))
        return rendered(spec, legend)

    def _cells(self, frame: pd.DataFrame, zoom: float, crs, t: Translate) -> RenderedLayer:
        resolution = resolution_for(zoom, H3_RESOLUTION_BY_ZOOM)
        cells = pd.DataFrame({
            "h3": [h3.latlng_to_cell(la, lo, resolution) for lo, la in zip(frame["lon"].to_numpy(), frame["lat"].to_numpy())],
            "severity": frame["severity"].to_numpy(),
        })
        grouped = cells.groupby("h3", sort=True)["severity"].agg(["size", "min"]).reset_index()
        counts = grouped["size"].to_numpy(dtype="float64")
        shade = class_index(counts, quantile_breaks(counts, len(CELL_ALPHA)))
        rows = []
        for count, worst, step in zip(grouped["size"], grouped["min"], shade):
            rows.append({
                "c": rgba(severity_rgb(worst), CELL_ALPHA[max(int(step), 0)]),
                "tooltip": tooltip_html(t("layers.incidents.cell").format(count=int(count), level=_severity_label(worst, t))),
            })
        spec = h3_cells_spec("incidents-cells", grouped["h3"].tolist(), rows, crs, getFillColor="@@=c", filled=True, stroked=True,
                             getLineColor=[255, 255, 255, 50], lineWidthUnits="pixels", getLineWidth=0.5, pickable=True, autoHighlight=True)
        legend = severity_legend(t("layers.incidents.aggregated_title"), t, t("layers.incidents.aggregated_note"), with_categories=False)
        return rendered(spec, legend)


class IncidentHeatmapLayer(MapLayer):
    """Data: ``incident_points``. Severity-weighted density, binned on the server to H3 centres
    (a few thousand weighted points at most, whatever the number of incidents).
    Options: ``zoom``, ``radius_px`` (40), ``crs``."""

    name = "incident_heatmap"
    title_key = "layers.incident_heatmap.title"

    def render(self, data, *, t: Translate, **options) -> list[RenderedLayer]:
        frame = _usable(data)
        resolution = resolution_for(float(option(options, "zoom", DEFAULT_ZOOM)), HEAT_RESOLUTION_BY_ZOOM)
        weights = frame["severity"].map(HEAT_WEIGHT).to_numpy(dtype="float64")
        cells = pd.DataFrame({"h3": [h3.latlng_to_cell(la, lo, resolution) for lo, la in zip(frame["lon"].to_numpy(), frame["lat"].to_numpy())],
                              "w": weights})
        binned = cells.groupby("h3", sort=True)["w"].sum()
        centres = np.array([h3.cell_to_latlng(c) for c in binned.index]).reshape(-1, 2)
        xy = positions(centres[:, 1], centres[:, 0], options.get("crs")).tolist()
        spec = {
            "@@type": "HeatmapLayer", "id": "incident-heatmap", "data": [{"p": p, "w": float(w)} for p, w in zip(xy, binned.to_numpy())],
            "getPosition": "@@=p", "getWeight": "@@=w", "radiusPixels": float(option(options, "radius_px", 40)),
            "intensity": 1.0, "threshold": 0.05, "colorRange": [list(c) for c in HEAT_RGB], "aggregation": "SUM", "pickable": False,
        }
        items = (LegendItem(t("layers.heat.low"), HEAT_RGB[0], "fill"), LegendItem(t("layers.heat.high"), HEAT_RGB[-1], "fill"))
        return [rendered(spec, Legend(t(self.title_key), items, t("layers.heat.note")))]
