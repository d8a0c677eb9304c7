"""The access table, enforced: every role (and nobody) against every page, Dash internal, data route
and Dash callback of the app, with the answers and audit entries that go with them.

The expectations are written out here, independently of ``app.security.access``: a change of the
table that changes who may do what fails a test. Pages, routes and callbacks are enumerated from the
running app (Flask's URL map, Dash's page registry and callback map), so one added later without a
declaration is refused — and fails ``test_everything_the_app_serves_is_declared``.
"""
from __future__ import annotations

import datetime as dt
import json
import re

import dash
import pytest

from app.security import CAPABILITIES
from tests.app.conftest import (
    GANYU,
    HAIZHOU,
    ROUTER,
    TEST_ROLES,
    audit_rows,
    callback_body,
    client_for,
    post_callback,
    response_text,
    router_body,
    server_callbacks,
    user_of,
)

ROLES = (None, *TEST_ROLES)  # None: nobody logged in
ANY, PERSON, PUBLIC = "any", "person", "public"

PAGES = {
    "/": "view_overview",
    "/command": "view_command",
    "/command?area=320706&t=7d": "view_command",
    "/wall": "view_wall",
    "/wall/default": "view_wall",
    "/briefing": "view_briefing",
    "/briefing/city": "view_briefing",
    "/studio": "edit_specs",
    "/catalog": "view_catalog",
    "/admin/users": "manage_users",
    "/admin/audit": "view_audit",
    "/no-such-page": PERSON,
}
ROUTED_PAGES = {"/": "view_overview", "/command": "view_command", "/wall": "view_wall", "/wall/default": "view_wall",
                "/studio": "edit_specs", "/catalog": "view_catalog", "/404": PERSON, "/elsewhere": PERSON}
GET_ROUTES = {
    "/_dash-layout": ANY,
    "/_dash-dependencies": ANY,
    "/api/v1/areas": "use_api",
    f"/api/v1/areas/{HAIZHOU}": "use_api",
    f"/api/v1/areas/{HAIZHOU}/summary": "use_api",
    f"/api/v1/areas/{HAIZHOU}/children": "use_api",
    "/api/v1/incidents?limit=5": "use_api",
    "/api/v1/datasets": "use_api",
    "/api/v1/walls/default/emergency": "use_api",
    "/api/v1/no-such-endpoint": "use_api",
    "/api/v1/openapi.json": PUBLIC,
    "/healthz": PUBLIC,
    "/export/briefing/Not_An_Id.pdf": "export",  # malformed: 400 once let through (no browser starts)
}
# Callbacks by what they write to (the table's rule, written out again).
CALLBACK_OUTPUTS = {"command-": "view_command", "wall-": "view_wall", "home-": "view_overview", "studio-": "edit_specs",
                    "catalog-": "view_catalog", "shell-": ANY, "_pages_": ANY}


def may(role: str | None, need: str) -> bool:
    if need == PUBLIC:
        return True
    if role is None:
        return False
    if need == ANY:
        return True
    if need == PERSON:
        return role != "wall"
    return need in CAPABILITIES[role]


def client_of(server, role):
    return client_for(server, user_of(role) if role else None)


def assert_refused(response, status: int) -> None:
    """A refusal: the status, a short JSON error (or the small 403 page), nothing of the data."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:300])
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and len(text) < 2000
    if response.mimetype == "application/json":
        body = json.loads(text)
        assert set(body) <= {"error", "message", "parameter"} and body["error"] in ("unauthenticated", "forbidden")
    else:
        assert "access-denied" in text


@pytest.fixture(scope="module")
def app(secured_platform):
    dash_app = secured_platform.app()
    server_callbacks(dash_app)
    return dash_app


@pytest.fixture(scope="module")
def server(app):
    return app.server


# --- the table covers everything ----------------------------------------------------------------------


def test_everything_the_app_serves_is_declared(app):
    from app.security.access import (
        DASH_ENDPOINTS,
        DASH_PAGES,
        DENY,
        callback_needs,
        route_for,
    )

    for page in dash.page_registry.values():
        assert (page.get("path_template") or page["path"]) in DASH_PAGES, f"page {page['path']} is not in the access table"
    for rule in app.server.url_map.iter_rules():
        path = re.sub(r"<[^>]+>", "x", rule.rule)
        for method in sorted(rule.methods - {"OPTIONS", "HEAD"}):
            route = route_for(method, path, rule.endpoint)
            assert route.need != DENY or rule.endpoint in DASH_ENDPOINTS, f"{method} {rule.rule} ({rule.endpoint}) is not declared"
    for key in app.callback_map:
        assert DENY not in callback_needs(key), f"callback {key} writes to a component the table does not know"


def test_an_undeclared_callback_output_is_denied():
    from app.security.access import DENY, callback_needs

    assert callback_needs("reports-editor.children") == {DENY}
    assert callback_needs('..command-map.layers...{"key":["ALL"],"type":"reports-panel"}.children..') == {"view_command", DENY}


# --- pages ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "nobody")
def test_every_page_for_every_role(server, role):
    client = client_of(server, role)
    for path, need in PAGES.items():
        response = client.get(path)
        if role is None:
            assert response.status_code == 302, path
            expected = "/login" if path == "/" else "/login?next=" + path.split("?")[0].replace("/", "%2F")
            assert response.headers["Location"].startswith(expected), response.headers["Location"]
        elif may(role, need):
            assert response.status_code == 200, (role, path, response.status_code)
        else:
            assert_refused(response, 403)


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "nobody")
def test_the_page_router_renders_only_the_pages_a_role_may_see(server, role):
    """Dash renders a page's content in a callback: the pathname it is asked for decides."""
    client = client_of(server, role)
    for path, need in ROUTED_PAGES.items():
        response = post_callback(client, router_body(path, "?lang=en"))
        if role is None:
            assert_refused(response, 401)
        elif may(role, need):
            assert response.status_code == 200, (role, path, response.get_data(as_text=True)[:300])
            assert "_pages_content" in response.get_json()["response"]
        else:
            assert_refused(response, 403)


