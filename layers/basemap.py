"""The basemap drawn from the city's own data (no internet needed), or a configured tile source.

Without a tile URL: a dark sea, the union of the districts as land (inland water shows as holes),
the coastline, and the road network by class. With ``tile_url`` (settings ``tile_url``, an
extranet tile server — configuration only, never a URL in code): a TileLayer whose tiles deck.gl
draws as BitmapLayers, and the other layers shift to the tiles' datum via ``crs``.
"""
from __future__ import annotations

import numpy as np
import shapely

from layers.base import (
    Legend,
    LegendItem,
    MapLayer,
    RenderedLayer,
    Translate,
    line_paths,
    option,
    polygon_rings,
    positions,
    rendered,
    rgba,
    shift_geometry,
    term_label,
)
from layers.palette import (
    COASTLINE_RGB,
    LAND_RGB,
    ROAD_DRAW_ORDER,
    ROAD_MIN_ZOOM,
    ROAD_RGB,
    ROAD_WIDTH_PX,
    SEA_RGB,
)
from queries.vocab import ROAD_CLASSES, lookup

SEA_MARGIN = 0.5  # the sea extends half the city's size beyond its bounds
TILE_SIZE_PX = 256


class BasemapLayer(MapLayer):
    """Options: ``tile_url`` (None = draw), ``crs``, ``zoom`` (hides minor roads when zoomed out)."""

    name = "basemap"
    title_key = "layers.basemap.title"

    def render(self, data, *, t: Translate, **options) -> list[RenderedLayer]:
        tile_url = options.get("tile_url")
        if tile_url:
            return [self._tiles(str(tile_url), t)]
        crs = options.get("crs")
        zoom = float(option(options, "zoom", 11))
        land_parts = np.asarray(data["land"].geometry.array, dtype=object)
        land_parts = land_parts[[g is not None for g in land_parts]]
        land_wgs84 = shapely.union_all(land_parts) if len(land_parts) else shapely.Polygon()
        land = shift_geometry(np.array([land_wgs84], dtype=object), crs)[0]
        roads = data["roads"]
        legend_items = [LegendItem(t("layers.basemap.sea"), SEA_RGB, "fill"), LegendItem(t("layers.basemap.land"), LAND_RGB, "fill"),
                        LegendItem(t("layers.basemap.coastline"), COASTLINE_RGB, "line")]
        legend_items += [LegendItem(_road_label(code, t), ROAD_RGB[code], "line") for code in reversed(ROAD_DRAW_ORDER) if (roads["road_class"] == code).any()]
        legend = Legend(t(self.title_key), tuple(legend_items), t("layers.basemap.note"))
        return [
            rendered(self._sea(land_wgs84, crs), legend),
            rendered({
                "@@type": "PolygonLayer", "id": "basemap-land", "data": [{"polygon": rings} for rings in polygon_rings(land)],
                "getPolygon": "@@=polygon", "filled": True, "stroked": False, "getFillColor": rgba(LAND_RGB), "pickable": False,
            }),
            rendered({
                "@@type": "PathLayer", "id": "basemap-coastline", "data": [{"path": p} for p in line_paths(land.boundary) if len(p) > 1],
                "getPath": "@@=path", "getColor": rgba(COASTLINE_RGB, 200), "widthUnits": "pixels", "getWidth": 1.2, "pickable": False,
            }),
            rendered(self._roads(roads, zoom, crs)),
        ]

    def _tiles(self, tile_url: str, t: Translate) -> RenderedLayer:
        # deckgl-dash gives a TileLayer BitmapLayer sub-layers by itself when the URL template
        # names a raster tile ({z}/{x}/{y}….png|jpg|webp): no function needs to travel as JSON.
        spec = {"@@type": "TileLayer", "id": "basemap-tiles", "data": tile_url, "minZoom": 0, "maxZoom": 18, "tileSize": TILE_SIZE_PX, "pickable": False}
        return rendered(spec, Legend(t(self.title_key), (), t("layers.basemap.tiles_note")))

    def _sea(self, land, crs) -> dict:
        if land.is_empty:
            polygon = []
        else:
            minx, miny, maxx, maxy = land.bounds
            dx, dy = (maxx - minx) * SEA_MARGIN + 0.05, (maxy - miny) * SEA_MARGIN + 0.05
            polygon = positions([minx - dx, maxx + dx, maxx + dx, minx - dx], [miny - dy, miny - dy, maxy + dy, maxy + dy], crs).tolist()
        return {
            "@@type": "SolidPolygonLayer", "id": "basemap-sea", "data": [{"polygon": polygon}] if polygon else [],
            "getPolygon": "@@=polygon", "getFillColor": rgba(SEA_RGB), "pickable": False,
        }

    def _roads(self, roads, zoom: float, crs) -> dict:
        rows = []
        geometries = shift_geometry(np.asarray(roads.geometry.array, dtype=object), crs)
        classes = roads["road_class"].to_numpy()
        for code in ROAD_DRAW_ORDER:  # small roads first: big ones draw over them
            if zoom < ROAD_MIN_ZOOM.get(code, 0):
                continue
            colour, width = rgba(ROAD_RGB[code]), ROAD_WIDTH_PX[code]
            for geometry in geometries[classes == code]:
                rows += [{"path": path, "c": colour, "w": width} for path in line_paths(geometry) if len(path) > 1]
        return {
            "@@type": "PathLayer", "id": "basemap-roads", "data": rows, "getPath": "@@=path", "getColor": "@@=c",
            "getWidth": "@@=w", "widthUnits": "pixels", "capRounded": True, "jointRounded": True, "pickable": False,
        }


def _road_label(code: str, t: Translate) -> str:
    term = lookup(ROAD_CLASSES, code)
    return term_label(term, t) if term else code
