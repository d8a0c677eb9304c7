"""Command console (/command): drill from the city to one incident on a map, with KPIs that follow.

State lives in the URL (``app.command.state``) and in the ``command-state`` store that mirrors it:
every interaction changes the store, a clientside callback pushes the new URL into the history
(without Dash's router re-rendering the page), and ``assets/command.js`` hands back/forward to
``command-url-restore`` so they are steps too. One render callback turns a state (or a playback
tick, or a live push) into partial map updates: layer specs only when they change, each layer's
data through ``layerData`` only when it changes.

Playback: a dcc.Interval steps a cursor over the window (24 steps); at each step the time-bound
layers get data up to the cursor and the KPIs are recomputed for it, both from the server, so map
and numbers always agree and every step is a cacheable query (cursors fall on fixed steps).
deckgl-dash's GPU ``timeFilter`` would animate points more smoothly but leave the KPIs, the grid
choropleth and the lists behind, or cost a KPI round trip per frame anyway.
"""
from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl

import dash
import deckgl_dash  # the component library must be registered before the first request
from dash import (
    ALL,
    Input,
    Output,
    State,
    callback,
    clientside_callback,
    ctx,
    dcc,
    html,
    no_update,
)

from app.command import LIVE_SLACK_MS
from app.command.state import CommandState
from app.context import current_context, current_lang
from app.i18n import CATALOGUE, t

dash.register_page(__name__, path="/command", name=t("page.command"), name_en=t("page.command", "en"), order=10,
                   title=lambda **_: t("app.window_title"))

SPEEDS = (1, 2, 4)
TICK_MS = 1200  # one playback step at 1×
MAP_ID = "command-map"


def known_layers() -> tuple[str, ...]:
    from layers import layer_names

    return layer_names()


def layer_label(name: str, lang: str) -> str:
    from layers import get_layer

    key = get_layer(name).title_key
    return t(key, lang) if key in CATALOGUE else name


# --- composing a step -----------------------------------------------------------------------


def compose(resolved, asof, *, previous=None, cursor=None, only=None, lang="zh", map_px=None):
    """Everything one step shows; ``only`` limits the map to those layers (playback, live).

    The map goes out as ``app.command.payload`` builds it: the page's skeleton of layers (sent
    when the layer set changes), then per layer only the data the browser does not have yet."""
    from app.command import payload, view

    settings = current_context().settings
    step = view.make_step(resolved, asof, cursor, map_px=map_px)
    names = resolved.state.layers
    entries = payload.step_entries(names, step, lang, settings, only=only)
    if only is None:
        frame = payload.skeleton(names, lang, settings)
    else:  # the layers re-rendered: those of them that draw nothing now are emptied
        frame = payload.skeleton(set(names) & set(only), lang, settings, with_route=False)
    layers_prop, changes, digests = payload.split(entries, frame, previous, complete=only is None)
    summary = view.reads.summary(resolved.area["code"], step.window)
    return {
        "step": step,
        "layers": layers_prop,
        "layer_data": changes,
        "digests": digests,
        "legend": None if only is not None else [payload.legend_of(entry) for entry in entries if entry.legend is not None],
        "kpis": view.kpi_panel(resolved, step, summary, lang),
        "window_label": view.window_label(step, lang),
        "summary": summary,
        "route": any(entry.id.startswith("route") for entry in entries),
    }


def render_token(resolved, index) -> str:
    return f"{resolved.area['code'] if resolved.area else '-'}|{resolved.state.incident or '-'}|{'live' if index is None else index}"


# --- layout ---------------------------------------------------------------------------------


