"""Hostile input, generated (hypothesis): malformed area codes, dates, ids, enum values, huge
strings and values of the wrong type thrown at the URL parameters of the pages (/command,
/wall/<id>, /briefing/<id>), the JSON API and the inputs of every server callback — by a user
limited to one district.

Whatever comes in: never a 500, never a stack trace, and nothing of the other districts out.
"""
from __future__ import annotations

import json
import re
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.app.conftest import (
    HAIZHOU,
    ROUTER,
    callback_body,
    client_for,
    post_callback,
    response_text,
    router_body,
    server_callbacks,
)

DISTRICT_USER = "haizhou-leader"
ALLOWED = {200, 204, 400, 403, 404}
OTHER_DISTRICTS = ("赣榆", "Ganyu", "东海县", "Donghai", "灌云", "Guanyun", "灌南", "Guannan", "连云区", "Lianyun District")
FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Values people and attackers put in URLs and stores.
AREA_LIKE = st.sampled_from(["320706", "320707", "320700", "320706001", "3207060010010", "999999", "32070", "3207061234567890", "", " ", "320706\n",
                             "../320707", "320706,320707", "０３２０７０６", "1e5", "null"])
TIME_LIKE = st.sampled_from(["2026-11-21", "2026-11-21T08:00", "2026-11-21T08:00:00+08:00", "1969-12-31", "2100-01-01", "9999-12-31T23:59:59",
                             "0001-01-01", "2026-13-01", "2026-02-30", "yesterday", "", "2026-11-21T25:00", "+002026-11-21", "2026-11-21T08:00Z"])
ENUM_LIKE = st.sampled_from(["1", "II", "IV", "V", "0", "-1", "accident", "reported", "12345", "custom", "24h", "7d", "boundaries", "incidents,nope",
                             "zh", "en", "EN", "xx", ",", ",,,", "1,1,1"])
HUGE = st.sampled_from(["x" * 10_000, "区" * 5000, "%00" * 1000, "\u202e" * 100, "<script>alert(1)</script>", "'; DROP TABLE incidents; --"])
TEXT = st.one_of(st.text(max_size=40), AREA_LIKE, TIME_LIKE, ENUM_LIKE, HUGE)
PARAM_NAMES = st.sampled_from(["area", "incident", "layers", "t", "from", "to", "category", "severity", "status", "channel", "lang", "print",
                               "limit", "offset", "level", "parent", "metric", "types", "token", "wall_id", "__proto__", "", "a" * 300])
QUERY = st.lists(st.tuples(PARAM_NAMES, TEXT), max_size=6)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12) | PARAM_NAMES, children, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def app(secured_platform):
    dash_app = secured_platform.app()
    server_callbacks(dash_app)
    return dash_app


@pytest.fixture(scope="module")
def client(app):
    return client_for(app.server, DISTRICT_USER)


def search_of(pairs) -> str:
    return "?" + urlencode(pairs) if pairs else ""


def assert_safe(response, sent: str = "", outside: str | None = None) -> str:
    """No 500, no trace, nothing of another district (unless the request itself carried it)."""
    text = response_text(response)
    event(f"HTTP {response.status_code}")  # shown by --hypothesis-show-statistics
    assert response.status_code in ALLOWED, (response.status_code, text[:500])
    assert "Traceback" not in text and 'File "/' not in text
    for name in OTHER_DISTRICTS:
        assert name in sent or name not in text, f"{name!r} in the answer"
    if outside is not None:
        assert outside in sent or outside not in text, "an incident of another district in the answer"
    return text


AREA_KEYS = ("code", "district_code", "street_code", "community_code", "grid_code")


