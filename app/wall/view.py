"""The wall's layout and one refresh step.

The layout holds every scene of the spec (the carousel's and the emergency one) stacked on one
stage; the browser shows one at a time and cross-fades (assets/wall.js), so a scene change never
reloads anything. A refresh step (``refresh``) runs on each beat (every ``TICK_MS``), on live
events (coalesced by the browser: at most one refresh in flight, a live-triggered one at most
every ``LIVE_COALESCE_MS``) and when the shown scene changes. It rebuilds only panels of the
scene on screen (and the emergency scene while there is one), and only those whose interval
passed, whose data a live event touched or whose screen size changed. The next scene is filled
once, so that it never appears empty, and otherwise refreshed only when it is about to show
(the browser says ``soon`` ``PREROLL_S`` before the switch); what live events touched in it
meanwhile is remembered (``dirty``) and rebuilt then. A push thus costs the panels on screen,
not the next scene's maps. A panel whose query fails keeps its last content and is marked stale
with the time of the data it still shows.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

import deckgl_dash
from dash import dcc, html, no_update

from app.command.panels import local_time
from app.context import current_context, run_query
from app.i18n import t
from app.masking import mask_text
from app.security.access import current_viewer, may_see_area, may_see_record
from app.wall.panels import Built, PanelContext, as_utc, collect_stale_reads, get_panel
from queries.cache import DatabaseUnavailable, database_unavailable, error_text

log = logging.getLogger(__name__)

TICK_MS = 5000  # the beat: due panels are rebuilt, the alarm banner's minutes move on
LIVE_COALESCE_MS = 2000  # live events refresh at most this often (leading and trailing edge)
PREROLL_S = 10  # the next scene refreshes this long before it shows
IN_FLIGHT_MAX_MS = 30_000  # a refresh without an answer this long no longer holds the next one back
FRESHNESS_ORDER = {"fresh": 0, "unknown": 1, "late": 2, "stale": 3}


@dataclass(frozen=True)
class LoadedWall:
    spec: object  # queries.specs.model.WallSpec
    version: int | None
    source: str  # database | file
    area: dict


def panel_key(scene_id: str, panel_id: str) -> str:
    return f"{scene_id}/{panel_id}"


def load_wall(wall_id: str) -> LoadedWall:
    """The wall's live spec (published version, else the shipped file) and its area.

    Raises ``queries.specs.store.UnknownWall``; with the database unreachable, the shipped file.
    """
    from queries.specs.store import UnknownWall
    from queries.wall import area_or_root

    context = current_context()
    viewer = current_viewer()
    try:
        with context.read_engine.connect() as conn:
            effective = _effective_wall(conn, wall_id, context.settings)
            area = area_or_root(conn, effective.spec.area)
            if not may_see_area(viewer, area["code"]):  # a district's staff see their district
                area = next((own for own in (_known_area(conn, code) for code in viewer.areas) if own is not None), area)
        return LoadedWall(effective.spec, effective.version, effective.source, area)
    except UnknownWall:
        raise
    except Exception as exc:  # the database is away: show the shipped scenes, panels will say stale
        _log_failure("wall %s: database unreachable, using the shipped spec", wall_id, exc=exc)
        shipped = _shipped_walls(context.settings)
        if wall_id not in shipped:
            raise UnknownWall(wall_id) from None
        spec = shipped[wall_id]
        code = spec.area or ""
        if not may_see_area(viewer, code):
            code = viewer.areas[0]
        # "fallback": not what the database says, only what can be shown without it (never re-laid out to).
        return LoadedWall(spec, None, "fallback", {"code": code, "level": "city", "name": "", "name_en": None, "parent_code": None})


SHIPPED_KEY = "cityops.wall.shipped"  # on the Flask app: (the files' stamp, their specs)


def _shipped_walls(settings) -> dict:
    """``queries.specs.files.shipped_walls``, parsed again only when a file of the folder changed
    (name, size, modification time): every refresh of every wall asks, and parsing and checking
    the YAML took half of a live refresh. Kept on the app, not in the module."""
    import flask

    from queries.specs.files import SHIPPED_FOLDERS, default_specs_dir, shipped_walls

    folder = default_specs_dir(settings) / SHIPPED_FOLDERS["wall"]
    try:
        stamp = tuple(sorted((entry.name, entry.stat().st_mtime_ns, entry.stat().st_size) for entry in folder.iterdir() if entry.is_file()))
    except OSError:
        return shipped_walls(settings)  # no folder (or unreadable): as it says
    held = flask.current_app.extensions.get(SHIPPED_KEY)
    if held is not None and held[0] == stamp:
        return held[1]
    specs = shipped_walls(settings)
    flask.current_app.extensions[SHIPPED_KEY] = (stamp, specs)
    return specs


def _effective_wall(conn, wall_id: str, settings):
    """``queries.specs.store.effective_wall`` with the shipped files from ``_shipped_walls``."""
    from queries.specs.store import EffectiveSpec, effective_wall, published_spec

    if published_spec(conn, "wall", wall_id) is None:
        shipped = _shipped_walls(settings)
        if wall_id in shipped:
            return EffectiveSpec(shipped[wall_id], None, "file")
    return effective_wall(conn, wall_id, settings)  # the published version, or UnknownWall with the known ids


def _known_area(conn, code: str) -> dict | None:
    from queries.drill import UnknownArea, get_area

    try:
        return get_area(conn, code)
    except UnknownArea:
        return None


def for_viewer(incident: dict | None, viewer) -> dict | None:
    """The emergency incident as ``viewer`` may see it: None when it lies outside their areas, its
    title with phone and ID numbers masked unless they see personal data."""
    if incident is None or not may_see_record(viewer, incident):
        return None
    return {**incident, "title": mask_text(incident.get("title"), viewer)}


def _log_failure(message: str, *args, exc: BaseException) -> None:
    """A read of the wall that failed: with its traceback when it is a bug, on one debug line when
    the database is away (every open wall would log it on every tick; the query cache and the
    live watcher already say once that the database is unavailable)."""
    if database_unavailable(exc) or isinstance(exc, DatabaseUnavailable):
        log.debug(message + ": %s", *args, error_text(exc))
    else:
        log.warning(message, *args, exc_info=exc)


# --- layout -----------------------------------------------------------------------------------


def _placement(panel) -> dict:
    at = panel.at
    return {"gridColumn": f"{at.col} / span {at.col_span}", "gridRow": f"{at.row} / span {at.row_span}"}


def _initial_view(wall: LoadedWall, panel) -> dict:
    """The map's first camera: the wall's area framed for the panel at the design size (the first
    refresh re-frames it for the screen's real scale)."""
    from app.command import data as reads
    from app.wall.maps import view_for

    try:
        bounds = reads.area_bounds(wall.area["code"]) if wall.area.get("code") else None
    except Exception:
        bounds = None
    return view_for(bounds, _panel_px(wall.spec, panel))


def _panel_box(wall: LoadedWall, scene, panel, lang: str) -> html.Div:
    key = panel_key(scene.id, panel.id)
    kind = get_panel(panel.type)
    if panel.type == "map":
        body = deckgl_dash.DeckGL(id={"type": "wall-map", "key": key}, layers=[], layer_data={}, controller=False,
                                  initial_view_state=_initial_view(wall, panel),
                                  style={"width": "100%", "height": "100%", "position": "absolute", "inset": "0"})
        body = html.Div(body, className="wall-panel-body wall-map")
    else:
        body = html.Div(html.Div(t("wall.loading", lang), className="wall-empty"), id={"type": "wall-body", "key": key}, className="wall-panel-body")
    title = kind.title(panel, lang)
    head = html.Div(html.Span(title, className="wall-panel-title"), className="wall-panel-head") if title else None
    foot = html.Div(id={"type": "wall-meta", "key": key}, className="wall-meta")
    return html.Div([head, body, foot], id={"type": "wall-panel", "key": key}, className=f"wall-panel wall-panel--{panel.type}",
                    style=_placement(panel), **{"data-panel": key, "data-type": panel.type})


def _scene(wall: LoadedWall, scene, lang: str, *, active: bool, emergency: bool) -> html.Section:
    classes = "wall-scene" + (" is-active" if active else "") + (" wall-scene--emergency" if emergency else "")
    return html.Section(
        html.Div([_panel_box(wall, scene, panel, lang) for panel in scene.panels], className="wall-grid"),
        id=f"wall-scene-{scene.id}", className=classes, **{"data-scene": scene.id, "aria-label": scene.title.get(lang) if scene.title else scene.id},
    )


def wall_layout(wall_id: str, lang: str):
    from queries.specs.store import UnknownWall

    try:
        wall = load_wall(wall_id)
    except UnknownWall as exc:
        known = html.P(t("wall.unknown.known", lang, walls=t("wall.meta.separator", lang).join(exc.known)), className="muted") if exc.known else None
        return html.Div([html.H1(t("wall.unknown.title", lang)), html.P(t("wall.unknown.body", lang, wall=wall_id)), known],
                        className="wall-unknown", id="wall-unknown")
    return html.Div(wall_root(wall, lang), id="wall-page")


def wall_root(wall: LoadedWall, lang: str) -> html.Div:
    """Everything inside ``#wall-page``: rebuilt in place when a new version of the spec goes live."""
    spec = wall.spec
    scenes = spec.scenes
    config = {
        "wall": spec.id, "version": wall.version, "source": wall.source, "lang": lang, "area": wall.area["code"],
        "scenes": [{"id": s.id, "dwell": s.dwell, "title": s.title.get(lang) if s.title else ""} for s in scenes],
        "emergency": spec.emergency.id if spec.emergency else None,
        "canvas": [spec.canvas.width, spec.canvas.height],
        "timing": {"tick_ms": TICK_MS, "coalesce_ms": LIVE_COALESCE_MS, "preroll_s": PREROLL_S, "in_flight_max_ms": IN_FLIGHT_MAX_MS},
    }
    style = {"--canvas-w": spec.canvas.width, "--canvas-h": spec.canvas.height, "--cols": spec.grid.columns, "--rows": spec.grid.rows, "--gap": spec.grid.gap}
    first = scenes[0].id
    return html.Div([
        dcc.Store(id="wall-config", data=config),
        dcc.Store(id="wall-active", data={"scene": first, "next": scenes[1].id if len(scenes) > 1 else first, "soon": False}),
        dcc.Store(id="wall-emergency", data=None),
        dcc.Store(id="wall-panels", data={}),
        dcc.Store(id="wall-viewport", data=None),
        # Set by assets/wall.js only (the refresh's triggers, one refresh in flight at a time):
        # the beat's count, and the live-events store as of the last live-triggered refresh.
        dcc.Store(id="wall-beat", data=0),
        dcc.Store(id="wall-live", data=None),
        html.Div(
            [_scene(wall, scene, lang, active=scene.id == first, emergency=False) for scene in scenes]
            + ([_scene(wall, spec.emergency, lang, active=False, emergency=True)] if spec.emergency else []),
            className="wall-stage",
        ),
        html.Div([
            html.Span(spec.title.get(lang), className="wall-name"),
            html.Span(config["scenes"][0]["title"], id="wall-scene-title", className="wall-scene-title"),
            html.Span(className="wall-dots", id="wall-dots", **{"aria-hidden": "true"}),
            html.Span(id="wall-clock", className="wall-clock"),
        ], className="wall-bar"),
        html.Div(id="wall-alarm", className="wall-alarm", role="alert"),
        html.Div([html.Span(className="wall-link-dot"), html.Span(t("wall.link.degraded", lang), className="wall-link-label")],
                 id="wall-link", className="wall-link", role="status", **{"aria-live": "polite"}),
    ], id="wall-root", className="wall", style=style,
        **{"data-wall": spec.id, "data-max-dpr": str(spec.max_device_pixel_ratio), "data-lang": lang, "data-source": wall.source})


# --- a refresh step ---------------------------------------------------------------------------


def _panel_px(spec, panel, screen: tuple[float, float] | None = None) -> tuple[int, int]:
    """The panel's size in canvas pixels: on the design canvas, or on this screen's canvas
    (``screen`` = the viewport in canvas units, wider or taller than the design when the aspect
    ratio differs: the grid stretches, so charts and maps are drawn for the stretched box)."""
    width, height = screen or (spec.canvas.width, spec.canvas.height)
    grid = spec.grid
    return (int(width * panel.at.col_span / grid.columns), int(height * panel.at.row_span / grid.rows))


def _screen_canvas(viewport: dict | None) -> tuple[float, float] | None:
    try:
        u, w, h = float(viewport["u"]), float(viewport["w"]), float(viewport["h"])
    except (TypeError, KeyError, ValueError):
        return None
    if not (0.05 <= u <= 20 and 100 <= w <= 20000 and 100 <= h <= 20000):  # a browser's report, not trusted blindly
        return None
    return (w / u, h / u)


def _event_touches(events: list[dict]) -> tuple[set[str], set[str]]:
    """(tables, datasets) named by live events: incidents for incident events, the dataset of a data-version bump."""
    tables, datasets = set(), set()
    for event in events:
        kind = event.get("type", "")
        if kind.startswith("incident."):
            tables.add("incidents")
        elif kind == "alarm":
            tables.add("sensor_status_events")
        elif kind == "data_version":
            code = (event.get("payload") or {}).get("dataset_code")
            if code:
                datasets.add(code)
    return tables, datasets


def new_events(live: dict | None, seen_seq: int | None) -> list[dict]:
    """The events of the live store the wall has not handled yet (the store keeps the newest 50)."""
    if not live or live.get("seq") is None or live.get("seq") == seen_seq:
        return []
    recent = live.get("recent") or []
    count = len(recent) if seen_seq is None else max(0, min(len(recent), live["seq"] - seen_seq))
    return recent[:count]


def current_emergency(wall_id: str, now: dt.datetime):
    """The incident in alarm for this wall, or None; raises when the database is away."""
    from queries.emergency import active_emergency

    context = current_context()
    window = dt.timedelta(minutes=context.settings.wall_emergency_minutes)
    viewer = current_viewer()
    with context.engine.connect() as conn:
        # A viewer limited to areas gets the best emergency within them: one elsewhere must not hide theirs.
        return active_emergency(conn, wall_id, now, window, areas=viewer.areas if viewer is not None else None)


def _json_emergency(incident: dict | None) -> dict | None:
    if incident is None:
        return None
    return {key: (value.isoformat() if isinstance(value, dt.datetime) else value) for key, value in incident.items()}


def _freshness_by_dataset(now: dt.datetime) -> dict:
    from queries.freshness import dataset_freshness

    frame = run_query(dataset_freshness, None)
    return {r.code: {"state": r.freshness, "name": r.name, "name_en": r.name_en, "last": r.last_update_at} for r in frame.itertuples(index=False)}


def _meta(datasets: list[str], data_time, freshness: dict, lang: str, *, lost: bool) -> tuple[list, str, dt.datetime | None]:
    """The freshness line of a panel, its state (fresh / late / stale / lost) and the data time
    it shows: the panel's own, else the newest update of the datasets it read (a map's)."""
    known = [freshness[code] for code in datasets if code in freshness]
    state = max((entry["state"] for entry in known), key=lambda s: FRESHNESS_ORDER.get(s, 0), default="unknown")
    if data_time is None and known:
        data_time = max((entry["last"] for entry in known if entry["last"] is not None), default=None)
    names = [(entry["name_en"] or entry["name"]) if lang == "en" else entry["name"] for entry in known[:2]]
    parts = [html.Span(t("wall.meta.time", lang, time=local_time(data_time, lang)), className="wall-meta-time")]
    if names:
        parts.append(html.Span(t("wall.meta.source", lang, source=t("wall.meta.separator", lang).join(names)), className="wall-meta-source"))
    if lost:
        parts.append(html.Span(t("wall.meta.lost", lang), className="wall-meta-state is-lost"))
        return parts, "lost", data_time
    if state in ("late", "stale"):
        parts.append(html.Span(t(f"freshness.{state}", lang), className=f"wall-meta-state is-{state}"))
    return parts, state, data_time


def refresh(*, config: dict, active: dict | None, viewport: dict | None, live: dict | None, state: dict | None,
            emergency: dict | None, outputs: dict, triggers: set[str], now_epoch: float | None = None) -> dict:
    """One refresh step. ``outputs`` maps each pattern output type to its keys in DOM order.

    Returns the new values per output: ``{"body": {key: ...}, "meta": …, "panel": …, "map": …,
    "state": …, "emergency": …, "alarm": …, "link": …}``, each value ``no_update`` when unchanged.
    """
    from queries.specs.store import UnknownWall

    now_epoch = now_epoch or time.time()
    # The end of every window: the next whole minute, so an incident pushed this minute is counted
    # while calls within the same minute still share their cache entries.
    now = dt.datetime.fromtimestamp(now_epoch, dt.timezone.utc).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    lang = config["lang"]
    state = dict(state or {})
    panels_state = dict(state.get("panels") or {})
    failures = 0

    # The emergency first: it decides which scene is visible.
    new_emergency = emergency
    try:
        found = _json_emergency(for_viewer(current_emergency(config["wall"], dt.datetime.now(dt.timezone.utc)), current_viewer()))
        new_emergency = found if config.get("emergency") else None
    except Exception as exc:
        failures += 1
        _log_failure("wall %s: emergency check failed", config["wall"], exc=exc)
    emergency_changed = (new_emergency or {}).get("id") != (emergency or {}).get("id")

    try:
        wall = load_wall(config["wall"])
    except UnknownWall:
        return {"state": no_update}
    if wall.source != "fallback" and (wall.version, wall.source) != (config.get("version"), config.get("source")):
        # A new version was published (or the published one withdrawn): lay the wall out again, in place.
        return {"respec": wall_root(wall, lang)}
    spec = wall.spec
    area = wall.area
    active = active or {}
    # On screen: the shown scene, the emergency scene while there is one, and the next scene once
    # it is about to show. The next scene otherwise only gets its first fill.
    shown = {active.get("scene")}
    upcoming = active.get("next")
    if active.get("soon"):
        shown.add(upcoming)
    if new_emergency and spec.emergency:
        shown.add(spec.emergency.id)
    events = new_events(live, state.get("live_seq"))
    touched_tables, touched_datasets = _event_touches(events)
    screen = _screen_canvas(viewport)
    scale = float(viewport["u"]) if screen else 1.0
    screen_key = [scale, *(round(v) for v in screen)] if screen else [scale]

    try:
        freshness = _freshness_by_dataset(now)
    except Exception:
        failures += 1
        freshness = {}

    results: dict[str, dict] = {name: {} for name in ("body", "meta", "panel", "map")}
    for scene in spec.all_scenes():
        on_screen = scene.id in shown
        if not on_screen and scene.id != upcoming and not events:
            continue  # neither shown nor next, and nothing to remember for it
        is_emergency = spec.emergency is not None and scene.id == spec.emergency.id
        scene_datasets = None  # read when a panel of the scene is built (the footer lists them)
        for panel in scene.panels:
            key = panel_key(scene.id, panel.id)
            kind = get_panel(panel.type)
            previous = panels_state.get(key) or {}
            built_before = bool(previous.get("built"))
            touched = (
                bool(touched_datasets & set(previous.get("datasets") or ()))
                or bool(touched_tables & set(kind.tables))
                or bool(panel.type == "map" and touched_tables & {"incidents"} and any(name.startswith("incident") for name in panel.layers))
            )
            if not on_screen and (built_before or scene.id != upcoming):
                # Not on screen: what a live event changed in it is rebuilt when it is about to show.
                if touched and built_before and not previous.get("dirty"):
                    panels_state[key] = {**previous, "dirty": True}
                continue
            interval = panel.refresh or kind.refresh_s
            whole = (  # rebuilt from scratch
                not built_before
                or now_epoch - previous.get("at", 0) >= interval
                or (not previous.get("ok", True))
                or bool(previous.get("dirty"))
                or (panel.type in ("map", "trend") and previous.get("screen") != screen_key)
                or (is_emergency and emergency_changed)
            )
            if not whole and not touched:
                continue
            # A map touched by a push redraws only the layers that read what changed.
            only = kind.touched_layers(panel, touched_tables, touched_datasets) if panel.type == "map" and not whole else None
            if scene_datasets is None:
                scene_datasets = _scene_datasets(scene)
            panel_area = area if panel.area is None else _area(panel.area) or area
            if not may_see_area(current_viewer(), panel_area["code"]):
                panel_area = area  # a panel fixed on another district shows the viewer's own area
            ctx = PanelContext(area=panel_area, lang=lang, now=now, scale=scale, emergency=new_emergency,
                               scene_datasets=tuple(scene_datasets), panel_px=_panel_px(spec, panel, screen))
            try:
                with collect_stale_reads(f"wall:{config['wall']}/{key}") as stale_reads:
                    built: Built = kind.build(panel, ctx, previous.get("digests"), only) if panel.type == "map" else kind.build(panel, ctx)
                # Answered from the last-good copy: shown, but marked as a lost link (and retried next tick).
                ok = not stale_reads
                failures += 0 if ok else 1
            except Exception as exc:
                failures += 1
                if not database_unavailable(exc) and not isinstance(exc, DatabaseUnavailable):
                    log.warning("wall %s: panel %s failed", config["wall"], key, exc_info=True)
                built, ok = None, False
            data_time = as_utc(previous.get("data_time")) if built is None else built.data_time
            datasets = list(previous.get("datasets") or []) if built is None else list(built.datasets)
            if built is not None:
                if panel.type == "map":
                    view = built.content.get("initialViewState")
                    # Re-frame only when the framing changed (an emergency elsewhere, a new screen size).
                    built.content["initialViewState"] = None if view == previous.get("view") else view
                    results["map"][key] = built.content
                else:
                    results["body"][key] = built.content
            # The time shown is kept: with the database away the footer's freshness is not there to
            # derive a map's time from again, and the panel still shows the data of that time.
            meta, meta_state, data_time = _meta(datasets, data_time, freshness, lang, lost=not ok)
            results["meta"][key] = meta
            results["panel"][key] = f"wall-panel wall-panel--{panel.type}" + ("" if meta_state in ("fresh", "unknown") else f" is-{meta_state}")
            # A partial redraw (``only``) does not restart the interval: the whole map is still redrawn on time.
            entry = {"built": built_before or built is not None, "at": now_epoch if ok and only is None else previous.get("at", 0), "ok": ok,
                     "data_time": data_time.isoformat() if data_time else None, "datasets": datasets}
            if built is None and previous.get("dirty"):
                entry["dirty"] = True  # still to be rebuilt once the data answers
            if panel.type in ("map", "trend"):
                entry["screen"] = screen_key if built is not None else previous.get("screen")
            if panel.type == "map":
                entry["digests"] = built.content["digests"] if built is not None else previous.get("digests")
                entry["view"] = (built.content.get("initialViewState") or previous.get("view")) if built is not None else previous.get("view")
            panels_state[key] = entry

    state.update(panels=panels_state, live_seq=(live or {}).get("seq"), scale=scale, screen=screen_key, failures=failures)
    alarm = no_update
    if emergency_changed or "wall-beat" in triggers:
        alarm = _alarm_banner(new_emergency, lang, now) if new_emergency else []
    return {
        "body": results["body"], "meta": results["meta"], "panel": results["panel"], "map": results["map"],
        "state": state,
        "emergency": new_emergency if emergency_changed else no_update,
        "alarm": alarm,
        "link": "wall-link is-degraded" if failures or not _services_ok() else "wall-link",
    }


def _services_ok() -> bool:
    """Database and Redis both answer (a cheap, cached probe: see app.context.service_health)."""
    from app.context import service_health

    return service_health().ok


def _scene_datasets(scene) -> list[str]:
    """Every dataset the scene's panels read (the freshness footer lists these); empty when the
    database is away (the footer then keeps what it showed)."""
    codes: set[str] = set()
    for panel in scene.panels:
        if panel.type == "freshness":
            continue
        try:
            codes.update(get_panel(panel.type).datasets(panel))
        except Exception:
            return []
    return sorted(codes)


def _area(code: str) -> dict | None:
    from app.command.data import find_area

    return find_area(code)


def _alarm_banner(incident: dict, lang: str, now: dt.datetime) -> list:
    from app.command.panels import SEVERITY_NUMERALS

    reported = as_utc(incident.get("reported_at"))
    minutes = None if reported is None else max(0, int((now - reported).total_seconds() // 60))
    place = incident.get("district_name_en" if lang == "en" else "district_name") or incident.get("district_name") or ""
    return [
        html.Span(t("wall.emergency.banner", lang), className="wall-alarm-label"),
        html.Span(t("wall.emergency.level", lang, level=SEVERITY_NUMERALS.get(int(incident["severity"]), "?")), className="wall-alarm-level"),
        html.Span(incident.get("title") or "", className="wall-alarm-title"),
        html.Span(place, className="wall-alarm-place"),
        html.Span(t("wall.emergency.minutes", lang, minutes=minutes) if minutes is not None else "", className="wall-alarm-elapsed"),
    ]