def controls(state, lang: str) -> html.Aside:
    from app.command.state import beijing_text
    from queries.vocab import CHANNELS, INCIDENT_CATEGORIES, INCIDENT_STATUSES

    def term_options(terms):
        return [{"label": term.en if lang == "en" else term.zh, "value": term.code} for term in terms]

    window_options = [{"label": t(f"command.window.{w}", lang), "value": w} for w in ("24h", "7d", "custom")]

    return html.Aside([
        html.H2(t("command.controls.layers", lang), className="section-title"),
        dcc.Checklist(id="command-layers", options=[{"label": layer_label(n, lang), "value": n} for n in known_layers()], value=list(state.layers),
                      className="command-checklist", inputClassName="command-check-input", labelClassName="command-check"),
        html.H2(t("command.controls.window", lang), className="section-title"),
        dcc.RadioItems(id="command-window", options=window_options, value=state.window, className="command-segmented",
                       inputClassName="command-segment-input", labelClassName="command-segment"),
        html.Div([
            html.Label([t("command.window.from", lang), dcc.Input(id="command-from", type="datetime-local", value=beijing_text(state.start) if state.start else None, className="command-input", debounce=True)]),
            html.Label([t("command.window.to", lang), dcc.Input(id="command-to", type="datetime-local", value=beijing_text(state.end) if state.end else None, className="command-input", debounce=True)]),
            html.Button(t("command.window.apply", lang), id="command-window-apply", className="command-button", n_clicks=0),
        ], className="command-custom-window"),
        html.H2(t("command.filters.title", lang), className="section-title"),
        html.Label(t("command.filters.severity", lang), className="command-field-label"),
        dcc.Checklist(id="command-severity", options=[{"label": n, "value": str(i)} for i, n in ((1, "I"), (2, "II"), (3, "III"), (4, "IV"))],
                      value=[str(s) for s in state.severity], className="command-severity", inputClassName="command-check-input", labelClassName="command-severity-option"),
        *[html.Div([html.Label(t(f"command.filters.{name}", lang), className="command-field-label", htmlFor=f"command-{name}"),
                    dcc.Dropdown(id=f"command-{name}", options=term_options(terms), value=list(getattr(state, name)), multi=True,
                                 placeholder=t("command.filters.any", lang), className="command-dropdown", searchable=False)])
          for name, terms in (("category", INCIDENT_CATEGORIES), ("status", INCIDENT_STATUSES), ("channel", CHANNELS))],
    ], className="command-controls panel", **{"aria-label": t("command.controls.label", lang)})


def playback_bar(lang: str) -> html.Div:
    return html.Div([
        html.Span(t("command.playback.title", lang), className="playback-title"),
        html.Button(t("command.playback.play", lang), id="command-play", className="command-button command-button--play", n_clicks=0, **{"data-playing": "false"}),
        dcc.RadioItems(id="command-speed", options=[{"label": f"{s}×", "value": s} for s in SPEEDS], value=1, className="command-segmented command-speed",
                       inputClassName="command-segment-input", labelClassName="command-segment"),
        html.Span(t("command.playback.live", lang), id="command-cursor", className="playback-cursor"),
        dcc.Interval(id="command-player", interval=TICK_MS, disabled=True),
    ], className="command-playback")


def error_page(lang: str, message: str):
    return html.Div(html.Section([html.H1(t("command.title", lang)), html.P(message, className="muted")], className="panel panel--empty"), className="page page-command")


def url_values(query: dict) -> dict[str, str]:
    """URL parameters as single strings: a repeated parameter (``?area=1&area=2``) counts once, its last value."""
    return {str(key): value if isinstance(value, str) else (str(value[-1]) if isinstance(value, list) and value else "")
            for key, value in query.items()}


