"""The map of one step: which data each switched-on layer gets, rendered through ``layers``.

What travels is bounded by the step: the current area and its children's shapes, points of the
current area only (aggregated into cells when zoomed out, by the incidents layer itself), unit
grids only from street level down (H3 cells above). ``split_for_update`` then sends a layer's
data only when it changed since the last step (deckgl-dash ``layerData``), and the layer specs
only when the set of layers or their styling changed.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field, replace

import pandas as pd

from app.command import data as reads
from app.i18n import t as translate

# Layers whose data depends on the time window (playback and live pushes re-render only these).
SURFACE_GRIDS_FROM_ZOOM = 11.5  # the AQI surface on unit grids from this zoom in, on H3 hexagons below it
TIME_LAYERS = ("incidents", "incident_heatmap", "traffic", "air_stations", "aqi_surface", "grid_choropleth", "h3")
LIVE_LAYERS = ("incidents", "incident_heatmap")
GRID_LEVELS = ("street", "community", "grid")  # unit grids are drawn from here down; above, H3 cells
RESOURCE_LAYERS = ("route",)


@dataclass(frozen=True)
class Step:
    """What a step draws: the area, its window, filters, zoom and the selected incident (if any)."""

    area: dict
    window: reads.Window
    filters: dict
    zoom: float
    incident: dict | None = None  # {"id", "lon", "lat"} when one is selected
    now: dt.datetime | None = None  # for the ring around new incidents (live view only)
    # The incident's nearest resources (queries.response.nearest_resources), read once per step
    # and shared by the route layer, the camera and the panel; None: read when needed.
    resources: pd.DataFrame | None = field(default=None, compare=False)
    bounds: list | None = None  # [[west, south], [east, north]] of the area, when known
    # The widest area the viewer may see (the city, or their own district): resources are drawn
    # for all of it at every step — help for an incident often comes from outside its grid.
    scope_area: str | None = None
    map_px: tuple | None = None  # (width, height) of the browser's map, when it said


def translator(lang: str):
    return lambda key: translate(key, lang)


def _shapes(step: Step, run=None):
    """The area's children (or, for a unit grid, the grids beside it) with the area itself first:
    children are drawn above it, so a click inside the area picks the child under the pointer."""
    from queries.drill import CHILD_LEVEL
    from queries.map_data import area_shapes, tolerance_for_zoom

    run = run or reads.run_query
    area = step.area
    simplify_m = tolerance_for_zoom(step.zoom)
    own = run(area_shapes, area["parent_code"], area["level"], simplify_m) if area["parent_code"] else None
    child_level = CHILD_LEVEL.get(area["level"])
    if child_level is None:  # a unit grid: its neighbours in the community, for context
        return own
    own = own[own["code"] == area["code"]] if own is not None else None
    kids = run(area_shapes, area["code"], child_level, simplify_m)
    return kids if own is None or own.empty else pd.concat([own, kids], ignore_index=True)


def layer_input(name: str, step: Step, run=None):
    """The data ``layers.get_layer(name).render`` takes for this step, or None to draw nothing.

    ``run(query, *args, **kwargs)`` reads one query (default: ``app.context.run_query``, through
    the query cache)."""
    from queries import map_data

    run = run or reads.run_query
    area_code = step.area["code"]
    window, filters = step.window, step.filters
    if name == "basemap":
        return run(map_data.land_and_roads, map_data.tolerance_for_zoom(step.zoom))
    if name == "boundaries":
        return _shapes(step, run)
    if name == "grid_choropleth":
        if step.area["level"] not in GRID_LEVELS:
            return None
        # A unit grid is coloured among its community's grids: one cell alone has no classes.
        within = step.area["parent_code"] if step.area["level"] == "grid" and step.area.get("parent_code") else area_code
        from queries.grid import grid_aggregate

        # Two entries, not one grid_values: the shapes are shared with the boundaries layer of the
        # same step and outlive every report; only the counts are read again after one.
        return map_data.grid_values_of(run(map_data.area_shapes, within, "grid", map_data.tolerance_for_zoom(step.zoom)),
                                       run(grid_aggregate, "incidents", within, start=window.start, end=window.end, **filters))
    if name == "h3":
        from queries.grid import h3_aggregate

        return run(h3_aggregate, "incidents", within=area_code, start=window.start, end=window.end, **filters)
    if name in ("incidents", "incident_heatmap"):
        return run(map_data.incident_points, area_code, window.start, window.end, **filters)
    if name == "traffic":
        return run(map_data.road_congestion_lines, area=area_code, at=window.at)
    if name == "air_stations":
        from queries.environment import station_air_quality

        return run(station_air_quality, window.at)
    if name == "aqi_surface":
        from queries.environment import station_air_quality

        # Zoomed out (a whole city on a wall or a console), H3 hexagons of ≈1 km instead of the unit grids:
        # ten thousand grid polygons of a few pixels each were ≈5 MB of JS objects per refresh, held
        # by Dash and React several times over, and a heavy draw, for a surface that is an estimate.
        use_grids = step.zoom >= SURFACE_GRIDS_FROM_ZOOM
        simplify_m = map_data.tolerance_for_zoom(step.zoom) if use_grids else 0  # hexagons: one cache entry for every zoom
        return {"stations": run(station_air_quality, window.at),
                "cells": run(map_data.surface_cells, area_code, simplify_m, use_grids=use_grids)}
    if name == "resources":
        return run(map_data.resource_points, area=step.scope_area or area_code)
    if name == "sensors":
        return run(map_data.sensor_points, area=area_code)
    if name == "route":
        if step.incident is None:
            return None
        resources = step.resources if step.resources is not None else reads.nearest_resources(step.incident["lon"], step.incident["lat"], window.at)
        return {"incident": step.incident, "resources": resources}
    return None


def layer_options(name: str, step: Step, settings) -> dict:
    from layers import tile_options

    options = {"crs": tile_options(settings)["crs"]}
    if name == "basemap":
        options.update(tile_url=getattr(settings, "tile_url", None) or None, zoom=step.zoom)
    if name == "boundaries":
        options["selected"] = step.area["code"]
    if name in ("incidents", "incident_heatmap"):
        options["zoom"] = step.zoom
    if name == "route" and step.map_px:
        options["map_px"] = tuple(step.map_px)
    if name == "incidents" and step.now is not None:
        options["now"] = step.now
    return options


def render_layers(names, step: Step, lang: str, settings, only=None) -> list:
    """RenderedLayers of the switched-on ``names`` (in the registry's drawing order), or of ``only``."""
    from layers import get_layer, layer_names

    wanted = set(names) if only is None else set(names) & set(only)
    if "route" in names or step.incident is not None:
        wanted |= {"route"} if (only is None or "route" in only) else set()
    t = translator(lang)
    grids_missing = "grid_choropleth" in wanted and not _has_grids(step.area["code"])
    if grids_missing:
        # A city that has imported boundaries but no unit grids yet: hexagons stand in, and say so.
        wanted = (wanted - {"grid_choropleth"}) | {"h3"}
    rendered = []
    for name in layer_names():
        if name not in wanted:
            continue
        data = layer_input(name, step)
        if data is None or (isinstance(data, pd.DataFrame) and data.empty and name not in ("incidents", "boundaries")):
            continue
        layers = get_layer(name).render(data, t=t, **layer_options(name, step, settings))
        if grids_missing and name == "h3":
            layers = [replace(layer, legend=replace(layer.legend, note=t("command.grids_missing"))) if layer.legend else layer for layer in layers]
        rendered += layers
    return rendered


def _has_grids(area_code: str) -> bool:
    from queries.grid import has_grids

    return reads.run_query(has_grids, area_code)


def _digest(value) -> str:
    return hashlib.blake2b(json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode(), digest_size=12).hexdigest()


def split_for_update(rendered: list, previous: dict | None, *, complete: bool = True):
    """(layers prop or None, layerData changes, digests) for a step.

    The ``layers`` prop carries every spec *without* its data and is sent only when the specs
    changed; each layer's data goes through ``layerData`` and only when it changed. With
    ``complete=False`` (a partial re-render) the layers not rendered keep their previous state.
    ``previous`` is ``{"specs": digest, "data": {layer id: digest}, "ids": [...]}``.
    """
    previous = previous or {}
    old_data = dict(previous.get("data") or {})
    specs, changes, data_digests = [], {}, {}
    for layer in rendered:
        spec = {key: value for key, value in layer.spec.items() if key != "data"}
        spec["data"] = []
        specs.append(spec)
        digest = _digest(layer.spec.get("data"))
        data_digests[layer.id] = digest
        if old_data.get(layer.id) != digest:
            changes[layer.id] = layer.spec.get("data")
    if not complete:
        merged = {**old_data, **data_digests}
        return None, changes, {"specs": previous.get("specs"), "data": merged, "ids": previous.get("ids") or []}
    specs_digest = _digest(specs)
    layers_prop = None if specs_digest == previous.get("specs") else specs
    return layers_prop, changes, {"specs": specs_digest, "data": data_digests, "ids": [layer.id for layer in rendered]}


def legend_items(rendered: list) -> list:
    return [layer.legend for layer in rendered if layer.legend is not None]


def child_at(step: Step, lon: float, lat: float) -> str | None:
    """The code of the child area containing a clicked point (a click on a cell or a road)."""
    import shapely

    shapes = _shapes(step)
    if shapes is None or shapes.empty:
        return None
    point = shapely.Point(lon, lat)
    inside = shapes[(shapes["code"] != step.area["code"]) & shapes.geometry.contains(point)]
    return None if inside.empty else str(inside["code"].iloc[0])


def picked_incident_id(step: Step, layer_id: str, index: int) -> str | None:
    """The incident a click on a binary point layer picked (rows in the order they were rendered)."""
    from layers.incidents import picked_incident

    frame = layer_input("incidents", step)
    row = picked_incident(frame, layer_id, index) if frame is not None else None
    return None if row is None else str(row["id"])
