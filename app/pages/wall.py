"""Video wall: ``/wall`` (the default wall) and ``/wall/<wall-id>``, kiosk pages with no chrome.

The layout and the refresh step live in ``app.wall.view``; this module registers the pages and
their callbacks: the server-side refresh and four clientside ones that connect it with
assets/wall.js (carousel, scale, emergency switch, clock, and what triggers a refresh).

Every trigger of the refresh — the beat, live events (``wall-live``, a coalesced copy of the
shell's ``live-events``), the shown scene (``wall-active``), the screen (``wall-viewport``) — is
set by wall.js, which keeps one refresh in flight at a time: Dash drops a running request when
one of its inputs changes again, so a feed faster than a refresh would otherwise never let one
finish. wall.js learns that a refresh finished from ``wall-panels`` (its output). The carousel
is armed from ``wall-config`` alone, never behind a pending refresh.
"""
from __future__ import annotations

import dash
from dash import ALL, Input, Output, State, callback, clientside_callback, ctx

from app.context import current_lang
from app.i18n import t
from app.wall.view import refresh, wall_layout

DEFAULT_WALL = "default"

dash.register_page(__name__, path_template="/wall/<wall_id>", name=t("page.wall"), name_en=t("page.wall", "en"), nav=False, chrome=False,
                   title=lambda **_: t("app.window_title"))
dash.register_page(f"{__name__}.default", path="/wall", name=t("page.wall"), name_en=t("page.wall", "en"), order=20, chrome=False,
                   title=lambda **_: t("app.window_title"), layout=lambda lang=None, **_: wall_layout(DEFAULT_WALL, current_lang(lang)))


def layout(wall_id: str = DEFAULT_WALL, lang: str | None = None, **_):
    from queries.emergency import check_wall_id

    lang = current_lang(lang)
    try:
        wall_id = check_wall_id(wall_id)
    except ValueError:
        return wall_layout("", lang)  # shows "no such wall"
    return wall_layout(wall_id, lang)


def _keys(output_spec) -> list[str]:
    return [item["id"]["key"] for item in output_spec]


@callback(
    Output({"type": "wall-body", "key": ALL}, "children"),
    Output({"type": "wall-meta", "key": ALL}, "children"),
    Output({"type": "wall-panel", "key": ALL}, "className"),
    Output({"type": "wall-map", "key": ALL}, "layers"),
    Output({"type": "wall-map", "key": ALL}, "layerData"),
    Output({"type": "wall-map", "key": ALL}, "initialViewState"),
    Output("wall-panels", "data"),
    Output("wall-emergency", "data"),
    Output("wall-alarm", "children"),
    Output("wall-link", "className"),
    Output("wall-page", "children"),
    Input("wall-beat", "data"),
    Input("wall-active", "data"),
    Input("wall-viewport", "data"),
    Input("wall-live", "data"),
    State("wall-config", "data"),
    State("wall-panels", "data"),
    State("wall-emergency", "data"),
    prevent_initial_call=True,  # wall.js sends the first refresh, with the screen's size
)
def refresh_wall(beat, active, viewport, live, config, state, emergency):
    check_refresh_inputs(beat=beat, active=active, viewport=viewport, live=live, config=config, state=state, emergency=emergency)
    outputs = ctx.outputs_list
    body_keys, meta_keys, panel_keys, map_keys = _keys(outputs[0]), _keys(outputs[1]), _keys(outputs[2]), _keys(outputs[3])
    triggers = {item["prop_id"].split(".")[0] for item in ctx.triggered}
    step = refresh(config=config, active=active, viewport=viewport, live=live, state=state, emergency=emergency,
                   outputs={}, triggers=triggers)
    if "body" not in step:  # the wall is gone (nothing changes) or was re-specified (a new layout)
        return ([dash.no_update] * len(body_keys), [dash.no_update] * len(meta_keys), [dash.no_update] * len(panel_keys),
                [dash.no_update] * len(map_keys), [dash.no_update] * len(map_keys), [dash.no_update] * len(map_keys),
                dash.no_update, dash.no_update, dash.no_update, dash.no_update, step.get("respec", dash.no_update))
    maps = step["map"]

    def pick(values: dict, keys: list[str], field=None):
        out = []
        for key in keys:
            if key not in values:
                out.append(dash.no_update)
            elif field is None:
                out.append(values[key])
            else:
                value = values[key].get(field)
                out.append(dash.no_update if value is None else value)
        return out

    return (
        pick(step["body"], body_keys), pick(step["meta"], meta_keys), pick(step["panel"], panel_keys),
        pick(maps, map_keys, "layers"), pick(maps, map_keys, "layerData"), pick(maps, map_keys, "initialViewState"),
        step["state"], step["emergency"], step["alarm"], step["link"], dash.no_update,
    )