def layout(lang=None, **query):
    from app.command import view
    from app.command.state import parse_query
    from app.security.access import current_viewer
    from layers import deck_tooltip

    lang = current_lang(lang)
    state = parse_query({**url_values(query), "lang": lang}, known_layers=known_layers(), default_lang=lang)
    viewer = current_viewer()
    resolved = view.resolve(state, viewer)
    if resolved.area is None:
        return error_page(lang, t("access.no_area" if viewer is not None and viewer.areas else "command.problem.no_city", lang))
    audit_selection(CommandState(), resolved.state)
    asof = view.pinned_now(dt.datetime.now(dt.timezone.utc))
    step = compose(resolved, asof, lang=lang)
    fit = view.fit_for(step["step"], step["route"])
    if fit is not None:
        (west, south), (east, north) = fit["bounds"]
        initial_view = {"longitude": (west + east) / 2, "latitude": (south + north) / 2, "zoom": step["step"].zoom, "pitch": 0, "bearing": 0}
    else:  # areas without shapes and no located record yet: nothing to frame
        initial_view = {"longitude": 0.0, "latitude": 0.0, "zoom": 1.0, "pitch": 0, "bearing": 0}
    render = {"asof": asof.isoformat(), "digests": step["digests"], "index": None, "playing": False, "live_seq": None,
              "fit": f"{resolved.area['code']}|{resolved.state.incident or '-'}", "zoom": step["step"].zoom, "search": resolved.state.to_store()["search"],
              "scope": live_scope(resolved.area)}
    from app.command import panels

    return html.Div([
        dcc.Store(id="command-state", data=resolved.state.to_store()),
        dcc.Store(id="command-render", data=render),
        dcc.Store(id="command-live", data=None),  # the shell's live events, only when a new incident came (see below)
        # When the console last drew (ms since the epoch; the browser's clock from its first drawing on).
        dcc.Store(id="command-live-since", data=int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000) - LIVE_SLACK_MS),
        dcc.Store(id="command-url-restore", data=None),
        dcc.Store(id="command-map-size", data=None),  # {w, h} of the map in pixels (assets/command.js)
        html.Div(id="command-url-sync", hidden=True),
        html.Div(panels.problems_banner(resolved.state.problems, lang), id="command-problems"),
        html.Div([
            controls(resolved.state, lang),
            html.Section([
                html.Nav(html.Ol(panels.breadcrumbs(resolved.path, lang, resolved.state.incident), className="crumbs"), id="command-crumbs",
                         className="command-crumbs", **{"aria-label": t("command.crumbs.label", lang)}),
                html.Div([
                    deckgl_dash.DeckGL(id=MAP_ID, layers=step["layers"], layer_data=step["layer_data"], initial_view_state=initial_view, fit_bounds=fit,
                                       enable_events=["click", "viewStateChange"], tooltip=deck_tooltip(), controller=True, style={"width": "100%", "height": "100%", "position": "absolute", "inset": "0"}),
                    html.Div(panels.legend(step["legend"], lang), id="command-legend", className="command-legend"),
                    html.Div(t("command.map.hint", lang), className="command-map-hint"),
                ], className="command-map", role="region", **{"aria-label": t("command.map.label", lang)}),
                playback_bar(lang),
                html.Span(render_token(resolved, None), id="command-render-mark", className="command-render-mark", **{"aria-hidden": "true"}),
            ], className="command-centre"),
            html.Aside([
                html.Section([html.Div([html.H2(t("command.kpi.title", lang), className="section-title"),
                                        html.Span(step["window_label"], id="command-window-label", className="section-note")], className="section-head"),
                              html.Div(step["kpis"], id="command-kpis", className="kpi-grid")], className="panel command-panel"),
                html.Div(view.side_panels(resolved, step["step"], step["summary"], lang), id="command-detail"),
            ], className="command-side"),
        ], className="command-grid"),
    ], className="page page-command", **{"data-lang": lang})


# --- callbacks ------------------------------------------------------------------------------


def _clicked(value) -> bool:
    return bool(value)


NAVIGATION = ("command-map", "command-crumb", "command-area-item", "command-incident-item", "command-incident-back", "command-layers",
              "command-window", "command-window-apply", "command-severity", "command-category", "command-status", "command-channel",
              "command-url-restore")
RENDER_OUTPUTS = 17  # the outputs before command-state.data


