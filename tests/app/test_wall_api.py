"""The video walls' emergency routes of the JSON API (``/api/v1/walls/…``) on SQLite and PostGIS."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, insert, select, update

from app.live import HUB_KEY
from app.server import create_app
from queries.schema import Area, Incident, WallAlert
from queries.writes import data_version
from tests.app.conftest import make_settings, url_of

UTC = dt.timezone.utc
MINUTE = dt.timedelta(minutes=1)
PERSONAL = {"reporter_name", "reporter_phone", "address", "description"}
JSON_HEADERS = {"Content-Type": "application/json"}


def incident(id_, severity, minutes_ago, status="dispatched"):
    return {
        "id": id_, "category": "accident", "subtype": "fire", "severity": severity, "status": status, "channel": "119",
        "title": f"储罐起火 {id_}", "description": "现场浓烟", "address": "海州区建国路18号", "reporter_name": "张三",
        "reporter_phone": "13812345678", "lon": 119.2, "lat": 34.6,
        "reported_at": dt.datetime.now(UTC) - minutes_ago * MINUTE, "district_code": "320706", "street_code": None,
    }


@pytest.fixture
def wall_app(engine, tmp_path):
    with engine.begin() as conn:
        conn.execute(insert(Area), [
            {"code": "320700", "level": "city", "name": "连云港市", "name_en": "Lianyungang", "parent_code": None},
            {"code": "320706", "level": "district", "name": "海州区", "name_en": "Haizhou", "parent_code": "320700"},
        ])
        conn.execute(insert(Incident), [
            incident("SEV1", 1, 5), incident("SEV3", 3, 5), incident("OLD", 2, 90), incident("DONE", 1, 5, status="resolved"),
        ])
    server = create_app(make_settings(tmp_path, url_of(engine), wall_emergency_minutes=60)).server
    yield server
    server.extensions[HUB_KEY].close()
    context = server.extensions["cityops"]
    context.read_engine.dispose()
    context.engine.dispose()


@pytest.fixture
def client(wall_app):
    return wall_app.test_client()


def post(client, path, body=None, **kwargs):
    kwargs.setdefault("headers", JSON_HEADERS)
    return client.post(path, data=None if body is None else json.dumps(body), **kwargs)


def shown(client, wall="main"):
    response = client.get(f"/api/v1/walls/{wall}/emergency")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["emergency"]


def alert_rows(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(WallAlert)).scalar()


def test_get_shows_the_fresh_severe_incident_without_personal_data(client):
    response = client.get("/api/v1/walls/main/emergency")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store" and int(response.headers["X-Data-Version"]) >= 0
    body = response.get_json()
    assert body["wall_id"] == "main" and body["window_minutes"] == 60 and body["as_of"].endswith("+00:00")
    emergency = body["emergency"]
    assert emergency["id"] == "SEV1" and emergency["source"] == "auto" and emergency["severity"] == 1 and emergency["pending"] == 0
    assert emergency["district_name"] == "海州区" and emergency["expires_at"].endswith("+00:00")
    assert not PERSONAL & set(emergency)


def test_window_comes_from_the_settings(engine, tmp_path):
    with engine.begin() as conn:
        conn.execute(insert(Incident), [incident("TEN", 1, 10)])
    server = create_app(make_settings(tmp_path, url_of(engine), wall_emergency_minutes=5)).server
    try:
        body = server.test_client().get("/api/v1/walls/main/emergency").get_json()
        assert body["window_minutes"] == 5 and body["emergency"] is None
    finally:
        server.extensions[HUB_KEY].close()
        server.extensions["cityops"].engine.dispose()


def test_switch_by_hand_then_acknowledge_back_to_the_carousel(client, engine, wall_app):
    heard = []
    unsubscribe = wall_app.extensions[HUB_KEY].bus.subscribe(heard.append)
    try:
        before = int(client.get("/api/v1/walls/main/emergency").headers["X-Data-Version"])
        response = post(client, "/api/v1/walls/main/emergency", {"incident_id": "SEV3"})
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.headers["Cache-Control"] == "no-store"
        assert int(response.headers["X-Data-Version"]) == before + 1
        body = response.get_json()
        assert body["alert"]["source"] == "manual" and body["alert"]["acked_at"] is None and "data_version" not in body["alert"]
        assert body["emergency"]["id"] == "SEV3" and body["emergency"]["source"] == "manual" and body["emergency"]["pending"] == 1
        assert [(e.type, e.data_version, e.payload["dataset_code"]) for e in heard] == [("data_version", before + 1, "wall_alerts")]

        again = post(client, "/api/v1/walls/main/emergency", {"incident_id": "SEV3"})  # idempotent: no new version
        assert again.status_code == 200 and int(again.headers["X-Data-Version"]) == before + 1 and len(heard) == 1

        acked = post(client, "/api/v1/walls/main/acknowledge", {})
        assert acked.status_code == 200
        assert acked.get_json()["acknowledged"]["incident_id"] == "SEV3" and acked.get_json()["emergency"]["id"] == "SEV1"
        acked = post(client, "/api/v1/walls/main/acknowledge")  # an empty JSON body: the current one
        assert acked.get_json()["acknowledged"]["incident_id"] == "SEV1" and acked.get_json()["emergency"] is None
        assert int(acked.headers["X-Data-Version"]) == before + 3 and len(heard) == 3
        assert shown(client) is None and shown(client, "lobby")["id"] == "SEV1"  # per wall

        nothing = post(client, "/api/v1/walls/main/acknowledge", {"incident_id": None})
        assert nothing.status_code == 200 and nothing.get_json() == {"wall_id": "main", "acknowledged": None, "emergency": None}
        assert len(heard) == 3
    finally:
        unsubscribe()


def test_acknowledge_a_given_incident(client):
    response = post(client, "/api/v1/walls/lobby/acknowledge", {"incident_id": "SEV1"})
    assert response.status_code == 200
    assert response.get_json()["acknowledged"]["source"] == "auto" and response.get_json()["emergency"] is None
    assert post(client, "/api/v1/walls/lobby/acknowledge", {"incident_id": "SEV3"}).get_json()["acknowledged"] is None


def test_resolving_ends_a_manual_emergency(client, engine):
    post(client, "/api/v1/walls/main/emergency", {"incident_id": "SEV3"})
    with engine.begin() as conn:
        conn.execute(update(Incident).where(Incident.id.in_(["SEV3", "SEV1"])).values(status="closed"))
    assert shown(client) is None


@pytest.mark.parametrize("method, path, body, status, parameter", [
    ("post", "/api/v1/walls/main/emergency", {"incident_id": "NOPE"}, 404, "incident_id"),
    ("post", "/api/v1/walls/main/emergency", {"incident_id": "DONE"}, 409, "incident_id"),
    ("post", "/api/v1/walls/main/acknowledge", {"incident_id": "NOPE"}, 404, "incident_id"),
    ("post", "/api/v1/walls/main/emergency", {}, 400, "incident_id"),
    ("post", "/api/v1/walls/main/emergency", {"incident_id": None}, 400, "incident_id"),
    ("post", "/api/v1/walls/main/emergency", {"incident_id": 17}, 400, "incident_id"),
    ("post", "/api/v1/walls/main/emergency", {"incident_id": "a/b"}, 400, "incident_id"),
    ("post", "/api/v1/walls/main/emergency", {"incident_id": "x" * 65}, 400, "incident_id"),
    ("post", "/api/v1/walls/main/emergency", {"incident_id": "SEV1", "by": "me"}, 400, "by"),
    ("post", "/api/v1/walls/main/acknowledge", {"incident_id": ["SEV1"]}, 400, "incident_id"),
    ("post", "/api/v1/walls/Main/emergency", {"incident_id": "SEV1"}, 400, "wall_id"),
    ("post", "/api/v1/walls/-main/acknowledge", {}, 400, "wall_id"),
    ("get", "/api/v1/walls/" + "w" * 65 + "/emergency", None, 400, "wall_id"),
    ("get", "/api/v1/walls/wall%20one/emergency", None, 400, "wall_id"),
    ("get", "/api/v1/walls/main/emergency?lang=en", None, 400, "lang"),
])
def test_bad_input_is_a_clear_json_error_and_changes_nothing(client, engine, method, path, body, status, parameter):
    before = alert_rows(engine)
    response = post(client, path, body) if method == "post" else client.get(path)
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()
    assert error["parameter"] == parameter and error["message"] and "Traceback" not in error["message"]
    assert error["error"] == {400: "bad_parameter", 404: "not_found", 409: "conflict"}[status]
    assert response.headers["Cache-Control"] == "no-store"
    assert alert_rows(engine) == before


@pytest.mark.parametrize("headers, data", [
    ({}, json.dumps({"incident_id": "SEV3"})),  # no content type
    ({"Content-Type": "application/x-www-form-urlencoded"}, "incident_id=SEV3"),
    ({"Content-Type": "text/plain"}, json.dumps({"incident_id": "SEV3"})),
    ({"Content-Type": "multipart/form-data; boundary=x"}, "--x--"),
])
def test_only_json_bodies_are_accepted(client, engine, headers, data):
    for path in ("/api/v1/walls/main/emergency", "/api/v1/walls/main/acknowledge"):
        response = client.post(path, data=data, headers=headers)
        assert response.status_code == 415, response.get_data(as_text=True)
        assert response.get_json()["error"] == "unsupported_media_type" and "application/json" in response.get_json()["message"]
    assert alert_rows(engine) == 0


def test_charset_parameter_is_fine_and_malformed_or_large_bodies_are_refused(client, engine):
    ok = client.post("/api/v1/walls/main/emergency", data=json.dumps({"incident_id": "SEV3"}), headers={"Content-Type": "application/json; charset=utf-8"})
    assert ok.status_code == 200
    for data in ("{", "[1, 2]", '"SEV3"', "null", b"\xff\xfe"):
        response = client.post("/api/v1/walls/main/acknowledge", data=data, headers=JSON_HEADERS)
        assert response.status_code == 400 and response.get_json()["error"] == "bad_parameter", data
    response = client.post("/api/v1/walls/main/emergency", data=json.dumps({"incident_id": "SEV3", "pad": "x" * 5000}), headers=JSON_HEADERS)
    assert response.status_code == 413 and response.get_json()["error"] == "payload_too_large"


def test_other_methods_are_json_405_naming_the_allowed_ones(client):
    response = client.get("/api/v1/walls/main/acknowledge")
    assert response.status_code == 405 and response.headers["Allow"] == "POST" and response.get_json()["error"] == "method_not_allowed"
    response = client.delete("/api/v1/walls/main/emergency")
    assert response.status_code == 405 and response.headers["Allow"] == "GET, HEAD, POST"
    response = client.post("/api/v1/areas", headers=JSON_HEADERS)
    assert response.status_code == 405 and response.headers["Allow"] == "GET, HEAD"
    assert client.post("/api/v1/walls/main/nowhere", headers=JSON_HEADERS).status_code == 404


def test_openapi_documents_the_wall_routes(client):
    document = client.get("/api/v1/openapi.json").get_json()
    paths = document["paths"]
    assert set(paths["/walls/{wall_id}/emergency"]) == {"get", "post"} and set(paths["/walls/{wall_id}/acknowledge"]) == {"post"}
    schemas = document["components"]["schemas"]
    for path, method, required in (("/walls/{wall_id}/emergency", "post", ["incident_id"]), ("/walls/{wall_id}/acknowledge", "post", [])):
        operation = paths[path][method]
        body = operation["requestBody"]
        assert list(body["content"]) == ["application/json"] and body["required"] is bool(required)
        assert body["content"]["application/json"]["schema"]["required"] == required
        assert body["content"]["application/json"]["schema"]["additionalProperties"] is False
        assert {"200", "400", "404", "413", "415", "503"} <= set(operation["responses"])
        assert "access control" in operation["description"] and "JSON" in operation["description"]
        assert [p["name"] for p in operation["parameters"]] == ["wall_id"]
        wall = operation["parameters"][0]
        assert wall["in"] == "path" and wall["required"] is True and wall["schema"]["pattern"] == "^[a-z0-9][a-z0-9_-]{0,63}$"
    assert "409" in paths["/walls/{wall_id}/emergency"]["post"]["responses"]
    get = paths["/walls/{wall_id}/emergency"]["get"]
    assert get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/WallEmergency"
    assert set(schemas["Emergency"]["required"]) <= set(shown(client)) and set(schemas["WallEmergency"]["required"]) <= set(client.get("/api/v1/walls/main/emergency").get_json())
    assert {"conflict", "unsupported_media_type", "payload_too_large"} <= set(schemas["Error"]["properties"]["error"]["enum"])


def test_the_data_version_header_follows_the_write(client, engine):
    response = post(client, "/api/v1/walls/main/emergency", {"incident_id": "SEV3"})
    with engine.connect() as conn:
        assert int(response.headers["X-Data-Version"]) == data_version(conn)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=70),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3), max_leaves=6,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/api/v1/walls/main/emergency", "/api/v1/walls/main/acknowledge"]),
       body=st.one_of(JSON_VALUES, st.dictionaries(st.just("incident_id"), JSON_VALUES, min_size=1)))
def test_random_bodies_never_500(client, path, body):
    response = client.post(path, data=json.dumps(body), headers=JSON_HEADERS)
    assert response.status_code in (200, 400, 404, 409), (path, body, response.get_data(as_text=True))
    assert response.mimetype == "application/json"


def test_deeply_nested_json_is_a_400(client):
    response = client.post("/api/v1/walls/main/acknowledge", data="[" * 2000 + "]" * 2000, headers=JSON_HEADERS)
    assert response.status_code == 400 and response.get_json()["error"] == "bad_parameter"
