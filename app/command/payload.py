"""What the command map sends to the browser at each step, built once per layer and state.

A drill step shows the same layers as the step before with other data, and most of a step's
layers are the same as a minute ago or on another commander's screen. So:

* **One deck, built once.** The page's ``layers`` prop holds a *skeleton*: every deck layer id
  the switched-on layers can produce at any step (the incident cells *and* points, the unit-grid
  choropleth, the route, …), each with empty data. deck.gl creates each layer and compiles its
  shaders when the page opens, not at the first step that needs it (a shader compile costs
  tens of milliseconds on a GPU and seconds under software WebGL), and never destroys and
  re-creates layers between steps. The prop is resent only when the layer set changes.
* **Data by layer, only when it changed.** Each layer's data goes through ``layerData``
  (deckgl-dash merges it into the skeleton by id) and only when its digest differs from what
  the browser has; a layer the step does not draw gets ``[]``.
* **Rendered once per layer and inputs.** A layer's rendering is a cached call
  (``queries.cache``: shared by every worker through Redis, keyed on the versions of the
  datasets it reads, one computation for concurrent misses) whose value is the layer's spec,
  its data as JSON text, the digest of that text and its legend. A hit costs a key and the
  decoding of a few strings; the data text is parsed only when it must travel. The queries a
  miss needs go through the same cache on the miss's connection.

The route (incident → nearest resources) is rendered per step from the resources the step
has already read (``Step.resources``): a dozen rows, and never a second routing.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

import pandas as pd

from app.command import mapview
from queries.cache import DEFAULT_SCOPE, cached

EMPTY = "[]"  # the data text of a layer the step does not draw
_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)  # a "now" that makes the incidents layer include its ring layer


@dataclass(frozen=True)
class Entry:
    """One deck layer as it travels: spec without data (JSON text), data (JSON text) and its digest."""

    id: str
    spec: str
    data: str
    digest: str
    legend: dict | None = None  # layers.Legend as a dict (title, items: [label, rgb, shape], note)


def _text(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def digest_of(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()


EMPTY_DIGEST = digest_of(EMPTY)


def _legend_dict(legend) -> dict | None:
    if legend is None:
        return None
    return {"title": legend.title, "items": [[item.label, list(item.rgb[:3]), item.shape] for item in legend.items], "note": legend.note}


def legend_of(entry: Entry):
    """The ``layers.Legend`` of an entry (or None)."""
    from layers import Legend, LegendItem

    if entry.legend is None:
        return None
    items = tuple(LegendItem(label, tuple(rgb), shape) for label, rgb, shape in entry.legend["items"])
    return Legend(entry.legend["title"], items, entry.legend.get("note"))


def entries_of(rendered) -> list[Entry]:
    """Entries of ``layers`` RenderedLayers (spec split from its data, both as text)."""
    entries = []
    for layer in rendered:
        spec = {key: value for key, value in layer.spec.items() if key != "data"}
        data = _text(layer.spec.get("data", []))
        entries.append(Entry(layer.id, _text(spec), data, digest_of(data), _legend_dict(layer.legend)))
    return entries


def _document(entries: list[Entry]) -> dict:
    return {"entries": [{"id": e.id, "spec": e.spec, "data": e.data, "digest": e.digest, "legend": e.legend} for e in entries]}


def _from_document(document: dict) -> list[Entry]:
    return [Entry(e["id"], e["spec"], e["data"], e["digest"], e.get("legend")) for e in document["entries"]]


# --- the cached rendering of one layer ------------------------------------------------------------


def _render(conn, name: str, area: dict, start, end, at, filters: dict, zoom: float, lang: str, crs: str, tile_url: str | None,
            now) -> dict:
    """The entries of layer ``name`` for these inputs (a cache miss: queries through the cache on ``conn``)."""
    from dataclasses import replace

    from app.command.data import Window
    from app.context import current_context
    from layers import get_layer
    from queries.grid import has_grids

    cache = current_context().cache

    def run(query, *args, **kwargs):
        if hasattr(query, "__cache_spec__"):
            return cache.call(conn, query, *args, scope=DEFAULT_SCOPE, **kwargs)
        return query(conn, *args, **kwargs)

    area = area or {"code": None, "level": None, "parent_code": None}
    step = mapview.Step(area, Window(start, end), filters, zoom, None, now=now)
    step_at = step if at == end else replace(step, window=_AtWindow(start, end, at))
    t = mapview.translator(lang)
    note = None
    if name == "grid_choropleth" and not has_grids(conn, area["code"]):
        name, note = "h3", t("command.grids_missing")  # boundaries imported, unit grids not yet: hexagons, and say so
    data = mapview.layer_input(name, step_at, run)
    if data is None or (isinstance(data, pd.DataFrame) and data.empty and name not in ("incidents", "boundaries")):
        return {"entries": []}
    options = mapview.layer_options(name, step, _Settings(crs, tile_url))
    rendered = get_layer(name).render(data, t=t, **options)
    if note is not None:
        rendered = [replace(layer, legend=replace(layer.legend, note=note)) if layer.legend else layer for layer in rendered]
    return _document(entries_of(rendered))


@dataclass(frozen=True)
class _AtWindow:
    """A window whose readings instant (``at``) is not its end (playback reads AQI/traffic at the cursor)."""

    start: object
    end: object
    at: object


@dataclass(frozen=True)
class _Settings:
    tile_crs: str
    tile_url: str | None


# One cached function per set of tables a layer reads: an entry is invalidated by exactly the
# datasets its queries read (a road-speed feed does not drop the boundaries).
@cached(tables=("areas", "road_segments"))
def basemap_entries(conn, name, area, start, end, at, filters, zoom, lang, crs, tile_url, now):
    return _render(conn, name, area, start, end, at, filters, zoom, lang, crs, tile_url, now)


@cached(tables=("areas",))
def boundary_entries(conn, name, area, start, end, at, filters, zoom, lang, crs, tile_url, now):
    return _render(conn, name, area, start, end, at, filters, zoom, lang, crs, tile_url, now)


@cached(tables=("incidents", "work_orders", "sensors", "areas"), area="area")  # a grid: its community, same district
def grid_entries(conn, name, area, start, end, at, filters, zoom, lang, crs, tile_url, now):
    return _render(conn, name, area, start, end, at, filters, zoom, lang, crs, tile_url, now)


@cached(tables=("incidents", "areas"), area="area")
def incident_entries(conn, name, area, start, end, at, filters, zoom, lang, crs, tile_url, now):
    return _render(conn, name, area, start, end, at, filters, zoom, lang, crs, tile_url, now)


@cached(tables=("road_segments", "road_speeds", "areas"))
def traffic_entries(conn, name, area, start, end, at, filters, zoom, lang, crs, tile_url, now):
    return _render(conn, name, area, start, end, at, filters, zoom, lang, crs, tile_url, now)


@cached(tables=("aq_readings", "sensors", "areas"))
def air_entries(conn, name, area, start, end, at, filters, zoom, lang, crs, tile_url, now):
    return _render(conn, name, area, start, end, at, filters, zoom, lang, crs, tile_url, now)


@cached(tables=("resources", "areas"))
def resource_entries(conn, name, area, start, end, at, filters, zoom, lang, crs, tile_url, now):
    return _render(conn, name, area, start, end, at, filters, zoom, lang, crs, tile_url, now)


@cached(tables=("sensors", "areas"))
def sensor_entries(conn, name, area, start, end, at, filters, zoom, lang, crs, tile_url, now):
    return _render(conn, name, area, start, end, at, filters, zoom, lang, crs, tile_url, now)


def _renderer(name: str):
    return {
        "basemap": basemap_entries, "boundaries": boundary_entries, "grid_choropleth": grid_entries, "h3": grid_entries,
        "incidents": incident_entries, "incident_heatmap": incident_entries, "traffic": traffic_entries,
        "air_stations": air_entries, "aqi_surface": air_entries, "resources": resource_entries, "sensors": sensor_entries,
    }[name]


# Which inputs change a layer's rendering: the others are left out of its cache key.
_TIME_BOUND = {"grid_choropleth", "h3", "incidents", "incident_heatmap"}
_AT_BOUND = {"traffic", "air_stations", "aqi_surface"}
_AREA_FREE = {"basemap", "air_stations"}
_ZOOM_BOUND = {"basemap", "boundaries", "grid_choropleth", "incidents", "incident_heatmap", "aqi_surface"}


def layer_entries(name: str, step: mapview.Step, lang: str, settings) -> list[Entry]:
    """The entries of one switched-on layer at ``step`` (through the cache; the route per step)."""
    from app.context import run_query

    if name == "route":
        if step.incident is None:
            return []
        from layers import get_layer

        data = mapview.layer_input("route", step)
        return entries_of(get_layer("route").render(data, t=mapview.translator(lang), **mapview.layer_options("route", step, settings)))
    area = {key: step.area.get(key) for key in ("code", "level", "parent_code")}
    if name == "resources" and step.scope_area:
        area = {"code": step.scope_area, "level": None, "parent_code": None}  # the same at every step of the drill
    timed = name in _TIME_BOUND
    return _from_document(run_query(
        _renderer(name), name, None if name in _AREA_FREE else area,
        step.window.start if timed else None, step.window.end if timed else None,
        step.window.at if (timed or name in _AT_BOUND) else None,
        step.filters if timed else {}, round(step.zoom, 2) if name in _ZOOM_BOUND else None, lang,
        settings.tile_crs, (getattr(settings, "tile_url", None) or None) if name == "basemap" else None,
        step.now if name == "incidents" else None,
    ))


def step_entries(names, step: mapview.Step, lang: str, settings, only=None) -> list[Entry]:
    """Entries of the switched-on ``names`` (or of ``only`` among them) in drawing order; the route
    whenever an incident is selected."""
    from layers import layer_names

    wanted = set(names) if only is None else set(names) & set(only)
    if step.incident is not None and (only is None or "route" in only):
        wanted.add("route")
    entries = []
    for name in layer_names():
        if name in wanted:
            entries += layer_entries(name, step, lang, settings)
    return entries


# --- the skeleton: every deck layer a page can show, with empty data --------------------------------


def _empty_input(name: str):
    """Inputs without rows, shaped like each layer's query result."""
    import geopandas as gpd

    def frame(*columns):
        return pd.DataFrame({column: [] for column in columns})

    def shapes(*columns):
        return gpd.GeoDataFrame({column: [] for column in columns}, geometry=gpd.GeoSeries([], crs="EPSG:4326"))

    points = ("id", "lon", "lat", "severity", "category", "status", "reported_at")
    return {
        "basemap": lambda: {"land": shapes(), "roads": shapes("road_class")},
        "boundaries": lambda: shapes("code", "name", "name_en", "level", "label_lon", "label_lat"),
        "grid_choropleth": lambda: shapes("code", "name", "name_en", "count"),
        "h3": lambda: frame("h3", "count"),
        "aqi_surface": lambda: {"stations": frame("lon", "lat", "name", "aqi"), "cells": shapes("code", "lon", "lat")},
        "traffic": lambda: shapes("name", "road_class", "band", "congestion_index", "speed_kmh"),
        "incident_heatmap": lambda: frame(*points),
        "incidents": lambda: frame(*points),
        "resources": lambda: frame("id", "kind", "name", "lon", "lat", "capacity", "capacity_unit"),
        "sensors": lambda: frame("id", "kind", "name", "lon", "lat", "status"),
        "air_stations": lambda: frame("lon", "lat", "name", "aqi", "primary_pollutant", "primary_pollutant_en"),
        "route": lambda: {"incident": {"lon": 0.0, "lat": 0.0}, "resources": frame("lon", "lat", "name", "kind", "distance_m", "travel_s", "method")},
    }[name]()