@callback(
    Output(MAP_ID, "layers"),
    Output(MAP_ID, "layerData"),
    Output(MAP_ID, "fitBounds"),
    Output("command-legend", "children"),
    Output("command-crumbs", "children"),
    Output("command-kpis", "children"),
    Output("command-window-label", "children"),
    Output("command-detail", "children"),
    Output("command-problems", "children"),
    Output("command-render", "data"),
    Output("command-render-mark", "children"),
    Output("command-player", "disabled"),
    Output("command-player", "interval"),
    Output("command-play", "children"),
    Output("command-play", "data-playing"),
    Output("command-cursor", "children"),
    Output(MAP_ID, "viewState"),
    Output("command-state", "data"),
    Input(MAP_ID, "clickInfo"),
    Input({"type": "command-crumb", "code": ALL}, "n_clicks"),
    Input({"type": "command-area-item", "code": ALL}, "n_clicks"),
    Input({"type": "command-incident-item", "id": ALL}, "n_clicks"),
    Input({"type": "command-incident-back", "id": ALL}, "n_clicks"),
    Input("command-layers", "value"),
    Input("command-window", "value"),
    Input("command-window-apply", "n_clicks"),
    Input("command-severity", "value"),
    Input("command-category", "value"),
    Input("command-status", "value"),
    Input("command-channel", "value"),
    Input("command-url-restore", "data"),
    Input("command-play", "n_clicks"),
    Input("command-speed", "value"),
    Input("command-player", "n_intervals"),
    Input("command-live", "data"),
    Input("command-state", "data"),
    State("command-from", "value"),
    State("command-to", "value"),
    State("command-render", "data"),
    State("command-map-size", "data"),
    prevent_initial_call=True,
)
def step(click, _crumbs, _areas, _incidents, _back, layer_values, window, _apply, severity, category, status, channel, restore,
         play, speed, tick, live, current, start, end, render, size):
    """One round trip per interaction: the next state (validated, in the URL) and its drawing —
    a drill, a control, back/forward, a playback step or a live push; only what changed is sent.

    ``command-state`` is an input as well as an output: the browser never triggers this callback
    with it (Dash does not re-run a callback for its own output), a direct call does — "draw
    this state" (the load tests' second request of a step)."""
    trigger = ctx.triggered_id
    kind = trigger.get("type") if isinstance(trigger, dict) else trigger
    filters = {"severity": severity, "category": category, "status": status, "channel": channel}
    check_navigation_inputs(click=click, layer_values=layer_values, window=window, start=start, end=end, restore=restore, render=render, filters=filters)
    state = CommandState.from_store(current, known_layers=known_layers())
    if kind in NAVIGATION:
        following = next_state(state, trigger, ctx.triggered[0]["value"] if ctx.triggered else None,
                               click=click, render=render, layer_values=layer_values, window=window, start=start, end=end, restore=restore,
                               filters=filters)
        if following is None:
            return (no_update,) * (RENDER_OUTPUTS + 1)
        new_state, push = following
        if push and current and new_state.to_store()["search"] == current.get("search") and not new_state.problems:
            return (no_update,) * (RENDER_OUTPUTS + 1)  # controls echoing the state they were built from (a page insert fires them)
        audit_selection(state, new_state)
        return (*render_step(new_state, "command-state", play, speed, tick, live, render, size), new_state.to_store(push=push))
    if kind == "command-state":
        if current and render and current.get("search") == render.get("search") and not render.get("playing"):
            return (no_update,) * (RENDER_OUTPUTS + 1)  # already drawn
        return (*render_step(state, kind, play, speed, tick, live, render, size), no_update)
    if kind in ("command-play", "command-speed", "command-player", "command-live"):
        return (*render_step(state, kind, play, speed, tick, live, render, size), no_update)
    return (no_update,) * (RENDER_OUTPUTS + 1)  # nothing this callback draws for


def audit_selection(before: CommandState, after: CommandState) -> None:
    """The audit trail of the command view: ``incident_opened`` when an incident is selected (refused
    — 403 and ``access_denied`` — when it lies outside the caller's areas), ``area_view`` when
    another area is drilled into."""
    from app.command import data as reads
    from app.security.access import current_viewer, deny, may_see_record
    from app.security.audit import audit

    if after.incident and after.incident != before.incident:
        viewer = current_viewer()
        detail = reads.incident_view(after.incident, viewer)
        if detail is not None and not may_see_record(viewer, detail):
            raise deny("the incident is outside your areas", target=f"incident/{after.incident}")
        if detail is not None:
            audit("incident_opened", target=after.incident, area_code=detail.get("district_code"),
                  detail={"personal_data": "clear" if viewer is not None and viewer.can("see_personal_data") else "masked"})
    elif after.area and after.area != before.area:
        from app.security.access import may_see_area

        outside = not may_see_area(current_viewer(), after.area)  # shown: the caller's own area and a banner
        audit("area_view", target=after.area, area_code=after.area, outcome="denied" if outside else "ok")


