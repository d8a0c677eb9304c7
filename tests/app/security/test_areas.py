"""Users limited to areas, through the app: the overview counts only their areas (all of them, a
union), a wall's emergency is the best one of their areas, and a district commander operates
only the walls of their district — refused elsewhere with 403 and an ``access_denied`` entry.

A platform of its own (two districts, a few incidents of severity I and II just reported), so the
emergencies made here never reach the walls of other tests."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import insert

from queries.auth import add_user
from queries.db import make_engine
from queries.migrate import ensure_schema
from queries.schema import Incident
from tests.app.conftest import (
    GANYU,
    HAIZHOU,
    TEST_PASSWORD,
    audit_rows,
    client_for,
    ensure_test_users,
    make_settings,
    post_callback,
    response_text,
    router_body,
    seed_small_platform,
    user_of,
)

DISTRICT_COMMANDER, TWO_DISTRICTS = "hz-commander", "hz-gy-leader"
# (id, district, severity, minutes ago): Ganyu's is the city's newest severity I; Haizhou has two.
INCIDENTS = (("ACL-G1", GANYU, 1, 2), ("ACL-H1", HAIZHOU, 1, 20), ("ACL-H2", HAIZHOU, 2, 5), ("ACL-G2", GANYU, 3, 1), ("ACL-G3", GANYU, 4, 3))


class Platform:
    def __init__(self, url: str, folder):
        self.url, self.folder = url, folder

    def app(self):
        from app.server import create_app

        return create_app(make_settings(self.folder, self.url))


@pytest.fixture(scope="module")
def platform(tmp_path_factory) -> Platform:
    folder = tmp_path_factory.mktemp("areas")
    url = f"sqlite:///{folder / 'areas.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    seed_small_platform(engine)
    ensure_test_users(engine)
    now = dt.datetime.now(dt.timezone.utc)
    with engine.begin() as conn:
        add_user(conn, DISTRICT_COMMANDER, "commander", TEST_PASSWORD, areas=[HAIZHOU])
        add_user(conn, TWO_DISTRICTS, "leader", TEST_PASSWORD, areas=[HAIZHOU, GANYU])
        conn.execute(insert(Incident), [
            {"id": id_, "category": "accident", "subtype": "fire", "severity": severity, "status": "reported", "title": f"火情 {id_}",
             "reported_at": now - dt.timedelta(minutes=minutes), "district_code": district, "street_code": f"{district}001", "lon": 119.2, "lat": 34.6}
            for id_, district, severity, minutes in INCIDENTS
        ])
    engine.dispose()
    return Platform(url, folder)


@pytest.fixture(scope="module")
def server(platform):
    server = platform.app().server
    yield server
    context = server.extensions["cityops"]
    context.read_engine.dispose()
    context.engine.dispose()


def client(server, user: str):
    return client_for(server, user)


def components(tree):
    """Every component (a dict with ``props``) of a Dash layout tree, depth first."""
    if isinstance(tree, dict):
        if "props" in tree:
            yield tree
        for value in tree.values():
            yield from components(value)
    elif isinstance(tree, list):
        for item in tree:
            yield from components(item)


def text_of(tree) -> str:
    if isinstance(tree, str):
        return tree
    if isinstance(tree, dict):
        return text_of(tree.get("props", {}).get("children"))
    if isinstance(tree, list):
        return "".join(text_of(item) for item in tree)
    return ""


def home(server, user: str) -> dict:
    """The overview as ``user`` gets it (English): metric label → value, the scope line, the live list's incidents."""
    response = post_callback(client(server, user), router_body("/", "?lang=en"))
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    tree = response.get_json()["response"]["_pages_content"]["children"]
    metrics = {}
    for component in components(tree):
        if "metric-card" in str(component["props"].get("className") or ""):
            value, label = component["props"]["children"]
            metrics[text_of(label)] = int(text_of(value).replace(",", ""))
    scope = next((text_of(c) for c in components(tree) if c["props"].get("id") == "home-scope"), None)
    listed = [c["props"]["data-incident-id"] for c in components(tree) if "data-incident-id" in c["props"]]
    return {"metrics": metrics, "scope": scope, "listed": listed}


# --- the overview ----------------------------------------------------------------------------------------------


def test_the_overview_counts_the_users_areas_only(server):
    city = home(server, user_of("leader"))
    district = home(server, DISTRICT_COMMANDER)
    both = home(server, TWO_DISTRICTS)
    assert city["metrics"]["Incidents"] == 5 and city["metrics"]["district/county"] == 2 and city["scope"] is None
    assert district["metrics"]["Incidents"] == 2 and district["metrics"]["district/county"] == 1 and district["metrics"]["city"] == 0
    assert district["scope"] == "Counts for: Haizhou"
    assert set(district["listed"]) == {"ACL-H1", "ACL-H2"}  # the latest incidents: theirs only
    assert both["metrics"]["Incidents"] == 5 and both["metrics"]["district/county"] == 2  # several areas: all of them
    assert both["scope"] == "Counts for: Haizhou, Ganyu" and set(both["listed"]) == {id_ for id_, *_ in INCIDENTS}
    chinese = response_text(post_callback(client(server, DISTRICT_COMMANDER), router_body("/")))
    assert "统计范围：海州区" in chinese


