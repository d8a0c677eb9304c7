"""Dash callbacks are HTTP endpoints: direct POSTs to ``/_dash-update-component`` without a
session, with the wrong role, from another site, malformed, or asking for another district — each
refused on the server with the right status, a clear message and no data — and the audit trail of
the command view (incident opened, area viewed)."""
from __future__ import annotations

import json

import pytest

from tests.app.conftest import (
    GANYU,
    HAIZHOU,
    audit_rows,
    callback_body,
    client_for,
    post_callback,
    router_body,
    server_callbacks,
    user_of,
)


@pytest.fixture(scope="module")
def app(secured_platform):
    dash_app = secured_platform.app()
    server_callbacks(dash_app)
    return dash_app


def key_of(app, prefix: str) -> str:
    return next(key for key in server_callbacks(app) if key.startswith(prefix) or key.startswith(".." + prefix))


def command_state(**fields) -> dict:
    from app.command.state import CommandState

    return CommandState(**fields).to_store()


def render_values(state: dict) -> dict:
    return {"command-state.data": state, "command-render.data": {"asof": "2026-11-21T08:00:00+00:00", "search": "?other"}, "command-speed.value": 1}


def assert_json_error(response, status: int, error: str) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:300])
    assert response.mimetype == "application/json"
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and 'File "' not in text and '"response"' not in text
    body = response.get_json()
    assert body["error"] == error and body["message"]
    return body


# --- who may call -------------------------------------------------------------------------------------------


def test_without_a_session_every_callback_is_401_and_no_data(app):
    client = client_for(app.server, None)
    for key in server_callbacks(app):
        assert_json_error(post_callback(client, callback_body(app, key)), 401, "unauthenticated")
    assert_json_error(post_callback(client, router_body("/command", "?area=320706")), 401, "unauthenticated")


def test_the_wrong_role_gets_403_and_no_data(app, secured_platform):
    wall = client_for(app.server, user_of("wall"))
    state = command_state(incident=secured_platform.inside)
    for key in (key_of(app, "command-map"), key_of(app, "home-")):
        body = callback_body(app, key, render_values(state))
        assert_json_error(post_callback(wall, body), 403, "forbidden")
    assert_json_error(post_callback(wall, router_body("/command", f"?incident={secured_platform.inside}")), 403, "forbidden")
    # The same request from a role that may: the incident's data.
    leader = client_for(app.server, user_of("leader"))
    answer = post_callback(leader, callback_body(app, key_of(app, "command-map"), render_values(state), ["command-state.data"]))
    assert answer.status_code == 200 and secured_platform.inside in answer.get_data(as_text=True)


def test_an_unknown_callback_is_refused(app):
    client = client_for(app.server, user_of("admin"))
    body = callback_body(app, key_of(app, "command-map"))
    body["output"] = "studio-editor.children"
    assert_json_error(post_callback(client, body), 400, "bad_request")
    body["output"] = "shell-lang.id"  # a clientside callback: runs in the browser only
    assert_json_error(post_callback(client, body), 400, "bad_request")


# --- CSRF: state-changing requests come from this site ----------------------------------------------------


def test_a_cross_origin_post_is_refused(app):
    client = client_for(app.server, user_of("admin"))
    body = router_body("/", "")
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"}, {"Origin": "http://localhost.evil.example"},
                    {"Origin": "", "Referer": "http://evil.example/page"}):
        assert_json_error(post_callback(client, body, headers=headers), 403, "forbidden")
    bare = client_for(app.server, user_of("admin"))
    bare.environ_base.pop("HTTP_ORIGIN")
    assert_json_error(post_callback(bare, body), 403, "forbidden")  # neither Origin nor Referer
    assert post_callback(bare, body, headers={"Referer": "http://localhost/command"}).status_code == 200
    assert post_callback(client, body, headers={"Origin": "http://localhost"}).status_code == 200
    # The JSON API alike, and a bearer token (no ambient credentials) needs no Origin.
    assert_json_error(client.post("/api/v1/walls/default/acknowledge", json={}, headers={"Origin": "http://evil.example"}), 403, "forbidden")