def check_navigation_inputs(*, click, layer_values, window, start, end, restore, render, filters) -> None:
    """The controls' values as the browser sent them: right types and bounded sizes, else 400."""
    from app.security.callbacks import (
        ANY_JSON,
        BOOL,
        Int,
        ListOf,
        Number,
        Opt,
        Record,
        Text,
        check,
    )

    texts = Opt(ListOf(Text(64), 64))
    check(click, Opt(Record.of(picked=Opt(BOOL), layerId=Opt(Text(128)), index=Opt(Int(-1, 10**9)),
                               coordinate=Opt(ListOf(Number(-1000, 1000), 3)), object=ANY_JSON)), "command-map.clickInfo")
    check(layer_values, texts, "command-layers.value")
    check(window, Opt(Text(16)), "command-window.value")
    check(start, Opt(Text(64)), "command-from.value")
    check(end, Opt(Text(64)), "command-to.value")
    check(restore, Opt(Record.of(search=Opt(Text(8192)))), "command-url-restore.data")
    check(render, Opt(render_shape()), "command-render.data")
    for name, values in filters.items():
        check(values, Opt(ListOf(Text(64) if name != "severity" else Text(4), 64)), f"command-{name}.value")


def render_shape():
    """What a ``command-render`` store holds (a shape of app.security.callbacks, built per call)."""
    from app.security.callbacks import (
        BOOL,
        Int,
        ListOf,
        MapOf,
        Number,
        Opt,
        Record,
        Text,
    )

    digests = Record.of(specs=Opt(Text(128)), data=Opt(MapOf(Text(128), 200)), ids=Opt(ListOf(Text(128), 200)))
    scope = Record.of(level=Text(12), code=Text(15, r"[0-9]{6,15}"))
    return Record.of(asof=Text(64), digests=Opt(digests), index=Opt(Int(0, 10_000)), playing=Opt(BOOL), live_seq=Opt(Int()),
                     fit=Opt(Text(128)), zoom=Opt(Number(0, 30)), search=Opt(Text(8192)), scope=Opt(scope))


def live_scope(area: dict | None) -> dict | None:
    """The area a console's live updates are limited to: ``{level, code}`` of a district, street,
    community or grid (an incident's event names its code at each of those levels), None for the
    whole city. Kept in the ``command-render`` store for the live gate below."""
    from queries.spatial import ASSIGNED_LEVELS

    if area is None or area.get("level") not in ASSIGNED_LEVELS:
        return None
    return {"level": area["level"], "code": area["code"]}


def render_time(render: dict):
    """The ``asof`` of a render store (the time the view was drawn for)."""
    from app.security.callbacks import iso_time

    return iso_time(render.get("asof"), "command-render.data.asof")


def next_state(state, trigger, value, *, click, render, layer_values, window, start, end, restore, filters):
    """(next state, whether it is a new history entry) for one trigger, or None for no change."""
    from app.command import state as states

    if trigger is None:
        return None
    if isinstance(trigger, dict):
        if not value:
            return None  # a list re-rendered with n_clicks=0
        from app.security.callbacks import BadInput

        if trigger["type"] == "command-incident-back":
            return states.select_incident(state, None), True
        if trigger["type"] == "command-incident-item":
            if not isinstance(trigger.get("id"), str) or not states.INCIDENT_ID.fullmatch(trigger["id"]):
                raise BadInput("command-incident-item.id", "is not an incident id")
            return states.select_incident(state, trigger["id"]), True
        if not isinstance(trigger.get("code"), str) or not states.AREA_CODE.fullmatch(trigger["code"]):
            raise BadInput(f"{trigger['type']}.code", "is not an area code")
        return states.drill_to(state, trigger["code"]), True
    if trigger == MAP_ID:
        return map_click(state, click, render)
    if trigger == "command-url-restore":
        if not restore:
            return None
        query = dict(parse_qsl(str(restore.get("search") or "").lstrip("?")))
        return states.parse_query(query, known_layers=known_layers(), default_lang=state.lang), False
    if trigger == "command-layers":
        return states.with_layers(state, layer_values, known_layers()), True
    if trigger in ("command-window", "command-window-apply"):
        if window == "custom" and not (start and end):
            return None  # wait for both ends of the range
        return states.with_window(state, window, start, end), True
    return states.with_filters(state, **filters), True


