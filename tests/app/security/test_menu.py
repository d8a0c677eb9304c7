"""The shell's menu offers only what the signed-in role may open, built on the server for that
caller: in the layout (``/_dash-layout``), in the header callback and in the briefing's own menu.
What each page needs is written out here again, independently of ``app.security.access``."""
from __future__ import annotations

import re

import pytest

from app.security import CAPABILITIES
from tests.app.conftest import TEST_ROLES, callback_body, client_for, post_callback, server_callbacks, user_of

# Every page a menu may offer, and what opening it needs.
MENU_NEEDS = {"/": "view_overview", "/command": "view_command", "/wall": "view_wall", "/briefing": "view_briefing",
              "/studio": "edit_specs", "/catalog": "view_catalog"}
HEADER = "..shell-header.children...shell-root.className...shell-lang.data.."


@pytest.fixture(scope="module")
def app(secured_platform):
    dash_app = secured_platform.app()
    server_callbacks(dash_app)
    return dash_app


def links(tree) -> list[str]:
    """The menu's targets (paths, no query) in a Dash layout tree."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            props = node.get("props")
            if isinstance(props, dict) and "shell-nav-link" in str(props.get("className") or ""):
                found.append(props["href"].split("?")[0])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(tree)
    return found


def expected(role: str, offered: list[str]) -> list[str]:
    return [path for path in offered if MENU_NEEDS[path] in CAPABILITIES[role]]


@pytest.fixture(scope="module")
def everything(app) -> list[str]:
    """The admin's menu: every page there is (admins may open all of them)."""
    layout = client_for(app.server, user_of("admin")).get("/_dash-layout").get_json()
    offered = links(layout)
    assert {"/", "/command", "/wall", "/briefing"} <= set(offered) and set(offered) <= set(MENU_NEEDS), offered
    return offered


@pytest.mark.parametrize("role", TEST_ROLES)
def test_the_layout_offers_what_the_role_may_open(app, everything, role):
    response = client_for(app.server, user_of(role)).get("/_dash-layout")
    assert response.status_code == 200
    assert links(response.get_json()) == expected(role, everything)


@pytest.mark.parametrize("role", TEST_ROLES)
def test_the_header_callback_offers_what_the_role_may_open(app, everything, role):
    body = callback_body(app, HEADER, {"shell-url.pathname": "/wall/default", "shell-url.search": "?lang=en"}, ["shell-url.pathname"])
    response = post_callback(client_for(app.server, user_of(role)), body)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert links(response.get_json()["response"]["shell-header"]["children"]) == expected(role, everything)


def test_a_wall_device_is_offered_the_wall_alone_and_nobody_nothing(app, everything):
    wall = client_for(app.server, user_of("wall")).get("/_dash-layout").get_json()
    assert links(wall) == ["/wall"]
    assert client_for(app.server, None).get("/_dash-layout").status_code == 401


@pytest.mark.parametrize("role", ["leader", "analyst", "admin"])
def test_the_briefings_menu_offers_what_the_role_may_open(app, everything, role):
    page = client_for(app.server, user_of(role)).get("/briefing/city?lang=en")
    assert page.status_code == 200
    nav = re.search(r'<nav class="b-nav"[^>]*>(.*?)</nav>', page.get_data(as_text=True), re.DOTALL).group(1)
    assert [href.split("?")[0] for href in re.findall(r'href="([^"]+)"', nav)] == expected(role, everything)


def test_outside_a_request_the_frame_lists_every_page(app):
    from app.shell import ALL, nav_entries

    assert [entry["path"] for entry in nav_entries("en")] == [entry["path"] for entry in nav_entries("en", ALL)]
    with app.server.test_request_context("/"):
        import flask

        from app.security import identity_for

        flask.g.cityops_identity = identity_for("someone", "leader")
        assert "/studio" not in [entry["path"] for entry in nav_entries("en")]
        flask.g.cityops_identity = None
        assert nav_entries("en") == []
