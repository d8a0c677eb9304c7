"""One step of the command view, composed: resolve the URL state against the database, read the
step's data, render its layers and panels. Shared by the page layout (first paint) and the
callbacks (every later step), so a shared link and a clicked drill show the same thing.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from app.command import data as reads
from app.command import mapview, panels
from app.command.state import CommandState, Problem
from queries.drill import CHILD_LEVEL

PLAYBACK_STEPS = 24  # 24 h in hours, 7 d in 7-hour steps: a replay takes half a minute at 1×


@dataclass(frozen=True)
class Resolved:
    """A state checked against the database: the area (and path) it shows, the incident if any,
    and whether the incident's personal data is masked for the viewer."""

    state: CommandState
    area: dict | None
    path: list
    incident: dict | None
    masked: bool = True


def resolve(state: CommandState, viewer=None, *, strict: bool = False) -> Resolved:
    """Unknown area codes and incident ids become problems; a shared incident link opens its grid.

    Areas are limited to the viewer's (``viewer``: the request's identity unless given): an area
    outside them becomes a problem and the viewer's own area is shown; an incident outside them
    is refused — a problem in a page built from a link, ``AccessDenied`` (403) when ``strict``
    (a callback asked for it: no control of the page offers it).
    """
    from app.masking import sees_clear
    from app.security.access import current_viewer, deny, may_see_area, may_see_record

    viewer = viewer if viewer is not None else current_viewer()
    problems = list(state.problems)
    incident = None
    if state.incident:
        incident = reads.incident_view(state.incident, viewer)
        if incident is None:
            problems.append(Problem("incident", "command.problem.incident_unknown", state.incident))
            state = replace(state, incident=None)
        elif not may_see_record(viewer, incident):
            if strict:
                raise deny("the incident is outside your areas", target=f"incident/{state.incident}")
            problems.append(Problem("incident", "access.problem.incident_outside", state.incident))
            incident = None
            state = replace(state, incident=None)
    area = None
    if state.area:
        area = reads.find_area(state.area)
        if area is None:
            problems.append(Problem("area", "command.problem.area_unknown", state.area))
            state = replace(state, area=None)
        elif not may_see_area(viewer, area["code"]):
            problems.append(Problem("area", "access.problem.area_outside", state.area))
            area = None
            state = replace(state, area=None)
    if area is None and incident is not None:
        deepest = next((incident.get(f"{level}_code") for level in ("grid", "community", "street", "district") if incident.get(f"{level}_code")), None)
        area = reads.find_area(deepest) if deepest else None
        state = replace(state, area=area["code"] if area else None)
    if area is None:
        area = home_area(viewer)
    state = replace(state, problems=tuple(problems))
    path = [step for step in reads.area_path(area) if may_see_area(viewer, step["code"])] if area else []
    return Resolved(state, area, path, incident, masked=not sees_clear(viewer))


def home_area(viewer) -> dict | None:
    """Where a view starts: the city, or for a viewer limited to areas the first of them that exists."""
    if viewer is not None and viewer.areas:
        return next((area for area in (reads.find_area(code) for code in viewer.areas) if area is not None), None)
    root = reads.city_code()
    return reads.find_area(root) if root else None


def playback_cursor(window: reads.Window, index: int | None) -> dt.datetime | None:
    """The end of playback step ``index`` (0-based) of ``PLAYBACK_STEPS``, or None for live."""
    if index is None:
        return None
    span = (window.end - window.start) / PLAYBACK_STEPS
    return window.start + span * (min(index, PLAYBACK_STEPS - 1) + 1)


def pinned_now(now: dt.datetime) -> dt.datetime:
    """Now, rounded up to the minute: steps within the same minute share their cache entries, and
    the window [end − 24 h, end) still holds what was reported a second ago (a live push)."""
    floor = now.replace(second=0, microsecond=0)
    return floor if floor == now else floor + dt.timedelta(minutes=1)