def test_a_bearer_token_needs_no_origin(app, secured_platform):
    from queries.auth import issue_token
    from queries.db import make_engine

    engine = make_engine(secured_platform.url)
    with engine.begin() as conn:
        token = issue_token(conn, user_of("commander"))
    engine.dispose()
    client = client_for(app.server, None)
    client.environ_base.pop("HTTP_ORIGIN")
    response = client.post("/api/v1/walls/default/acknowledge", json={"incident_id": "NO-SUCH"}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404  # through access control; an unknown incident
    assert client.get("/api/v1/areas", headers={"Authorization": "Bearer " + "x" * 40}).status_code == 401


# --- malformed requests: 400 with a clear message, never a 500 ----------------------------------------------


@pytest.mark.parametrize("mutate, fragment", [
    (lambda body: "not an object", "JSON object"),
    (lambda body: {**body, "inputs": body["inputs"][:-1]}, "'inputs'"),
    (lambda body: {**body, "state": [*body["state"], body["state"][0]]}, "'state'"),
    (lambda body: {**body, "inputs": [{**body["inputs"][0], "id": "elsewhere"}, *body["inputs"][1:]]}, "expected component"),
    (lambda body: {**body, "inputs": [{**body["inputs"][0], "property": "children"}, *body["inputs"][1:]]}, "expected property"),
    (lambda body: {**body, "outputs": {"id": "command-state", "property": "data"}}, "'outputs'"),
    (lambda body: {**body, "changedPropIds": ["elsewhere.value"]}, "changedPropIds"),
    (lambda body: {**body, "changedPropIds": "command-state.data"}, "changedPropIds"),
], ids=["not-an-object", "inputs-missing", "state-extra", "wrong-input", "wrong-property", "outputs-shape", "unknown-trigger", "trigger-type"])
def test_a_malformed_callback_request_is_400(app, mutate, fragment):
    client = client_for(app.server, user_of("admin"))
    body = mutate(callback_body(app, key_of(app, "command-map"), render_values(command_state())))
    message = assert_json_error(post_callback(client, body), 400, "bad_request")["message"]
    assert fragment in message


@pytest.mark.parametrize("name, value, fragment", [
    ("command-state.data", {"area": "../etc"}, "command-state.data.area"),
    ("command-state.data", {"layers": ["no-such-layer"]}, "unknown layer"),
    ("command-state.data", {"window": "custom", "start": "2026-01-02T00:00:00+00:00", "end": "2026-01-01T00:00:00+00:00"}, "custom window"),
    ("command-state.data", {"severity": ["9"]}, "severity"),
    ("command-state.data", {"problems": [{"param": "x", "key": "app.name", "value": "x"}]}, "problems"),
    ("command-render.data", {"asof": "yesterday"}, "asof"),
    ("command-speed.value", 3, "command-speed.value"),
    ("command-play.n_clicks", "many", "n_clicks"),
    ("live-events.data", {"recent": "everything"}, "live-events.data.recent"),
], ids=["area", "layer", "window", "severity", "problem-key", "asof", "speed", "n_clicks", "live"])
def test_a_bad_callback_value_is_400_naming_it(app, name, value, fragment):
    client = client_for(app.server, user_of("admin"))
    if name == "live-events.data":  # the live store the render reads: the shell's, or the console's filtered copy of it
        inputs = {f"{item['id']}.{item['property']}" for item in app.callback_map[key_of(app, "command-map")]["inputs"]}
        name = fragment = next(store for store in ("command-live.data", "live-events.data") if store in inputs)
        fragment += ".recent"
    values = render_values(command_state())
    values[name] = value if name != "command-state.data" else {**values[name], **value}
    message = assert_json_error(post_callback(client, callback_body(app, key_of(app, "command-map"), values, ["command-state.data"])), 400, "bad_request")["message"]
    assert fragment in message


def test_the_page_router_refuses_a_malformed_pathname(app):
    client = client_for(app.server, user_of("admin"))
    for pathname, search in ((None, ""), (42, ""), ("command", ""), ("/" + "x" * 5000, ""), ("/command", ["?a=1"]), ("/\x00", "")):
        assert_json_error(post_callback(client, router_body(pathname, search)), 400, "bad_request")


def test_wall_refresh_checks_its_stores(app):
    client = client_for(app.server, user_of("wall"))
    key = key_of(app, '{"key":["ALL"],"type":"wall-body"}')
    first = app.callback_map[key]["inputs"][0]
    trigger = [f"{first['id']}.{first['property']}"]  # the wall's beat (whatever wall.js names it)
    good = {"wall-config.data": {"wall": "default", "lang": "zh"}, "wall-active.data": {"scene": "overview"}}
    assert post_callback(client, callback_body(app, key, good, trigger)).status_code == 200
    for name, value in (("wall-config.data", {"wall": "../default", "lang": "zh"}), ("wall-config.data", None), ("wall-viewport.data", {"u": "big"}),
                        ("wall-panels.data", {"panels": {"a/b": {"at": "now"}}}), ("wall-panels.data", {"panels": {"a/b": {"data_time": "soon"}}}),
                        ("wall-emergency.data", {"id": 7})):
        body = callback_body(app, key, {**good, name: value}, trigger)
        assert_json_error(post_callback(client, body), 400, "bad_request")


# --- areas: a district's staff ----------------------------------------------------------------------------------


def test_an_incident_outside_the_users_areas_is_refused_on_direct_post(app, secured_platform):
    client = client_for(app.server, "haizhou-leader")
    render = key_of(app, "command-map")
    outside = callback_body(app, render, render_values(command_state(incident=secured_platform.outside)), ["command-state.data"])
    assert_json_error(post_callback(client, outside), 403, "forbidden")
    inside = callback_body(app, render, render_values(command_state(incident=secured_platform.inside)), ["command-state.data"])
    assert post_callback(client, inside).status_code == 200
    # Selecting it through the state callback (a list item the page never showed): refused and audited.
    navigate = key_of(app, "command-map")
    trigger = json.dumps({"id": secured_platform.outside, "type": "command-incident-item"}, separators=(",", ":"), sort_keys=True) + ".n_clicks"
    body = callback_body(app, navigate, {"command-state.data": command_state(area=HAIZHOU)}, [trigger])
    body["inputs"][3] = [{"id": {"type": "command-incident-item", "id": secured_platform.outside}, "property": "n_clicks", "value": 1}]
    assert_json_error(post_callback(client, body), 403, "forbidden")
    denied = audit_rows(secured_platform.url, user="haizhou-leader", action="access_denied", limit=100_000)
    assert any(row["target"] == f"incident/{secured_platform.outside}" for row in denied)


def test_an_area_outside_the_users_areas_shows_their_own_with_a_banner(app):
    client = client_for(app.server, "haizhou-leader")
    body = callback_body(app, key_of(app, "command-map"), render_values(command_state(area=GANYU, lang="en")), ["command-state.data"])
    answer = post_callback(client, body)
    assert answer.status_code == 200
    text = answer.get_data(as_text=True)
    assert "is outside your areas" in text and "Haizhou" in text
    assert "Ganyu" not in text and "Lianyungang" not in text  # not even the city in the breadcrumbs


# --- the audit trail of the command view ---------------------------------------------------------------------


def test_opening_an_incident_and_drilling_into_an_area_are_audited(app, secured_platform):
    client = client_for(app.server, user_of("commander"))
    navigate = key_of(app, "command-map")
    trigger = json.dumps({"id": secured_platform.inside, "type": "command-incident-item"}, separators=(",", ":"), sort_keys=True) + ".n_clicks"
    body = callback_body(app, navigate, {"command-state.data": command_state(area=HAIZHOU)}, [trigger])
    body["inputs"][3] = [{"id": {"type": "command-incident-item", "id": secured_platform.inside}, "property": "n_clicks", "value": 1}]
    answer = post_callback(client, body)
    assert answer.status_code == 200 and answer.get_json()["response"]["command-state"]["data"]["incident"] == secured_platform.inside
    [opened] = audit_rows(secured_platform.url, user=user_of("commander"), action="incident_opened")[:1]
    assert opened["target"] == secured_platform.inside and opened["area_code"] == HAIZHOU and opened["detail"]["personal_data"] == "clear"

    crumb = json.dumps({"code": HAIZHOU, "type": "command-crumb"}, separators=(",", ":"), sort_keys=True) + ".n_clicks"
    body = callback_body(app, navigate, {"command-state.data": command_state()}, [crumb])
    body["inputs"][1] = [{"id": {"type": "command-crumb", "code": HAIZHOU}, "property": "n_clicks", "value": 1}]
    assert post_callback(client, body).status_code == 200
    [viewed] = audit_rows(secured_platform.url, user=user_of("commander"), action="area_view")[:1]
    assert viewed["target"] == HAIZHOU

    # A shared link to an incident is an opening too (the page router builds it).
    leader = client_for(app.server, user_of("leader"))
    assert post_callback(leader, router_body("/command", f"?incident={secured_platform.inside}")).status_code == 200
    [opened] = audit_rows(secured_platform.url, user=user_of("leader"), action="incident_opened")[:1]
    assert opened["target"] == secured_platform.inside and opened["detail"]["personal_data"] == "masked"


# --- an outage: sessions cannot be checked ---------------------------------------------------------------------


def test_during_a_database_outage_known_sessions_keep_their_rights_others_only_see_walls(app, secured_platform, monkeypatch):
    from sqlalchemy.exc import OperationalError

    import queries.auth

    known = client_for(app.server, user_of("leader"))
    assert post_callback(known, router_body("/command")).status_code == 200  # checked once, while the database answers

    def away(*_, **__):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(queries.auth, "session_is_current", away)
    monkeypatch.setattr("app.security.audit.audit", lambda *a, **k: (_ for _ in ()).throw(OperationalError("INSERT", {}, Exception("down"))))
    assert post_callback(known, router_body("/command")).status_code == 200
    stranger = client_for(app.server, user_of("analyst"))  # never seen by this process
    assert post_callback(stranger, router_body("/wall/default")).status_code == 200  # least privilege: a wall's
    refused = post_callback(stranger, router_body("/command"))
    assert_json_error(refused, 503, "unavailable")
    assert refused.headers["Retry-After"]
    assert_json_error(client_for(app.server, None).get("/api/v1/areas"), 401, "unauthenticated")