def skeleton(names, lang: str, settings, *, with_route: bool = True) -> list[Entry]:
    """Every deck layer the switched-on ``names`` can draw at some step — and the route — in
    drawing order, with empty data. The unit-grid choropleth brings its H3 stand-in, the incidents
    both their cells (zoomed out) and their points (zoomed in). Built once per layer set and
    language (a cached call: it reads nothing, but costs a few dozen milliseconds)."""
    from app.context import run_query

    wanted = sorted(set(names) | ({"route"} if with_route else set()))
    return _from_document(run_query(skeleton_entries, wanted, lang, settings.tile_crs, getattr(settings, "tile_url", None) or None))


@cached(tables=("areas",))  # reads no table: "areas" only because a cached call must name one
def skeleton_entries(conn, names: list[str], lang: str, crs: str, tile_url: str | None) -> dict:
    return _document(build_skeleton(names, lang, crs, tile_url))


def build_skeleton(names, lang: str, crs: str, tile_url: str | None) -> list[Entry]:
    """``skeleton`` uncached."""
    from layers import get_layer, layer_names
    from layers.incidents import AGGREGATE_BELOW_ZOOM

    wanted = set(names)
    if "grid_choropleth" in wanted:
        wanted.add("h3")
    t = mapview.translator(lang)
    entries, seen = [], set()
    for name in layer_names():
        if name not in wanted:
            continue
        options = {"crs": crs}
        if name == "basemap":
            options["tile_url"] = tile_url
        variants = [{"zoom": AGGREGATE_BELOW_ZOOM - 1}, {"zoom": AGGREGATE_BELOW_ZOOM + 1, "now": _EPOCH}] if name == "incidents" else [{}]
        for variant in variants:
            for entry in entries_of(get_layer(name).render(_empty_input(name), t=t, **options, **variant)):
                if entry.id not in seen:
                    seen.add(entry.id)
                    entries.append(Entry(entry.id, entry.spec, EMPTY, EMPTY_DIGEST, None))
        if name == "route":
            entries += warm_up_entries(get_layer(name).render(_route_warm_up_input(), t=t, **options))
    return entries