def make_step(resolved: Resolved, asof: dt.datetime, cursor: dt.datetime | None = None, live: bool = True, *,
              with_resources: bool = True, map_px: tuple | None = None) -> mapview.Step:
    """The step of a resolved state; with an incident, its nearest resources are read here, once
    for the route, the camera and the panel (``with_resources=False``: not needed, e.g. a click)."""
    start, end = resolved.state.time_window(asof)
    window = reads.Window(start, cursor or end)
    bounds = reads.area_bounds(resolved.area["code"])
    zoom = reads.zoom_for_bounds(bounds) if bounds else 10.0
    incident = resources = None
    if resolved.incident is not None and resolved.incident.get("lon") is not None:
        incident = {"id": resolved.incident["id"], "lon": float(resolved.incident["lon"]), "lat": float(resolved.incident["lat"])}
        if with_resources:
            resources = reads.nearest_resources(incident["lon"], incident["lat"], window.at)
    return mapview.Step(resolved.area, window, resolved.state.filters, zoom, incident,
                        now=asof if (live and cursor is None and resolved.state.window != "custom") else None, resources=resources, bounds=bounds,
                        scope_area=resolved.path[0]["code"] if resolved.path else None, map_px=map_px)


def fit_for(step: mapview.Step, route_rendered: bool) -> dict | None:
    """fitBounds of a step: the area, or the incident and its nearest resources."""
    bounds = step.bounds if step.bounds is not None else reads.area_bounds(step.area["code"])
    if step.incident is not None:
        lon, lat = step.incident["lon"], step.incident["lat"]
        pad = 0.004  # ≈400 m around the incident when no resource widens the box
        bounds = [[lon - pad, lat - pad], [lon + pad, lat + pad]]
        if route_rendered:
            resources = step.resources if step.resources is not None else reads.nearest_resources(lon, lat, step.window.at)
            if len(resources):
                bounds = [[min(lon, resources["lon"].min()) - pad / 2, min(lat, resources["lat"].min()) - pad / 2],
                          [max(lon, resources["lon"].max()) + pad / 2, max(lat, resources["lat"].max()) + pad / 2]]
    return None if bounds is None else {"bounds": bounds, "padding": reads.FIT_PADDING_PX}


def side_panels(resolved: Resolved, step: mapview.Step, summary: dict, lang: str) -> list:
    """The lists under the KPIs: children with counts, a grid's incidents and work orders, or the incident."""
    area = resolved.area
    if resolved.incident is not None:
        resources = step.resources if step.resources is not None or not step.incident else \
            reads.nearest_resources(step.incident["lon"], step.incident["lat"], step.window.at)
        return [panels.incident_detail(resolved.incident, resources, lang, masked=resolved.masked)]
    child_level = CHILD_LEVEL.get(area["level"])
    if child_level is not None:
        counts = reads.child_counts(area["code"], step.window, step.filters)
        if len(counts):
            return [panels.children_list(counts, child_level, lang)]
    from app.security.access import current_viewer

    incidents = reads.incidents_in(area["code"], step.window, step.filters)
    orders = reads.work_orders_in(area["code"], step.window, 0, current_viewer())
    return [panels.incident_list(incidents, lang, reads.LIST_LIMIT, masked=resolved.masked),
            panels.work_order_list(orders, summary, lang, area_code=area["code"], start=step.window.start, end=step.window.end, page=0,
                                   per_page=reads.ORDERS_PER_PAGE)]


def kpi_panel(resolved: Resolved, step: mapview.Step, summary: dict, lang: str) -> list:
    scope = None
    air = summary.get("air_quality") or {}
    if air.get("scope_code") and air["scope_code"] != resolved.area["code"]:
        scope = reads.find_area(air["scope_code"])
    return panels.kpis(summary, step.window.at, lang, scope)


def window_label(step: mapview.Step, lang: str) -> str:
    from app.i18n import t

    return t("command.kpi.window", lang, range=t("command.window.range", lang, start=panels.local_time(step.window.start, lang), end=panels.local_time(step.window.end, lang)))
