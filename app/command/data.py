"""The reads of one command-view step, every cacheable query through the query cache.

Nothing here renders: it returns plain values (dicts, frames) for ``mapview`` and ``panels``.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from app.context import run_query
from app.masking import mask_personal, sees_clear
from queries.cache import cached

LIST_LIMIT = 50  # incidents listed for a unit grid: the newest; the map shows them all
ORDERS_PER_PAGE = 10  # a grid's 12345 work orders, newest call first
RESOURCES_PER_KIND = 2
EARTH_TILE_PX = 512  # deck.gl's world size at zoom 0
NOMINAL_MAP_PX = (1000, 700)  # the map's size on a console screen, for picking a zoom level
FIT_PADDING_PX = 40


def city_code() -> str | None:
    """The root of the area tree (the one area of level ``city``), or None on an empty platform."""
    from queries.areas import list_areas

    cities = run_query(list_areas, level="city")
    return None if cities.empty else str(cities["code"].iloc[0])


def find_area(code: str) -> dict | None:
    from queries.drill import UnknownArea, get_area

    try:
        return run_query(get_area, code)
    except UnknownArea:
        return None


def area_path(area: dict) -> list[dict]:
    """The area and its ancestors, city first (the breadcrumbs)."""
    from queries.drill import get_area

    path = [area]
    while path[0].get("parent_code"):
        path.insert(0, run_query(get_area, path[0]["parent_code"]))
    return path


def area_bounds(code: str) -> list[list[float]] | None:
    """``[[west, south], [east, north]]`` to frame an area (``queries.map_data.area_frame_bounds``)."""
    from queries.map_data import area_frame_bounds

    return run_query(area_frame_bounds, code)


def zoom_for_bounds(bounds, size=NOMINAL_MAP_PX, padding=FIT_PADDING_PX) -> float:
    """The web-mercator zoom at which ``bounds`` fill a map of ``size`` pixels (what fitBounds picks)."""
    (west, south), (east, north) = bounds
    width, height = (max(1, s - 2 * padding) for s in size)

    def mercator_y(lat):
        return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    span_x = max(east - west, 1e-6) / 360.0
    span_y = max(mercator_y(north) - mercator_y(south), 1e-6) / (2 * math.pi)
    return max(0.0, min(math.log2(width / (EARTH_TILE_PX * span_x)), math.log2(height / (EARTH_TILE_PX * span_y)), 20.0))


def view_for_bounds(bounds, size, padding=FIT_PADDING_PX) -> dict:
    """The camera (deck.gl view state) that frames ``bounds`` in a map of ``size`` pixels — what
    deck.gl's ``WebMercatorViewport.fitBounds`` gives — so that a step can move the camera in the
    same render as its data (one draw, not one for the data and one for the camera)."""
    (west, south), (east, north) = bounds

    def mercator_y(lat):
        return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    centre_y = (mercator_y(south) + mercator_y(north)) / 2
    latitude = math.degrees(2 * math.atan(math.exp(centre_y)) - math.pi / 2)
    zoom = zoom_for_bounds(bounds, size=size, padding=padding)
    if west == east and south == north:
        zoom = 15.0
    return {"longitude": (west + east) / 2, "latitude": latitude, "zoom": round(zoom, 4), "pitch": 0, "bearing": 0}


@dataclass(frozen=True)
class Window:
    """The time of a step: counts over [start, end); ``at`` the instant of readings (AQI, traffic)."""

    start: dt.datetime
    end: dt.datetime

    @property
    def at(self) -> dt.datetime:
        return self.end


def child_counts(area_code: str, window: Window, filters: dict):
    from queries.drill import child_counts as query

    return run_query(query, area_code, "incidents", start=window.start, end=window.end, **filters)


def summary(area_code: str, window: Window) -> dict:
    from queries.incidents import summary_from_blocks

    return summary_from_blocks(run_query, area_code, window.start, window.end, at=window.at)


def incidents_in(area_code: str, window: Window, filters: dict, limit: int = LIST_LIMIT):
    from queries.incidents import list_incidents

    return run_query(list_incidents, area_code, limit=limit, start=window.start, end=window.end, **filters)


@cached(tables=("incidents", "incident_events"))
def masked_incident_detail(conn, incident_id: str) -> dict | None:
    """``queries.incidents.incident_detail`` with personal data, masked before it is cached: what a
    viewer without ``see_personal_data`` reads (never an entry holding clear data)."""
    from queries.incidents import incident_detail

    detail = incident_detail(conn, incident_id, include_personal=True)
    return None if detail is None else mask_personal(detail, None)


def incident_view(incident_id: str, viewer=None) -> dict | None:
    """An incident's detail with its lifecycle as ``viewer`` may see it: in clear for a viewer with
    ``see_personal_data`` (cached in that viewer's scope), masked for everyone else."""
    from queries.incidents import incident_detail

    if sees_clear(viewer):
        return run_query(incident_detail, incident_id, include_personal=True, scope=viewer.cache_scope)
    scope = viewer.cache_scope if viewer is not None else "masked:none"
    return run_query(masked_incident_detail, incident_id, scope=scope)


def nearest_resources(lon: float, lat: float, at: dt.datetime):
    from queries.response import nearest_resources as query

    return run_query(query, lon, lat, per_kind=RESOURCES_PER_KIND, at=at)


@cached(tables=("work_orders", "areas"))
def masked_work_orders(conn, area_code: str, start: dt.datetime, end: dt.datetime, at: dt.datetime, limit: int, offset: int):
    """``queries.incidents.list_work_orders`` with personal data, masked before it is cached (what a
    viewer without ``see_personal_data`` reads; never an entry holding clear data)."""
    from queries.incidents import list_work_orders

    frame = list_work_orders(conn, area_code, start=start, end=end, at=at, limit=limit, offset=offset, include_personal=True)
    return _mask_rows(frame, lambda row: mask_personal(row, None))


def _mask_rows(frame, mask):
    if frame.empty:
        return frame
    import pandas as pd

    return pd.DataFrame([mask(row) for row in frame.to_dict("records")], columns=frame.columns)


def _mask_secret(row: dict) -> dict:
    """A confidential order (是否保密): its caller stays hidden whoever looks."""
    from app.masking import mask_name, mask_phone

    if row.get("is_secret"):
        row = {**row, "caller_name": mask_name(row.get("caller_name")), "caller_phone": mask_phone(row.get("caller_phone"))}
    return row


def work_orders_in(area_code: str, window: Window, page: int, viewer=None, per_page: int = ORDERS_PER_PAGE):
    """Page ``page`` (0-based) of an area's work orders in the window, as ``viewer`` may see them:
    callers, phones and addresses in clear for a viewer with ``see_personal_data`` (confidential
    orders' callers masked all the same), masked for everyone else."""
    from queries.incidents import list_work_orders

    arguments = {"start": window.start, "end": window.end, "at": window.at, "limit": per_page, "offset": max(0, page) * per_page}
    if sees_clear(viewer):
        frame = run_query(list_work_orders, area_code, include_personal=True, scope=viewer.cache_scope, **arguments)
        return _mask_rows(frame, _mask_secret)
    scope = viewer.cache_scope if viewer is not None else "masked:none"
    return run_query(masked_work_orders, area_code, arguments["start"], arguments["end"], arguments["at"], per_page, arguments["offset"], scope=scope)