# --- the walls' emergency mode -----------------------------------------------------------------------------------


def emergency(server, user: str, wall: str) -> str | None:
    response = client(server, user).get(f"/api/v1/walls/{wall}/emergency")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    shown = response.get_json()["emergency"]
    return shown and shown["id"]


def test_a_walls_emergency_is_the_best_one_in_the_callers_areas(server):
    assert emergency(server, user_of("commander"), "default") == "ACL-G1"  # the whole city: Ganyu's, the newest severity I
    assert emergency(server, DISTRICT_COMMANDER, "default") == "ACL-H1"  # Haizhou's best, not null behind Ganyu's
    assert emergency(server, TWO_DISTRICTS, "default") == "ACL-G1"


def refused_on_wall(response, platform, user: str, wall: str, action: str) -> None:
    assert response.status_code == 403, response.get_data(as_text=True)[:300]
    body = response.get_json()
    assert body["error"] == "forbidden" and body["parameter"] == "wall_id" and "outside your areas" in body["message"]
    entries = [row for row in audit_rows(platform.url, user=user, action="access_denied") if row["target"] == f"wall/{wall}"]
    assert any((row["detail"] or {}).get("action") == action and row["outcome"] == "denied" for row in entries), entries


@pytest.mark.parametrize("wall", ["default", "no-such-wall"])
def test_a_district_commander_may_not_operate_the_citys_walls_or_unknown_ones(server, platform, wall):
    commander = client(server, DISTRICT_COMMANDER)
    switch = commander.post(f"/api/v1/walls/{wall}/emergency", json={"incident_id": "ACL-H2"})
    refused_on_wall(switch, platform, DISTRICT_COMMANDER, wall, "wall_emergency")
    ack = commander.post(f"/api/v1/walls/{wall}/acknowledge", json={})
    refused_on_wall(ack, platform, DISTRICT_COMMANDER, wall, "wall_ack")
    assert emergency(server, user_of("commander"), "default") == "ACL-G1"  # nothing changed
    assert not [row for row in audit_rows(platform.url, user=DISTRICT_COMMANDER) if row["action"] in ("wall_emergency", "wall_ack")
                and row["target"] == f"wall/{wall}"]


def test_a_district_commander_operates_their_districts_wall_for_their_incidents(server, platform):
    commander = client(server, DISTRICT_COMMANDER)
    elsewhere = commander.post("/api/v1/walls/haizhou/emergency", json={"incident_id": "ACL-G2"})
    assert elsewhere.status_code == 403 and elsewhere.get_json()["parameter"] == "incident_id"

    # Acknowledging without an id: the one shown to them (Haizhou's best), never Ganyu's at the top of the wall.
    acked = commander.post("/api/v1/walls/haizhou/acknowledge", json={})
    assert acked.status_code == 200, acked.get_data(as_text=True)[:300]
    assert acked.get_json()["acknowledged"]["incident_id"] == "ACL-H1" and acked.get_json()["emergency"]["id"] == "ACL-H2"
    assert emergency(server, user_of("commander"), "haizhou") == "ACL-G1"  # still pending for the city's people
    assert commander.post("/api/v1/walls/haizhou/acknowledge", json={"incident_id": "ACL-G1"}).status_code == 403

    switched = commander.post("/api/v1/walls/haizhou/emergency", json={"incident_id": "ACL-H1"})
    assert switched.status_code == 200 and switched.get_json()["emergency"]["id"] == "ACL-H1"
    assert emergency(server, user_of("commander"), "haizhou") == "ACL-H1"  # a manual switch comes first
    done = commander.post("/api/v1/walls/haizhou/acknowledge", json={"incident_id": "ACL-H1"})
    assert done.status_code == 200 and done.get_json()["acknowledged"]["incident_id"] == "ACL-H1"

    actions = [(row["action"], row["target"], row["detail"]["incident_id"]) for row in audit_rows(platform.url, user=DISTRICT_COMMANDER)
               if row["action"] in ("wall_emergency", "wall_ack")]
    assert actions == [("wall_ack", "wall/haizhou", "ACL-H1"), ("wall_emergency", "wall/haizhou", "ACL-H1"), ("wall_ack", "wall/haizhou", "ACL-H1")]


def test_the_emergency_routes_are_described_with_the_area_rule(server):
    document = client(server, user_of("leader")).get("/api/v1/openapi.json").get_json()
    text = json.dumps(document["paths"]["/walls/{wall_id}/emergency"], ensure_ascii=False)
    assert "limited to areas" in text