def map_click(state, click, render):
    """A click on the map: an incident point selects it; anywhere else drills into the child there."""
    from app.command import mapview, view
    from app.command import state as states

    if not click or not render or not (click.get("picked") or click.get("coordinate")):
        return None
    resolved = view.resolve(state)
    if resolved.area is None:
        return None
    asof = render_time(render)
    window = view.reads.Window(*resolved.state.time_window(asof))
    step = view.make_step(resolved, asof, view.playback_cursor(window, render.get("index")), with_resources=False)
    layer_id = click.get("layerId") or ""
    if layer_id.startswith("incidents-points-") and click.get("index") is not None and click["index"] >= 0:
        incident_id = mapview.picked_incident_id(step, layer_id, int(click["index"]))
        return (states.select_incident(state, incident_id), True) if incident_id else None
    picked = click.get("object") if isinstance(click.get("object"), dict) else {}
    properties = picked.get("properties") if isinstance(picked.get("properties"), dict) else {}
    code = picked.get("code") or properties.get("code")
    if not isinstance(code, str) or not states.AREA_CODE.fullmatch(code):
        code = None
    if layer_id in ("boundaries-areas", "grid-choropleth") and code and code != resolved.area["code"]:
        return states.drill_to(state, code), True
    coordinate = click.get("coordinate")
    child = mapview.child_at(step, float(coordinate[0]), float(coordinate[1])) if coordinate and len(coordinate) >= 2 else None
    return (states.drill_to(state, child), True) if child else None


