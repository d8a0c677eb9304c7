"""The wall's map panels, composed like the command view's map (``app.command.mapview``).

A wall map shows its area at a zoom fitted to the panel's size on the design canvas; the
emergency scene's map follows the incident in alarm (its district, framed on the incident and its
nearest resources). Nothing is clickable: no controller, no hover.
"""
from __future__ import annotations

import datetime as dt

from app.command import data as reads
from app.command import mapview
from app.context import current_context

# The tables each map layer reads, for the panel's freshness (datasets via dataset_tables).
LAYER_TABLES = {
    "basemap": ("areas", "road_segments"), "boundaries": ("areas",), "grid_choropleth": ("incidents",), "h3": ("incidents",),
    "incidents": ("incidents",), "incident_heatmap": ("incidents",), "traffic": ("road_speeds",), "air_stations": ("aq_readings",),
    "aqi_surface": ("aq_readings",), "resources": ("resources",), "sensors": ("sensor_status_events",), "route": ("resources", "road_speeds"),
}
MAP_WINDOW = dt.timedelta(hours=24)  # incidents of the last 24 h on a wall map
INCIDENT_PAD_DEG = 0.02  # ≈2 km around an incident when framing the emergency map


def _incident_area(incident: dict, fallback: dict) -> dict:
    for level in ("street", "district"):
        code = incident.get(f"{level}_code")
        area = reads.find_area(code) if code else None
        if area is not None:
            return area
    return fallback


def _incident_bounds(lon: float, lat: float, at: dt.datetime):
    """The incident and its nearest resources (what the route layer draws), with a margin."""
    resources = reads.nearest_resources(lon, lat, at)
    if not len(resources):
        return None
    pad = INCIDENT_PAD_DEG / 4
    return [[min(lon, resources["lon"].min()) - pad, min(lat, resources["lat"].min()) - pad],
            [max(lon, resources["lon"].max()) + pad, max(lat, resources["lat"].max()) + pad]]


def map_props(panel, ctx, previous: dict | None = None, only=None) -> tuple[dict, dt.datetime | None]:
    """``({"layers", "layerData", "initialViewState", "digests"}, data time)`` for one refresh of a map panel.

    ``previous`` holds the digests the browser already has, so unchanged layer data is not resent.
    ``only`` (a live push): render just these layers (those reading what the push changed) and
    leave the others as the browser has them; the ``layers`` prop is then None (unchanged). When
    one of them was not on the map before (empty until now), every layer is rendered.
    """
    settings = current_context().settings
    incident = ctx.emergency if getattr(panel, "follow_incident", False) and ctx.emergency and ctx.emergency.get("lon") is not None else None
    area = _incident_area(incident, ctx.area) if incident else ctx.area
    window = reads.Window(ctx.now - MAP_WINDOW, ctx.now)
    if incident:
        lon, lat = float(incident["lon"]), float(incident["lat"])
        point = {"id": incident.get("id"), "lon": lon, "lat": lat}
        bounds = _incident_bounds(lon, lat, window.at) if "route" in panel.layers or "resources" in panel.layers else None
        bounds = bounds or [[lon - INCIDENT_PAD_DEG, lat - INCIDENT_PAD_DEG], [lon + INCIDENT_PAD_DEG, lat + INCIDENT_PAD_DEG]]
    else:
        bounds = reads.area_bounds(area["code"])
        point = None
    view = view_for(bounds, ctx.panel_px, ctx.scale)
    step = mapview.Step(area, window, {}, view["zoom"], point, now=ctx.now)
    layers = [name for name in panel.layers if name != "route" or point is not None]
    if only is not None and previous:
        rendered = mapview.render_layers(layers, step, ctx.lang, settings, only=only)
        known = set(previous.get("ids") or ())
        if all(layer.id in known for layer in rendered):
            _, changes, digests = mapview.split_for_update(rendered, previous, complete=False)
            return {"layers": None, "layerData": changes, "digests": digests, "initialViewState": view}, None
    rendered = mapview.render_layers(layers, step, ctx.lang, settings)
    layers_prop, changes, digests = mapview.split_for_update(rendered, previous)
    return {"layers": layers_prop, "layerData": changes, "digests": digests, "initialViewState": view}, None


def touched_layers(panel, tables: set[str], datasets: set[str], datasets_of) -> set[str]:
    """The panel's layers that read a table or a dataset a live push named (``datasets_of``:
    tables → catalogue datasets, the wall's cached read)."""
    touched = set()
    for name in panel.layers:
        layer_tables = set(LAYER_TABLES.get(name, ()))
        if layer_tables & tables or (datasets and set(datasets_of(layer_tables)) & datasets):
            touched.add(name)
    return touched


def view_for(bounds, panel_px: tuple[int, int], scale: float = 1.0) -> dict:
    """The camera framing ``bounds`` in a panel of ``panel_px`` canvas pixels shown at ``scale``.

    Computed here rather than with deckgl-dash's ``fitBounds``, which fits to the canvas size it
    had when the prop arrived (300×150 before the first layout) and so frames far too wide.
    deck.gl moves the camera whenever ``initialViewState`` changes, so this also re-frames.
    """
    if not bounds:
        return {"longitude": 119.2, "latitude": 34.6, "zoom": 8.0, "pitch": 0, "bearing": 0}
    (west, south), (east, north) = bounds
    size = (max(1, int(panel_px[0] * scale)), max(1, int(panel_px[1] * scale)))
    zoom = round(reads.zoom_for_bounds(bounds, size=size), 2)
    return {"longitude": round((west + east) / 2, 5), "latitude": round((south + north) / 2, 5), "zoom": zoom, "pitch": 0, "bearing": 0}