def _route_warm_up_input() -> dict:
    """One resource at the incident, at 0°, 0°: the route's layers drawn once with a row each."""
    return {"incident": {"lon": 0.0, "lat": 0.0},
            "resources": pd.DataFrame({"lon": [0.0], "lat": [0.0], "name": [""], "kind": [""], "distance_m": [0.0],
                                       "travel_s": [60.0], "method": ["straight_line"]})}


WARM_UP_SUFFIX = "~warm-up"


def warm_up_entries(rendered) -> list[Entry]:
    """Invisible twins of ``rendered`` layers (opacity 0, not pickable, one row each) for the skeleton.

    A WebGL driver compiles a shader program at its first *draw*, not when the layer is created,
    and an empty layer issues no draw: the route's line, end-point and labelled-text programs were
    compiled at the first incident opened — ≈2 s under software WebGL, inside that click. deck.gl
    shares one program between layers of the same type and props, so a twin drawn from the page's
    first frame compiles it then. The twin's data travels in the ``layers`` prop only (its digest
    stays ``EMPTY_DIGEST``: no step ever sends it data)."""
    twins = []
    for entry in entries_of(rendered):
        spec = {**json.loads(entry.spec), "id": entry.id + WARM_UP_SUFFIX, "opacity": 0, "pickable": False,
                "autoHighlight": False, "data": json.loads(entry.data)[:1]}
        twins.append(Entry(spec["id"], _text(spec), EMPTY, EMPTY_DIGEST, None))
    return twins