def render_step(state, trigger, _play, speed, _tick, live, render, size=None):
    """The 17 render outputs of ``step`` for a new ``state`` (trigger ``command-state``), a playback
    click or tick, a speed change or a live push.

    The camera: with the map's size known (``command-map-size``, from assets/command.js), a step
    that moves it sets the deck's ``viewState`` in the same response as the data, so deck.gl
    draws once at the new place instead of once at the old place and once more when
    ``fitBounds`` (applied by deckgl-dash after the data) moves it; the map reports its moves back
    (``viewStateChange``) and stays free to pan. Without a size, ``fitBounds`` as before."""
    from app.command import panels, view
    from app.command.mapview import LIVE_LAYERS, TIME_LAYERS
    from app.security.callbacks import LIVE_STORE, Enum, Int, Opt, Record, check

    check(render, Opt(render_shape()), "command-render.data")
    check(speed, Opt(Enum(SPEEDS)), "command-speed.value")
    check(_play, Opt(Int(0)), "command-play.n_clicks")
    check(_tick, Opt(Int(0)), "command-player.n_intervals")
    check(live, LIVE_STORE, "command-live.data")
    check(size, Opt(Record.of(w=Int(1, 100_000), h=Int(1, 100_000))), "command-map-size.data")
    lang = state.lang
    render = dict(render or {"asof": view.pinned_now(dt.datetime.now(dt.timezone.utc)).isoformat()})  # no store: nothing drawn yet
    playing, index = bool(render.get("playing")), render.get("index")
    interval = int(TICK_MS / (speed or 1))
    only = None
    asof = render_time(render)
    if trigger == "command-speed":
        return (*([no_update] * 12), interval, *([no_update] * 4))
    if trigger is None or (trigger == "command-play" and not _play):
        return (*([no_update] * 17),)
    if trigger == "command-play":
        playing = not playing
        index = (index if index is not None and index < view.PLAYBACK_STEPS - 1 else -1) + 1 if playing else index
        only = TIME_LAYERS
    elif trigger == "command-player":
        if not playing:
            return (*([no_update] * 17),)
        index = (index or 0) + 1
        if index >= view.PLAYBACK_STEPS:
            playing, index = False, None  # the replay reached now: back to live
            asof = view.pinned_now(dt.datetime.now(dt.timezone.utc))
        only = TIME_LAYERS
    elif trigger == "command-live":
        seq = (live or {}).get("seq")
        fresh = [e for e in (live or {}).get("recent") or [] if e.get("type") == "incident.new"]
        if playing or state.window == "custom" or not fresh or seq == render.get("live_seq"):
            return (*([no_update] * 17),)
        render["live_seq"] = seq
        asof = view.pinned_now(dt.datetime.now(dt.timezone.utc))
        only = LIVE_LAYERS
    else:  # a new state: playback stops, the view is live again
        playing, index = False, None
        asof = view.pinned_now(dt.datetime.now(dt.timezone.utc))

    resolved = view.resolve(state, strict=True)
    if resolved.area is None:
        return (*([no_update] * 8), panels.problems_banner(resolved.state.problems, lang), *([no_update] * 8))
    window = view.reads.Window(*resolved.state.time_window(asof))
    cursor = view.playback_cursor(window, index)
    step = compose(resolved, asof, previous=render.get("digests"), cursor=cursor, only=only, lang=lang,
                   map_px=(size["w"], size["h"]) if size else None)
    token = render_token(resolved, index)
    fit_key = f"{resolved.area['code']}|{resolved.state.incident or '-'}"
    fit = camera = no_update
    if fit_key != render.get("fit"):
        fit = view.fit_for(step["step"], step["route"])
        if size and fit is not None:
            camera, fit = view.reads.view_for_bounds(fit["bounds"], (size["w"], size["h"])), no_update
    render.update(asof=asof.isoformat(), digests=step["digests"], index=index, playing=playing, fit=fit_key, zoom=step["step"].zoom,
                  search=resolved.state.to_store()["search"] if only is None else render.get("search"), scope=live_scope(resolved.area))
    full = only is None
    cursor_text = t("command.playback.cursor", lang, time=panels.local_time(cursor, lang)) if cursor is not None else t("command.playback.live", lang)
    return (
        step["layers"] if step["layers"] is not None else no_update,
        step["layer_data"] or no_update,
        fit,
        panels.legend(step["legend"], lang) if full else no_update,
        html.Ol(panels.breadcrumbs(resolved.path, lang, resolved.state.incident), className="crumbs") if full else no_update,
        step["kpis"],
        step["window_label"],
        # A live push also refreshes the lists (a grid's new incident is listed at once), not an incident's detail.
        view.side_panels(resolved, step["step"], step["summary"], lang) if full or (trigger == "command-live" and not resolved.state.incident) else no_update,
        panels.problems_banner(resolved.state.problems, lang) if full else no_update,
        render,
        token,
        not playing,
        interval,
        t("command.playback.pause" if playing else "command.playback.play", lang),
        "true" if playing else "false",
        cursor_text,
        camera,
    )


