"""Map layers: one small class per layer type, registered by name, rendering deck.gl layer JSON.

Use::

    from layers import get_layer, render_deck, deck_tooltip
    rendered = get_layer("incidents").render(frame, t=lambda key: i18n.t(key, lang), zoom=13, crs=settings.tile_crs)
    DeckGL(layers=render_deck(rendered), tooltip=deck_tooltip(), ...)

Each ``render(data, *, t, **options)`` returns ``RenderedLayer``\\ s (stable deck id, spec, legend,
payload bytes); ``t`` is the caller's translator (legend and tooltip texts are keys of
app/i18n.py — layers never import app). Every layer takes ``crs`` (the tile basemap's datum,
``tile_options(settings)``); see each class for its own options.

Why deckgl-dash 0.11.0 for the map (checked in the installed wheel, not in its README):

* **Offline.** deck.gl 9.3 (core, layers, geo-layers, aggregation-layers) is bundled in
  ``deckgl_dash/deckgl_dash.min.js`` (3.2 MB) and served by Dash from the app itself; no CDN.
  MapLibre is optional and unused unless a ``maplibreConfig`` is passed — we draw the basemap from
  the city's own data (``basemap``) and use a TileLayer only when ``CITYOPS_TILE_URL`` is set.
* **Binary transport.** A layer's ``data`` may be ``{"@@binary": {length, attributes, buffer}}``
  (base64 of aligned typed arrays) that the JS turns into deck.gl's native binary attributes —
  no JSON tokenising of 100k objects; incidents go at 12 bytes a point (16 base64'd).
* **Partial updates.** ``layerData`` replaces one layer's data without resending the others
  (the pulsing ring of new incidents, a live incident layer); ``layerOrder`` reorders.
* **Callbacks.** ``clickInfo`` / ``hoverInfo`` / ``viewState`` come back to Dash callbacks (drill
  down on click, re-query the visible bbox on zoom); ``tooltip`` takes per-layer HTML templates,
  and binary layers carry their own per-point ``tooltips``; ``fitBounds``; ``timeFilter`` for the
  24-h playback on the GPU.
* The JS understands pydeck-style JSON: ``@@type`` layer dicts and ``@@=`` accessors (a property
  path such as ``@@=c``; expressions with operators become ``new Function("d", …)`` — we use
  paths only, which also keeps accessors off binary layers whose rows do not exist).

Alternatives rejected: dash-deck 0.0.1 (no release since 2020, deck.gl 8.2, basemaps through
Mapbox only — a token service, impossible offline); dash-deckgl 0.9 (oceanum; its README passes
the whole ``pydeck.Deck.to_json()`` string as ``spec``, so every update resends every layer as
JSON — exactly the 19 MB-for-200k-points problem — with no binary data or per-layer updates).
pydeck alone renders HTML for notebooks; we use it only as the payload baseline (``layers.payload``).

Hosts named inside the bundle (grep of deckgl_dash.min.js): loaders.gl's default worker URLs
(unpkg.com/@loaders.gl), the draco decoders (gstatic.com, raw.githubusercontent.com) and two
debug tools (unpkg webgl-debug, jsdelivr spectorjs). They are fetched only to parse formats we
never load (3D tiles, draco meshes, compressed textures, MVT in workers) or in luma.gl debug
mode; our layers pass inline data, an inline SVG icon atlas and at most the configured tile URL,
and the page's browser tests fail on any request to another host.
No URL of a tile service appears in this code: a tile URL is configuration only.
"""
from __future__ import annotations

from layers.air import AirStationsLayer, AqiSurfaceLayer
from layers.base import Legend, LegendItem, MapLayer, RenderedLayer, shift_to
from layers.basemap import BasemapLayer
from layers.boundaries import BoundariesLayer
from layers.choropleth import GridChoroplethLayer, H3Layer
from layers.incidents import IncidentHeatmapLayer, IncidentsLayer
from layers.points import ResourcesLayer, SensorsLayer
from layers.route import RouteLayer
from layers.traffic import TrafficLayer

__all__ = [
    "LAYER_CLASSES", "Legend", "LegendItem", "MapLayer", "RenderedLayer", "deck_tooltip", "get_layer", "layer_names",
    "render_deck", "shift_to", "tile_options",
]

# The registry: a constant tuple of classes, in the usual drawing order (bottom to top).
LAYER_CLASSES: tuple[type[MapLayer], ...] = (
    BasemapLayer, BoundariesLayer, GridChoroplethLayer, H3Layer, AqiSurfaceLayer, TrafficLayer, IncidentHeatmapLayer,
    ResourcesLayer, SensorsLayer, AirStationsLayer, IncidentsLayer, RouteLayer,
)


def layer_names() -> tuple[str, ...]:
    return tuple(cls.name for cls in LAYER_CLASSES)


def get_layer(name: str) -> MapLayer:
    """A layer object by registry name; KeyError listing the known names otherwise."""
    for cls in LAYER_CLASSES:
        if cls.name == name:
            return cls()
    raise KeyError(f"unknown map layer {name!r}; known layers: {', '.join(layer_names())}")


def render_deck(rendered: list[RenderedLayer]) -> list[dict]:
    """The DeckGL ``layers`` prop, in drawing order (first drawn first); ids must be unique."""
    seen: set[str] = set()
    specs = []
    for layer in rendered:
        if layer.id in seen:
            raise ValueError(f"two rendered layers share the deck id {layer.id!r}")
        seen.add(layer.id)
        specs.append(layer.spec)
    return specs


def deck_tooltip() -> dict:
    """The DeckGL ``tooltip`` prop matching our layers: JSON objects carry an escaped ``tooltip``
    field; binary layers bring their own texts."""
    return {
        "html": "{tooltip}",
        "style": {"backgroundColor": "rgba(10, 16, 24, 0.92)", "color": "#e6edf3", "fontSize": "13px", "padding": "6px 8px",
                  "borderRadius": "4px", "whiteSpace": "pre-line", "maxWidth": "320px"},
    }


def tile_options(settings) -> dict:
    """``tile_url`` and ``crs`` options from the settings (pass them to every render)."""
    return {"tile_url": settings.tile_url or None, "crs": settings.tile_crs}