def api_codes(value):
    """Every area code a JSON answer of the API names as what it is about (``parent``: the way up)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in AREA_KEYS and isinstance(item, str) and re.fullmatch(r"[0-9]{6,15}", item):  # not dataset codes
                yield item
            else:
                yield from api_codes(item)
    elif isinstance(value, list):
        for item in value:
            yield from api_codes(item)


# --- URL parameters ------------------------------------------------------------------------------------------


@FUZZ
@given(pairs=QUERY)
def test_command_url_parameters(client, secured_platform, pairs):
    search = search_of(pairs)
    assert_safe(post_callback(client, router_body("/command", search)), search, secured_platform.outside)


@FUZZ
@given(pairs=QUERY, incident=st.sampled_from(["", "incident="]))
def test_command_incident_links(client, secured_platform, pairs, incident):
    pairs = [*pairs, ("incident", secured_platform.outside)] if incident else pairs
    text = assert_safe(post_callback(client, router_body("/command", search_of(pairs))), "", None)
    assert "command-incident-heading" not in text or secured_platform.outside not in text


@FUZZ
@given(segment=TEXT, pairs=QUERY)
def test_wall_and_page_paths(client, segment, pairs):
    for pathname in (f"/wall/{segment}", f"/wall/{quote(segment, safe='')}", f"/{segment}", f"/command/{segment}"):
        assert_safe(post_callback(client, router_body(pathname, search_of(pairs))), pathname + search_of(pairs))


@FUZZ
@given(segment=TEXT, pairs=QUERY)
def test_briefing_paths_and_parameters(client, segment, pairs):
    for path in (f"/briefing/{quote(segment, safe='')}", "/briefing/city", "/briefing"):
        query = urlencode(pairs)
        response = client.get(f"{path}?{query}" if query else path)
        assert_safe(response, path + query)


API_PATHS = ("/api/v1/areas", "/api/v1/areas/{}", "/api/v1/areas/{}/summary", "/api/v1/areas/{}/children", "/api/v1/incidents",
             "/api/v1/incidents/{}", "/api/v1/datasets", "/api/v1/walls/{}/emergency", "/api/v1/{}")


@FUZZ
@given(template=st.sampled_from(API_PATHS), segment=st.one_of(AREA_LIKE, TEXT), pairs=QUERY)
def test_api_parameters(client, secured_platform, template, segment, pairs):
    path = template.format(quote(segment, safe="") or "x")
    query = urlencode(pairs)
    response = client.get(f"{path}?{query}" if query else path)
    text = assert_safe(response, path + query, secured_platform.outside)
    if response.status_code == 200:
        body = json.loads(text)
        outside = [code for code in api_codes(body) if not code.startswith(HAIZHOU)]
        assert not outside, f"codes outside the user's district: {outside[:5]}"


# --- callback inputs -------------------------------------------------------------------------------------


def fuzzed_body(app, key: str, values: dict, trigger: str | None) -> dict:
    body = callback_body(app, key, values, [trigger] if trigger else None)
    return body


def named_inputs(app, key: str) -> list[str]:
    spec = app.callback_map[key]
    return [f"{item['id']}.{item['property']}" for item in [*spec["inputs"], *spec["state"]] if not str(item["id"]).startswith("{")]


def good_values(app, secured_platform) -> dict:
    from app.command.state import CommandState

    return {
        "command-state.data": CommandState(area=HAIZHOU).to_store(),
        "command-render.data": {"asof": "2026-11-21T08:00:00+00:00", "search": "?x"},
        "command-speed.value": 1,
        "wall-config.data": {"wall": "default", "lang": "zh"},
        "wall-active.data": {"scene": "overview", "next": "emergency-situation"},
        "home-live-seed.data": {"items": [], "lang": "zh"},
        "shell-url.pathname": "/command",
    }


@FUZZ
@given(data=st.data())
def test_callback_inputs(app, client, secured_platform, data):
    """Every server callback, with some of its inputs and stores replaced by hostile values."""
    keys = sorted(key for key in server_callbacks(app) if key != ROUTER)
    key = data.draw(st.sampled_from(keys), label="callback")
    names = named_inputs(app, key)
    values = {name: value for name, value in good_values(app, secured_platform).items() if name in names}
    for name in data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True), label="fuzzed"):
        values[name] = data.draw(JSON_VALUE, label=name)
    trigger = data.draw(st.sampled_from([None, *[n for n in names if n in {f"{i['id']}.{i['property']}" for i in app.callback_map[key]['inputs']}]]), label="trigger")
    body = fuzzed_body(app, key, values, trigger)
    sent = json.dumps(body, ensure_ascii=False)
    assert_safe(post_callback(client, body), sent, secured_platform.outside)


@FUZZ
@given(field=st.sampled_from(["area", "incident", "layers", "window", "start", "end", "severity", "category", "status", "channel", "lang", "problems", "search"]),
       value=JSON_VALUE)
def test_command_state_store(app, client, secured_platform, field, value):
    """The store the command view keeps its state in comes back from the browser: every field hostile in turn."""
    from app.command.state import CommandState

    key = next(key for key in server_callbacks(app) if key.startswith("..command-map"))
    state = {**CommandState(area=HAIZHOU).to_store(), field: value}
    values = {**good_values(app, secured_platform), "command-state.data": state}
    body = fuzzed_body(app, key, values, "command-state.data")
    assert_safe(post_callback(client, body), json.dumps(body, ensure_ascii=False), secured_platform.outside)


@FUZZ
@given(body=JSON_VALUE)
def test_whole_callback_bodies(client, body):
    """Not even a callback request: 400, never a 500."""
    response = post_callback(client, body)
    assert_safe(response, json.dumps(body, ensure_ascii=False))
    assert response.status_code == 400


@FUZZ
@given(raw=st.binary(max_size=200))
def test_callback_bodies_that_are_not_json(client, raw):
    response = client.post("/_dash-update-component", data=raw, content_type=str(re.sub(r"[^a-z/+]", "", "application/json")))
    assert response.status_code == 400
    assert "Traceback" not in response.get_data(as_text=True)