def split(entries: list[Entry], frame: list[Entry], previous: dict | None, *, complete: bool = True):
    """(``layers`` prop or None, ``layerData`` changes, digests) of a step.

    ``frame`` is the page's skeleton: its specs (a rendered layer's own spec where it differs)
    make the ``layers`` prop, sent only when they changed; every layer's data is compared with
    what the browser has (``previous``: ``{"specs", "data": {id: digest}, "ids"}``) and sent
    through ``layerData`` when it differs — ``[]`` for a layer the step does not draw. With
    ``complete=False`` (playback, live) only the layers of ``frame`` (the skeleton of the layers
    re-rendered) are compared; the others stay as they are.
    """
    previous = previous or {}
    old = dict(previous.get("data") or {})
    rendered = {entry.id: entry for entry in entries}
    base = {entry.id: entry for entry in frame}
    ids = [entry.id for entry in frame] + [entry.id for entry in entries if entry.id not in base]
    if not complete:
        changes, digests = {}, {}
        for layer_id in ids:
            entry = rendered.get(layer_id)
            digests[layer_id] = entry.digest if entry is not None else EMPTY_DIGEST
            if old.get(layer_id, EMPTY_DIGEST) != digests[layer_id]:
                changes[layer_id] = json.loads(entry.data) if entry is not None else []
        return None, changes, {"specs": previous.get("specs"), "data": {**old, **digests}, "ids": previous.get("ids") or ids}
    specs = [(rendered.get(layer_id) or base[layer_id]).spec for layer_id in ids]
    specs_digest = digest_of("\n".join(specs))
    layers_prop = None
    if specs_digest != previous.get("specs"):
        layers_prop = [{"data": [], **json.loads(text)} for text in specs]  # only a warm-up twin's spec holds data
    changes, digests = {}, {}
    for layer_id in ids:
        entry = rendered.get(layer_id)
        digest = entry.digest if entry is not None else EMPTY_DIGEST
        digests[layer_id] = digest
        if old.get(layer_id, EMPTY_DIGEST) != digest:  # a layer the browser never had data for has []
            changes[layer_id] = json.loads(entry.data) if entry is not None else []
    return layers_prop, changes, {"specs": specs_digest, "data": digests, "ids": ids}