def check_refresh_inputs(*, beat=None, active, viewport, live, config, state, emergency) -> None:
    """The stores as the browser sent them back: right shapes, else 400 (``BadInput``)."""
    import datetime as dt

    from app.i18n import LANGUAGES
    from app.security.callbacks import (
        ANY_JSON,
        BOOL,
        LIVE_STORE,
        BadInput,
        Enum,
        Int,
        ListOf,
        MapOf,
        Number,
        Opt,
        Record,
        Text,
        check,
    )
    from queries.emergency import WALL_ID_PATTERN

    digests = Record.of(specs=Opt(Text(128)), data=Opt(MapOf(Text(128), 200)), ids=Opt(ListOf(Text(128), 200)))
    screen = ListOf(Number(0, 1e6), 3)
    panel = Record.of(built=Opt(BOOL), at=Opt(Number(0, 1e12)), ok=Opt(BOOL), data_time=Opt(Text(64)), datasets=Opt(ListOf(Text(128), 500)),
                      digests=Opt(digests), view=Opt(MapOf(ANY_JSON, 50)), dirty=Opt(BOOL), screen=Opt(screen))
    check(config, Record.of(wall=Text(64, WALL_ID_PATTERN.strip("^$")), lang=Enum(LANGUAGES), version=Opt(Int()), source=Opt(Text(32)),
                            emergency=Opt(Text(64))), "wall-config.data")
    check(beat, Opt(Int(0)), "wall-beat.data")
    check(active, Opt(Record.of(scene=Opt(Text(64)), next=Opt(Text(64)), soon=Opt(BOOL))), "wall-active.data")
    check(viewport, Opt(Record.of(u=Opt(Number(0, 100)))), "wall-viewport.data")
    check(live, LIVE_STORE, "wall-live.data")
    check(emergency, Opt(Record.of(id=Opt(Text(64)))), "wall-emergency.data")
    check(state, Opt(Record.of(panels=Opt(MapOf(panel, 2000)), live_seq=Opt(Int()), scale=Opt(Number(0, 100)), failures=Opt(Int(0)),
                               screen=Opt(screen))), "wall-panels.data")
    for key, entry in ((state or {}).get("panels") or {}).items():
        if entry.get("data_time") is not None:
            try:
                dt.datetime.fromisoformat(entry["data_time"])
            except ValueError:
                raise BadInput(f"wall-panels.data.panels.{key[:64]}.data_time", "is not an ISO time") from None


# The browser side (assets/wall.js). Each callback hands one store to it and outputs nothing
# (its output is the store's own id, never changed): the carousel, clock and screen scale from
# the config alone; the emergency switch; live events, which wall.js coalesces into "wall-live";
# and the end of each refresh ("wall-panels" is its output), which lets the next one go.
clientside_callback(
    "function(config) { if (window.cityopsWall) { window.cityopsWall.configure(config); } return window.dash_clientside.no_update; }",
    Output("wall-config", "id"),
    Input("wall-config", "data"),
)
clientside_callback(
    "function(emergency) { if (window.cityopsWall) { window.cityopsWall.emergency(emergency); } return window.dash_clientside.no_update; }",
    Output("wall-emergency", "id"),
    Input("wall-emergency", "data"),
    prevent_initial_call=True,
)
clientside_callback(
    "function(live) { if (window.cityopsWall) { window.cityopsWall.live(live); } return window.dash_clientside.no_update; }",
    Output("wall-live", "id"),
    Input("live-events", "data"),
)
clientside_callback(
    "function(state) { if (window.cityopsWall) { window.cityopsWall.refreshed(state); } return window.dash_clientside.no_update; }",
    Output("wall-panels", "id"),
    Input("wall-panels", "data"),
    prevent_initial_call=True,
)