# --- data routes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "nobody")
def test_every_data_route_for_every_role(server, role):
    client = client_of(server, role)
    for path, need in GET_ROUTES.items():
        response = client.get(path)
        if may(role, need):
            assert response.status_code in (200, 400, 404) if path.startswith(("/export/", "/api/v1/no-such")) else response.status_code == 200, (
                role, path, response.status_code, response.get_data(as_text=True)[:200])
        elif role is None:
            assert_refused(response, 401)
            if path.startswith("/api/"):
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
        else:
            assert_refused(response, 403)


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "nobody")
def test_the_event_stream_is_open_to_every_signed_in_caller_walls_included(server, role):
    response = client_of(server, role).get("/api/v1/events", buffered=False)
    try:
        if role is None:
            assert_refused(response, 401)
        else:
            assert response.status_code == 200 and response.mimetype == "text/event-stream"
    finally:
        response.close()


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "nobody")
def test_only_commanders_and_admins_operate_the_walls(server, role):
    client = client_of(server, role)
    for path, body in (("/api/v1/walls/default/emergency", {"incident_id": "NO-SUCH-INCIDENT"}), ("/api/v1/walls/default/acknowledge", {"incident_id": "NO-SUCH-INCIDENT"})):
        response = client.post(path, json=body)
        if role is None:
            assert_refused(response, 401)
        elif may(role, "operate_wall"):
            assert response.status_code in (200, 404), (role, path, response.get_data(as_text=True)[:200])  # nothing pending, nothing changed
        else:
            assert_refused(response, 403)


# --- callbacks ------------------------------------------------------------------------------------------


def callback_need(key: str) -> set[str]:
    from app.security.callbacks import output_ids

    needs = set()
    for component in output_ids(key):
        name = component.get("type") if isinstance(component, dict) else component
        needs.add(next(need for prefix, need in CALLBACK_OUTPUTS.items() if name.startswith(prefix)))
    return needs


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "nobody")
def test_every_callback_for_every_role(app, role):
    """Every callback the server runs, as a direct POST: refused with 401/403 and no data, or
    answered (200, 204 for no change, 400 for the empty inputs of this request)."""
    client = client_of(app.server, role)
    callbacks = server_callbacks(app)
    assert ROUTER in callbacks and len(callbacks) >= 5
    for key in callbacks:
        body = router_body("/wall") if key == ROUTER else callback_body(app, key)
        response = post_callback(client, body)
        needs = callback_need(key) | ({"view_wall"} if key == ROUTER else set())
        if role is None:
            assert_refused(response, 401)
        elif all(may(role, need) for need in needs):
            assert response.status_code in (200, 204, 400), (role, key, response.status_code, response.get_data(as_text=True)[:300])
        else:
            assert_refused(response, 403)


def test_a_wall_device_reaches_the_walls_and_nothing_else(app, secured_platform):
    from tests.app.conftest import DISTRICT_USERS

    assert DISTRICT_USERS["haizhou-wall"] == "wall"
    client = client_for(app.server, "haizhou-wall")
    assert client.get("/wall").status_code == 200
    assert client.get("/wall/default").status_code == 200
    assert post_callback(client, router_body("/wall/default")).status_code == 200
    for path in ("/", "/command", "/briefing", "/admin/users", "/api/v1/areas", f"/api/v1/incidents/{secured_platform.inside}", "/export/briefing/city.pdf"):
        assert_refused(client.get(path), 403)
    for path in ("/", "/command", "/no-such-page"):
        assert_refused(post_callback(client, router_body(path)), 403)
    home = next(key for key in server_callbacks(app) if "home-" in key)
    assert_refused(post_callback(client, callback_body(app, home)), 403)


# --- wall devices log in by token ------------------------------------------------------------------------


