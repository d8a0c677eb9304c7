"""Personal data — names, phone numbers, ID-card numbers, exact addresses — in clear only for the
roles that need them (commanders, administrators: ``see_personal_data``), masked for everyone else:
in the UI (the command view's incident detail and lists), the API, the live stream, the cache (a
masked caller never reads an entry made for a clear one) and exports (always masked)."""
from __future__ import annotations

import json

import pytest

from app.masking import mask_personal, mask_text, sees_clear
from app.security import identity_for
from tests.app.conftest import (
    PII_ADDRESS,
    PII_ID_CARD,
    PII_NAME,
    PII_PHONE,
    client_for,
    post_callback,
    response_text,
    router_body,
    server_callbacks,
    user_of,
)

MASKED_PHONE = PII_PHONE[:3] + "****" + PII_PHONE[-4:]
RECORD = {"id": "X", "title": f"王先生{PII_PHONE}反映身份证{PII_ID_CARD}", "description": f"回电{PII_PHONE}", "reporter_name": PII_NAME,
          "reporter_phone": PII_PHONE, "address": PII_ADDRESS, "caller_name": "李四", "caller_phone": "0518-85812345", "content": f"身份证{PII_ID_CARD}",
          "events": [{"note": f"已联系{PII_PHONE}"}], "severity": 2}


@pytest.fixture(scope="module")
def app(secured_platform):
    dash_app = secured_platform.app()
    server_callbacks(dash_app)
    return dash_app


def assert_no_clear_personal_data(text: str) -> None:
    for value in (PII_PHONE, PII_ID_CARD, PII_NAME, PII_ADDRESS):
        assert value not in text, f"{value} in clear"


# --- the rule ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role, clear", [("commander", True), ("admin", True), ("leader", False), ("analyst", False), ("wall", False)])
def test_who_sees_personal_data_in_clear(role, clear):
    viewer = identity_for("someone", role)
    shown = mask_personal(RECORD, viewer)
    assert sees_clear(viewer) is clear
    if clear:
        assert shown == RECORD
    else:
        assert_no_clear_personal_data(json.dumps(shown, ensure_ascii=False))
        assert "85812345" not in shown["caller_phone"] and shown["caller_name"] == "李*"
        assert shown["reporter_phone"] == MASKED_PHONE and shown["severity"] == 2
        assert shown["events"][0]["note"] == f"已联系{MASKED_PHONE}"
    assert RECORD["reporter_phone"] == PII_PHONE  # the caller's record is not changed


def test_nobody_and_every_export_see_masked_data():
    assert_no_clear_personal_data(json.dumps(mask_personal(RECORD, None), ensure_ascii=False))
    export = identity_for("test-admin", "admin", via="export")  # an export made by an administrator
    assert not sees_clear(export)
    assert_no_clear_personal_data(json.dumps(mask_personal(RECORD, export), ensure_ascii=False))
    assert mask_text(RECORD["title"], export) == mask_text(RECORD["title"], None) != RECORD["title"]


# --- the UI: the command view -----------------------------------------------------------------------------------