@callback(
    Output("command-orders", "children"),
    Output("command-orders-page", "data"),
    Input("command-orders-prev", "n_clicks"),
    Input("command-orders-next", "n_clicks"),
    State("command-orders-page", "data"),
    State("command-state", "data"),
    prevent_initial_call=True,
)
def orders_page(_previous, _next, paging, current):
    """Another page of a grid's work orders (the window the list was built for)."""
    from app.command import data as reads
    from app.command import panels, view
    from app.security.access import current_viewer
    from app.security.callbacks import BadInput, Int, Opt, Record, Text, check, iso_time

    check(_previous, Opt(Int(0)), "command-orders-prev.n_clicks")
    check(_next, Opt(Int(0)), "command-orders-next.n_clicks")
    check(paging, Record.of(area=Text(15, r"[0-9]{6,15}"), page=Int(0, 100_000), start=Text(64), end=Text(64)), "command-orders-page.data")
    start, end = iso_time(paging["start"], "command-orders-page.data.start"), iso_time(paging["end"], "command-orders-page.data.end")
    if not start < end or end - start > dt.timedelta(days=92):
        raise BadInput("command-orders-page.data", "is not a window of at most 92 days")
    state = CommandState.from_store(current, known_layers=known_layers())
    resolved = view.resolve(state, strict=True)
    if resolved.area is None or resolved.area["code"] != paging["area"]:
        return no_update, no_update  # the view moved on meanwhile
    window = reads.Window(start, end)
    total = reads.summary(paging["area"], window)["workorders"]["total"]
    pages = max(1, -(-total // reads.ORDERS_PER_PAGE))
    page = min(max(0, paging["page"] + (1 if ctx.triggered_id == "command-orders-next" else -1)), pages - 1)
    frame = reads.work_orders_in(paging["area"], window, page, current_viewer())
    return panels.work_order_page(frame, total, state.lang, page=page, per_page=reads.ORDERS_PER_PAGE), {**paging, "page": page}


# Live events reach the render only when a new incident came that this console shows: in its area
# (``scope`` of the render store: the event names the incident's district, street, community and
# grid), passing its filters, and received since the console last drew (``command-live-since``,
# moved on every drawing, with LIVE_SLACK_MS for the drawing's own round trip). Every event of the
# shell's stream (lifecycle steps, readings, data versions: about one a second with a feed
# running) would otherwise cost every open console a callback request, and a new incident
# anywhere in the city every console a re-render: the load test (bench/load.py) showed those
# renders, not the drills, saturating the server at 50 sessions. app/loadtest.py's commander
# applies the same gate (``LiveGate``).
clientside_callback(
    """
    function(live, render, previous, since, state) {
        var none = window.dash_clientside.no_update;
        var now = Date.now();
        var triggered = (window.dash_clientside.callback_context.triggered || []).map(function (t) { return t.prop_id; });
        if (triggered.indexOf("command-render.data") >= 0) { return [none, now - %d]; }
        if (!live || !live.recent) { return [none, none]; }
        var scope = render && render.scope;
        state = state || {};
        function allowed(values, value) { return !values || !values.length || values.indexOf(value) >= 0; }
        function shown(event) {
            var incident = event.payload || {};
            return event.type === "incident.new" && (since === null || Date.parse(event.received_at) > since)
                && (!scope || incident[scope.level + "_code"] === scope.code)
                && allowed(state.severity, incident.severity) && allowed(state.category, incident.category)
                && allowed(state.status, incident.status) && allowed(state.channel, incident.channel);
        }
        var fresh = live.recent.filter(function (event) { return event && shown(event); });
        var known = previous && previous.last ? previous.last.id : null;
        if (!fresh.length || fresh[0].id === known) { return [none, now]; }
        return [{seq: live.seq, recent: fresh.slice(0, 50), last: fresh[0]}, now];
    }
    """ % LIVE_SLACK_MS,
    Output("command-live", "data"),
    Output("command-live-since", "data"),
    Input("live-events", "data"),
    Input("command-render", "data"),
    State("command-live", "data"),
    State("command-live-since", "data"),
    State("command-state", "data"),
    prevent_initial_call=True,
)


# The URL follows the state: a new history entry per step (not through dcc.Location, whose
# change would make Dash's page router rebuild the whole page), and the language switch in the
# header keeps the drill state.
clientside_callback(
    """
    function(state) {
        if (!state || typeof state.search !== "string") { return window.dash_clientside.no_update; }
        if (state.push && window.location.search !== state.search) {
            window.history.pushState({cityopsCommand: true}, "", window.location.pathname + state.search);
        }
        ["zh", "en"].forEach(function (code) {
            var params = new URLSearchParams(window.location.search);
            params.set("lang", code);
            window.dash_clientside.set_props("shell-lang-" + code, {href: window.location.pathname + "?" + params.toString()});
        });
        return window.dash_clientside.no_update;
    }
    """,
    Output("command-url-sync", "children"),
    Input("command-state", "data"),
)