def test_a_wall_token_becomes_a_device_session(app, secured_platform):
    client = client_for(app.server, None)
    response = client.get(f"/wall/default?token={secured_platform.wall_token}&lang=en")
    assert response.status_code == 303 and response.headers["Location"] == "/wall/default?lang=en"
    assert response.headers["Cache-Control"] == "no-store"
    assert client.get("/wall/default?lang=en").status_code == 200  # the device session
    assert_refused(client.get("/command"), 403)
    [entry] = audit_rows(secured_platform.url, user="haizhou-wall", action="login")[:1]
    assert entry["detail"]["via"] == "wall_token"
    bad = client_for(app.server, None).get("/wall/default?token=" + "x" * 40)
    assert bad.status_code == 401 and secured_platform.wall_token not in bad.get_data(as_text=True)


# --- areas ---------------------------------------------------------------------------------------------------


def test_a_district_user_gets_403_for_other_districts_in_the_api(app, secured_platform):
    client = client_for(app.server, "haizhou-leader")
    for path in (f"/api/v1/areas/{GANYU}", f"/api/v1/areas/{GANYU}/summary", f"/api/v1/areas/{GANYU}/children", f"/api/v1/incidents?area={GANYU}",
                 "/api/v1/areas/320700", f"/api/v1/areas?parent={GANYU}", f"/api/v1/incidents/{secured_platform.outside}", "/api/v1/areas/999999"):
        response = client.get(path)
        assert response.status_code == 403, (path, response.get_data(as_text=True)[:200])
        assert response.get_json()["error"] == "forbidden"
    assert client.get(f"/api/v1/areas/{HAIZHOU}/children").status_code == 200
    assert client.get(f"/api/v1/incidents/{secured_platform.inside}").status_code == 200
    listed = client.get("/api/v1/areas").get_json()["items"]
    assert listed and all(item["code"].startswith(HAIZHOU) for item in listed)
    window = f"from={(dt.date.today() - dt.timedelta(days=300)).isoformat()}"
    incidents = client.get(f"/api/v1/incidents?limit=200&{window}").get_json()["items"]
    assert incidents and all(item["district_code"] == HAIZHOU for item in incidents)  # listings default to the user's area
    everyone = client_for(app.server, user_of("leader")).get(f"/api/v1/incidents?limit=200&{window}").get_json()["items"]
    assert {item["district_code"] for item in everyone} - {HAIZHOU}, "an unrestricted leader sees the whole city"


def test_a_district_user_sees_their_district_in_the_command_view(app, secured_platform):
    client = client_for(app.server, "haizhou-leader")
    # A shared link to another district: the user's own district and a banner.
    text = response_text(post_callback(client, router_body("/command", f"?area={GANYU}&lang=en")))
    assert "is outside your areas" in text and "Haizhou" in text and "Ganyu" not in text
    # A link to an incident elsewhere: refused, nothing of it shown.
    text = response_text(post_callback(client, router_body("/command", f"?incident={secured_platform.outside}&lang=en")))
    assert f'Incident \\"{secured_platform.outside}\\" is outside your areas' in text
    assert "王先生" not in text and "command-incident-heading" not in text
    # The same link inside the district opens it.
    text = response_text(post_callback(client, router_body("/command", f"?incident={secured_platform.inside}&lang=en")))
    assert "command-incident-heading" in text


def test_a_district_user_gets_their_district_on_the_wall_and_the_briefing(app):
    client = client_for(app.server, "haizhou-leader")
    text = client.get("/briefing/city?lang=en").get_data(as_text=True)
    assert "Haizhou" in text
    wall = post_callback(client, router_body("/wall/default", "?lang=en")).get_json()
    config = json.dumps(wall["response"]["_pages_content"])
    assert f'"area": "{HAIZHOU}"' in config or f'"area":"{HAIZHOU}"' in config


# --- the audit trail ---------------------------------------------------------------------------------------


def test_refusals_and_page_views_are_in_the_audit_log(app, secured_platform):
    client = client_for(app.server, user_of("analyst"))
    assert client.get("/admin/users").status_code == 403
    [denied] = [row for row in audit_rows(secured_platform.url, user=user_of("analyst"), action="access_denied") if row["target"] == "/admin/users"][:1]
    assert denied["outcome"] == "denied" and denied["role"] == "analyst" and "manage_users" in denied["detail"]["reason"]

    anonymous = client_for(app.server, None)
    assert post_callback(anonymous, router_body("/command")).status_code == 401
    assert any(row["user_name"] is None and row["target"] == "/_dash-update-component"
               for row in audit_rows(secured_platform.url, action="access_denied", limit=100_000))

    assert post_callback(client, router_body("/command", "?area=320706")).status_code == 200
    assert client.get("/briefing/city").status_code == 200
    views = audit_rows(secured_platform.url, user=user_of("analyst"), action="page_view")
    assert {"/command", "/briefing/city"} <= {row["target"] for row in views}
    assert any(row["target"] == "/command" and (row["detail"] or {}).get("search") == "?area=320706" for row in views)