def incident_page(app, user: str, incident_id: str, **headers) -> str:
    answer = post_callback(client_for(app.server, user), router_body("/command", f"?incident={incident_id}&lang=en"), headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    return response_text(answer)


def test_the_incident_detail_is_clear_for_a_commander_and_masked_for_a_leader(app, secured_platform):
    clear = incident_page(app, user_of("commander"), secured_platform.inside)
    assert PII_PHONE in clear and PII_NAME in clear and PII_ADDRESS in clear and PII_ID_CARD in clear
    assert "Personal data masked" not in clear
    masked = incident_page(app, user_of("leader"), secured_platform.inside)
    assert_no_clear_personal_data(masked)
    assert MASKED_PHONE in masked and "Personal data masked" in masked
    assert "command-incident-heading" in masked


def test_incident_lists_mask_numbers_in_titles(app, secured_platform):
    from tests.app.conftest import HAIZHOU

    grid = secured_platform_grid(secured_platform)
    masked = response_text(post_callback(client_for(app.server, user_of("analyst")), router_body("/command", f"?area={grid}&t=7d&lang=en")))
    assert secured_platform.inside in masked and MASKED_PHONE in masked
    assert_no_clear_personal_data(masked)
    clear = response_text(post_callback(client_for(app.server, user_of("admin")), router_body("/command", f"?area={grid}&t=7d&lang=en")))
    assert PII_PHONE in clear
    assert grid.startswith(HAIZHOU)


def secured_platform_grid(platform) -> str:
    from sqlalchemy import select

    from queries.db import make_engine
    from queries.schema import Incident

    engine = make_engine(platform.url)
    with engine.connect() as conn:
        grid = conn.scalar(select(Incident.grid_code).where(Incident.id == platform.inside))
    engine.dispose()
    return grid


# --- the API ------------------------------------------------------------------------------------------------


def test_the_api_never_serves_personal_fields_and_masks_titles(app, secured_platform):
    masked = client_for(app.server, user_of("leader")).get(f"/api/v1/incidents/{secured_platform.inside}").get_json()
    assert secured_platform.inside == masked["id"]
    assert not {"reporter_name", "reporter_phone", "address"} & set(masked)
    assert MASKED_PHONE in masked["title"] and PII_PHONE not in json.dumps(masked)
    clear = client_for(app.server, user_of("commander")).get(f"/api/v1/incidents/{secured_platform.inside}").get_json()
    assert not {"reporter_name", "reporter_phone", "address"} & set(clear)
    assert PII_PHONE in clear["title"]
    listing = response_text(client_for(app.server, user_of("analyst")).get("/api/v1/incidents?limit=1000&from=" + "2026-01-01"))
    assert_no_clear_personal_data(listing)


# --- the cache ------------------------------------------------------------------------------------------------


def test_a_leader_after_a_commander_gets_masked_data_and_no_clear_entry(secured_platform):
    """A commander's call fills the cache with clear data in the commander's scope; a leader's call
    afterwards is masked, from an entry of its own that never held clear data."""
    from app.command.data import masked_incident_detail
    from queries.incidents import incident_detail

    fresh = secured_platform.app()  # a cold cache
    server_callbacks(fresh)
    clear = incident_page(fresh, user_of("commander"), secured_platform.inside)
    assert PII_PHONE in clear
    masked = incident_page(fresh, user_of("leader"), secured_platform.inside)
    assert_no_clear_personal_data(masked)

    context = fresh.server.extensions["cityops"]
    cache, engine = context.cache, context.query_engine
    leader, commander = identity_for(user_of("leader"), "leader"), identity_for(user_of("commander"), "commander")
    masked_entry = cache.memory.get(cache.key_of(engine, masked_incident_detail, secured_platform.inside, scope=leader.cache_scope))
    clear_entry = cache.memory.get(cache.key_of(engine, incident_detail, secured_platform.inside, include_personal=True, scope=commander.cache_scope))
    assert masked_entry is not None and clear_entry is not None
    assert PII_PHONE.encode() not in masked_entry and MASKED_PHONE.encode() in masked_entry
    assert PII_PHONE.encode() in clear_entry
    assert leader.cache_scope != commander.cache_scope
    # No entry of a masked scope holds a clear number.
    for key, (_, data) in list(cache.memory._entries.items()):
        if ":masked:" in key:
            assert PII_PHONE.encode() not in data, key


def test_cache_scopes_are_valid_keys_of_the_query_cache():
    from queries.cache import SCOPE_PATTERN

    for identity in (identity_for("a", "commander", ["320706", "320707"]), identity_for("a", "leader"), identity_for("a", "wall", ["3" * 15] * 12)):
        assert SCOPE_PATTERN.match(identity.cache_scope), identity.cache_scope
    assert identity_for("a", "leader", ["320706"]).cache_scope != identity_for("a", "leader", ["320707"]).cache_scope


# --- exports: always masked -----------------------------------------------------------------------------------


def export_client(app, role: str, target: str):
    from app.export import EXPORT_COOKIE, make_export_token
    from tests.app.conftest import signed_in_client

    token = make_export_token(app.server.secret_key, lang="en", viewer={"user": user_of(role), "role": role, "areas": []}, target=target)
    client = signed_in_client(app.server, None)
    client.set_cookie(EXPORT_COOKIE, token, domain="localhost")
    return client


def test_an_export_is_masked_even_for_a_commander(app, secured_platform):
    """The export browser carries the requester (app.export's token): a commander's export of a page
    shows what a masked viewer sees."""
    client = export_client(app, "commander", "briefing/city")
    page = client.get("/briefing/city?print=1&lang=en")
    assert page.status_code == 200
    assert_no_clear_personal_data(page.get_data(as_text=True))
    answer = post_callback(client, router_body("/command", f"?incident={secured_platform.inside}&lang=en"))
    assert answer.status_code == 200
    assert_no_clear_personal_data(response_text(answer))
    assert MASKED_PHONE in response_text(answer)


def test_an_export_browser_may_only_read(app):
    client = export_client(app, "admin", "briefing/city")
    assert client.post("/api/v1/walls/default/acknowledge", json={}).status_code == 403
    assert client.get("/api/v1/areas").status_code == 403
    assert client.get("/export/briefing/city.pdf").status_code == 403
    assert client.get("/admin/users").status_code == 200  # a page its requester may read


# --- the live stream -----------------------------------------------------------------------------------------


def test_live_events_are_masked_and_limited_to_the_callers_areas():
    from app.live import for_viewer
    from queries.bus import Event

    inside = Event("incident:1:1", "incident.new", "2026-11-21T08:00:00+00:00", 7, {"incident_id": "1", "title": f"电话{PII_PHONE}", "district_code": "320706"})
    outside = Event("incident:2:1", "incident.new", "2026-11-21T08:00:00+00:00", 7, {"incident_id": "2", "title": "x", "district_code": "320707"})
    version = Event("data_version:7", "data_version", "2026-11-21T08:00:00+00:00", 7, {"dataset_code": "ops.incidents"})
    district_leader = identity_for("a", "leader", ["320706"])
    assert for_viewer(outside, district_leader) is None
    assert for_viewer(version, district_leader) is version
    assert for_viewer(inside, district_leader).payload["title"] == f"电话{MASKED_PHONE}"
    assert for_viewer(inside, identity_for("b", "commander")).payload["title"] == f"电话{PII_PHONE}"
    assert inside.payload["title"] == f"电话{PII_PHONE}"  # the hub's event is not changed
