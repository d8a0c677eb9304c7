"""The video wall without a browser: one refresh step (app.wall.view.refresh) — which live events
it reads, which panels it builds, what a failing query leaves on screen — and the pages /wall/<id>
for a wall that does not exist or an id that is not one.

The refresh tests run on a small wall of their own (a specs folder in tmp, CITYOPS_SPECS_DIR) so
that every panel is known: three carousel scenes and an emergency scene.
"""
from __future__ import annotations

import datetime as dt
import json
import textwrap
from pathlib import Path

import pytest
from dash import no_update
from sqlalchemy import insert
from sqlalchemy.exc import OperationalError

import queries.indicators
from app.command.panels import local_time
from app.i18n import t
from app.live import HUB_KEY
from app.server import create_app
from app.wall.view import _event_touches, new_events, refresh, wall_layout
from queries.db import make_engine
from queries.schema import Incident, Indicator, IndicatorValue
from queries.writes import ensure_dataset, record_change
from tests.app.conftest import make_settings
from tests.app.test_server import text_of

UNIT_WALL = """\
kind: wall
spec_version: 1
id: unit
title: {zh: 测试大屏, en: Test wall}
canvas: {width: 1920, height: 1080}
grid: {columns: 4, rows: 3, gap: 8}
scenes:
  - id: one
    title: {zh: 第一屏, en: One}
    dwell: 5
    panels:
      - {id: kpi, type: kpi, indicator: incidents_today, at: {col: 1, row: 1, col_span: 2}}
      - {id: ticker, type: ticker, limit: 5, at: {col: 3, row: 1, col_span: 2, row_span: 2}}
      - {id: severity, type: incident_severity, at: {col: 1, row: 2, col_span: 2}}
      - {id: freshness, type: freshness, at: {col: 1, row: 3, col_span: 4}}
  - id: two
    title: {zh: 第二屏, en: Two}
    dwell: 5
    panels:
      - {id: kpi, type: kpi, indicator: incidents_today, at: {col: 1, row: 1, col_span: 4, row_span: 2}}
      - {id: freshness, type: freshness, at: {col: 1, row: 3, col_span: 4}}
  - id: three
    title: {zh: 第三屏, en: Three}
    dwell: 5
    panels:
      - {id: ticker, type: ticker, at: {col: 1, row: 1, col_span: 4, row_span: 2}}
      - {id: trend, type: trend, indicator: incidents_today, window: 7d, at: {col: 1, row: 3, col_span: 4}}
emergency:
  id: alarm
  title: {zh: 突发, en: Alarm}
  panels:
    - {id: card, type: incident_card, at: {col: 1, row: 1, col_span: 4, row_span: 2}}
    - {id: freshness, type: freshness, at: {col: 1, row: 3, col_span: 4}}
"""
MAP_WALL = """\
kind: wall
spec_version: 1
id: maps
title: {zh: 地图测试, en: Map test}
canvas: {width: 1920, height: 1080}
grid: {columns: 4, rows: 3, gap: 8}
scenes:
  - id: city
    title: {zh: 全市, en: City}
    dwell: 30
    panels:
      - {id: map, type: map, layers: [boundaries, incidents, incident_heatmap], at: {col: 1, row: 1, col_span: 4, row_span: 3}}
  - id: other
    title: {zh: 其他, en: Other}
    dwell: 30
    panels:
      - {id: kpi, type: kpi, indicator: incidents_today, at: {col: 1, row: 1, col_span: 4, row_span: 3}}
"""
SCENES = {"one": ["kpi", "ticker", "severity", "freshness"], "two": ["kpi", "freshness"], "three": ["ticker", "trend"], "alarm": ["card", "freshness"]}
KPI_TIME = dt.datetime(2026, 11, 21, 0, 0, tzinfo=dt.timezone.utc)
T0 = 1_900_000_000.0  # the refresh clock (epoch seconds) the tests drive by hand


def write_specs(folder: Path, *walls: str) -> Path:
    """A specs folder (CITYOPS_SPECS_DIR) holding the given wall YAML documents."""
    (folder / "walls").mkdir(parents=True, exist_ok=True)
    for number, text in enumerate(walls):
        (folder / "walls" / f"wall{number}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


def keys_of(*scenes: str) -> set[str]:
    return {f"{scene}/{panel}" for scene in scenes for panel in SCENES[scene]}


@pytest.fixture
def wall_server(tmp_path, seeded_sqlite_url):
    """The app on the seeded platform plus one indicator value, with the unit wall as its specs."""
    engine = make_engine(seeded_sqlite_url)
    with engine.begin() as conn:
        ensure_dataset(conn, "emergency.incidents", name="突发事件信息", name_en="Emergency incidents", provider="市应急管理局", update_cycle="realtime")
        conn.execute(insert(Indicator), [{"code": "incidents_today", "name_zh": "今日事件数", "name_en": "Incidents today", "unit": "起",
                                          "domain": "emergency", "good_direction": "down", "dataset_code": "emergency.incidents", "aggregation": "sum"}])
        conn.execute(insert(IndicatorValue), [{"indicator_code": "incidents_today", "area_code": "320700", "ts": KPI_TIME, "value": 12.0}])
        record_change(conn, "emergency.incidents", "ingest", 1, tables=["incidents", "indicators", "indicator_values"])
    engine.dispose()
    specs = write_specs(tmp_path / "specs", UNIT_WALL, MAP_WALL)
    server = create_app(make_settings(tmp_path, seeded_sqlite_url, specs_dir=specs)).server
    yield server
    server.extensions[HUB_KEY].close()
    context = server.extensions["cityops"]
    context.read_engine.dispose()
    context.engine.dispose()


def find(component, component_id):
    """The component with this id in a Dash component tree, or None."""
    if getattr(component, "id", None) == component_id:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, (list, tuple)) else [children]:
        if hasattr(child, "to_plotly_json"):
            found = find(child, component_id)
            if found is not None:
                return found
    return None


@pytest.fixture
def config(wall_server):
    with wall_server.test_request_context("/wall/unit"):
        layout = wall_layout("unit", "zh")
    return find(layout, "wall-config").data


def step(server, config, *, active=("one", "two"), soon=False, state=None, live=None, emergency=None, at=T0, triggers=("wall-beat",),
         viewport=None):
    """One refresh as the browser asks for it: ``active`` = (shown scene, next scene), ``soon``
    once the next one is about to show."""
    with server.test_request_context("/_dash-update-component"):
        return refresh(config=config, active={"scene": active[0], "next": active[1], "soon": soon}, viewport=viewport or {"u": 0.5},
                       live=live, state=state, emergency=emergency, outputs={}, triggers=set(triggers), now_epoch=at)


def built(result) -> set[str]:
    """Keys of the panels a step rebuilt (their className is always sent with them)."""
    return set(result["panel"])


# --- pure helpers --------------------------------------------------------------------------------

EVENTS = [{"id": f"e{n}", "type": "incident.new"} for n in range(5, 0, -1)]  # newest first, as the live store keeps them


@pytest.mark.parametrize("live, seen, expected", [
    (None, None, []),
    ({"seq": None, "recent": EVENTS}, None, []),
    ({"seq": 5, "recent": EVENTS}, 5, []),  # nothing since the last step
    ({"seq": 5, "recent": EVENTS}, None, EVENTS),  # first step: all the store holds
    ({"seq": 5, "recent": EVENTS}, 3, EVENTS[:2]),  # two new ones: the two newest
    ({"seq": 5, "recent": EVENTS}, 4, EVENTS[:1]),
    ({"seq": 120, "recent": EVENTS}, 3, EVENTS),  # more arrived than the store keeps: all it has
    ({"seq": 2, "recent": []}, 1, []),
])
def test_new_events_counts_from_the_sequence_number(live, seen, expected):
    assert new_events(live, seen) == expected


def test_event_touches_names_tables_and_datasets():
    events = [
        {"type": "incident.new", "payload": {"id": "A"}},
        {"type": "incident.updated", "payload": {"id": "B"}},
        {"type": "alarm", "payload": {"sensor_id": "S"}},
        {"type": "data_version", "payload": {"dataset_code": "env.aq_hourly"}},
        {"type": "data_version", "payload": {"dataset_code": "LYG-JJ-0001"}},
        {"type": "data_version", "payload": {}},
        {"type": "data_version"},
        {"type": "something_else", "payload": {"dataset_code": "ignored"}},
        {},
    ]
    assert _event_touches(events) == ({"incidents", "sensor_status_events"}, {"env.aq_hourly", "LYG-JJ-0001"})
    assert _event_touches([]) == (set(), set())


# --- the refresh step ----------------------------------------------------------------------------


def test_the_shown_scene_is_refreshed_and_the_next_one_only_filled_until_it_is_about_to_show(wall_server, config):
    first = step(wall_server, config, active=("one", "two"))
    assert built(first) == keys_of("one", "two")  # the next scene gets its first fill: it never appears empty
    assert set(first["body"]) == keys_of("one", "two") and set(first["meta"]) == keys_of("one", "two")
    assert first["map"] == {} and set(first["state"]["panels"]) == keys_of("one", "two")
    assert first["emergency"] is no_update and first["link"] == "wall-link" and first["alarm"] == []

    # The carousel moved on: the third scene (next now) is filled, the second (shown) is not due.
    second = step(wall_server, config, active=("two", "three"), state=first["state"], at=T0 + 1)
    assert built(second) == keys_of("three")
    assert set(second["state"]["panels"]) == keys_of("one", "two", "three")

    # Each panel type has its interval (30 s for the ticker, 60 s for the KPI and the footer),
    # but only on screen: the next scene's ticker is past its interval and waits.
    third = step(wall_server, config, active=("two", "three"), state=second["state"], at=T0 + 31)
    assert built(third) == set()
    fourth = step(wall_server, config, active=("two", "three"), state=third["state"], at=T0 + 60)
    assert built(fourth) == {"two/kpi", "two/freshness"}
    # Until the third scene is about to show: then it is refreshed too.
    fifth = step(wall_server, config, active=("two", "three"), soon=True, state=fourth["state"], at=T0 + 61)
    assert built(fifth) == {"three/ticker"}
    # And once shown it is not built again (it was, a moment ago), nor is the one before it.
    sixth = step(wall_server, config, active=("three", "one"), state=fifth["state"], at=T0 + 62)
    assert built(sixth) == set()


def test_a_new_screen_size_redraws_charts_and_maps_when_they_are_on_screen(wall_server, config):
    half = {"u": 0.5, "w": 960, "h": 540}  # the 1920×1080 canvas on a 960×540 screen
    first = step(wall_server, config, active=("three", "one"), viewport=half)
    assert built(first) == keys_of("three", "one") and first["state"]["screen"] == [0.5, 1920, 1080]
    assert first["state"]["panels"]["three/trend"]["screen"] == [0.5, 1920, 1080]
    # A wider screen: the chart on screen is drawn again for it, nothing else is.
    wide = {"u": 0.5, "w": 1920, "h": 540}
    resized = step(wall_server, config, active=("three", "one"), state=first["state"], at=T0 + 1, viewport=wide, triggers=("wall-viewport",))
    assert built(resized) == {"three/trend"} and resized["state"]["panels"]["three/trend"]["screen"] == [0.5, 3840, 1080]
    # Off screen it waits, and is redrawn when its scene is about to show again.
    moved = step(wall_server, config, active=("one", "two"), state=resized["state"], at=T0 + 2, viewport=wide)
    assert built(moved) == keys_of("two")
    smaller = step(wall_server, config, active=("one", "two"), state=moved["state"], at=T0 + 3, viewport=half, triggers=("wall-viewport",))
    assert built(smaller) == set()
    coming = step(wall_server, config, active=("two", "three"), soon=True, state=smaller["state"], at=T0 + 4, viewport=half)
    assert built(coming) == {"three/trend"} and coming["state"]["panels"]["three/trend"]["screen"] == [0.5, 1920, 1080]


def test_an_emergency_adds_its_scene_and_the_banner(wall_server, config, seeded_sqlite_url):
    engine = make_engine(seeded_sqlite_url)
    with engine.begin() as conn:
        conn.execute(insert(Incident), [{
            "id": "FIRE1", "category": "accident", "subtype": "fire", "severity": 1, "status": "reported", "title": "化工园区储罐起火",
            "lon": 119.2, "lat": 34.6, "reported_at": dt.datetime.now(dt.timezone.utc), "district_code": "320706",
        }])
    engine.dispose()
    result = step(wall_server, config)
    assert result["emergency"]["id"] == "FIRE1" and result["emergency"]["severity"] == 1
    assert built(result) == keys_of("one", "two", "alarm")
    assert "化工园区储罐起火" in text_of(result["body"]["alarm/card"])
    assert "化工园区储罐起火" in text_of(result["alarm"]) and t("wall.emergency.banner", "zh") in text_of(result["alarm"])


def test_a_failing_query_marks_the_panel_lost_and_keeps_what_it_showed(wall_server, config, monkeypatch):
    first = step(wall_server, config)
    assert "is-lost" not in first["panel"]["one/kpi"]
    assert first["state"]["panels"]["one/kpi"]["data_time"] == KPI_TIME.isoformat()
    assert "12" in text_of(first["body"]["one/kpi"])

    def broken(conn, *args, **kwargs):
        raise OperationalError("SELECT …", {}, Exception("no such table: indicator_values"))

    # The KPI's query fails (the panel imports it when it builds); every other query answers.
    monkeypatch.setattr(queries.indicators, "indicator_latest", broken)
    failed = step(wall_server, config, soon=True, state=first["state"], at=T0 + 61)  # both scenes on screen
    for key in ("one/kpi", "two/kpi"):
        assert "is-lost" in failed["panel"][key].split(), failed["panel"][key]
        assert key not in failed["body"]  # the content on screen is not replaced
        meta = text_of(failed["meta"][key])
        assert local_time(KPI_TIME, "zh") in meta and t("wall.meta.lost", "zh") in meta  # the time of what it still shows
        entry = failed["state"]["panels"][key]
        assert entry["ok"] is False and entry["built"] is True and entry["data_time"] == KPI_TIME.isoformat()
        assert entry["at"] == first["state"]["panels"][key]["at"]
    assert "is-lost" not in failed["panel"]["one/freshness"]
    assert failed["link"] == "wall-link is-degraded" and failed["state"]["failures"] == 2

    # Still failing on the next tick (a failed panel is due at once), then back.
    again = step(wall_server, config, soon=True, state=failed["state"], at=T0 + 62)
    assert {"one/kpi", "two/kpi"} <= built(again) and "is-lost" in again["panel"]["one/kpi"]
    monkeypatch.undo()
    back = step(wall_server, config, soon=True, state=again["state"], at=T0 + 63)
    assert built(back) == {"one/kpi", "two/kpi"}
    assert "is-lost" not in back["panel"]["one/kpi"] and "12" in text_of(back["body"]["one/kpi"])
    assert back["link"] == "wall-link" and back["state"]["panels"]["one/kpi"]["ok"] is True


def test_live_events_make_exactly_the_panels_that_read_them_due(wall_server, config):
    first = step(wall_server, config, live={"seq": 3, "recent": [{"type": "data_version", "payload": {"dataset_code": "x"}}] * 3})
    assert first["state"]["live_seq"] == 3

    quiet = step(wall_server, config, state=first["state"], live={"seq": 3, "recent": []}, at=T0 + 1, triggers=("wall-live",))
    assert built(quiet) == set()

    incident = {"id": "incident:N1:1", "type": "incident.new", "payload": {"id": "N1", "severity": 4}}
    heard = step(wall_server, config, state=first["state"], live={"seq": 4, "recent": [incident]}, at=T0 + 1, triggers=("wall-live",))
    assert built(heard) == {"one/ticker", "one/severity"}  # the panels reading incidents; not the KPI, not the footer
    assert heard["state"]["live_seq"] == 4
    assert heard["alarm"] is no_update  # the banner is only rewritten on a beat or when the emergency changes

    # A data-version bump: due are the panels that showed that dataset (the footers list what
    # their scene reads), nothing for a dataset no panel shows.
    other = {"id": "data_version:9", "type": "data_version", "payload": {"dataset_code": "env.aq_hourly"}}
    unread = step(wall_server, config, state=heard["state"], live={"seq": 5, "recent": [other, incident]}, at=T0 + 2, triggers=("wall-live",))
    assert built(unread) == set()
    bump = {"id": "data_version:10", "type": "data_version", "payload": {"dataset_code": "emergency.incidents"}}
    read = step(wall_server, config, state=unread["state"], live={"seq": 6, "recent": [bump, other, incident]}, at=T0 + 3, triggers=("wall-live",))
    # On a push only the scene on screen is rebuilt; the next scene's panels that read the
    # dataset are remembered and rebuilt when it is about to show (not before: a beat is not enough).
    assert built(read) == keys_of("one")
    assert read["state"]["panels"]["one/freshness"]["datasets"] == ["emergency.incidents"]
    assert {key for key, entry in read["state"]["panels"].items() if entry.get("dirty")} == keys_of("two")
    beat = step(wall_server, config, state=read["state"], live={"seq": 6, "recent": [bump, other, incident]}, at=T0 + 4)
    assert built(beat) == set()
    soon = step(wall_server, config, soon=True, state=beat["state"], live={"seq": 6, "recent": [bump, other, incident]}, at=T0 + 5,
                triggers=("wall-active",))
    assert built(soon) == keys_of("two") and not any(entry.get("dirty") for entry in soon["state"]["panels"].values())


def test_a_push_redraws_only_the_map_layers_that_read_what_changed(wall_server, seeded_sqlite_url):
    reported = dt.datetime.fromtimestamp(T0, dt.timezone.utc) - dt.timedelta(hours=1)
    engine = make_engine(seeded_sqlite_url)

    def add(incident_id: str) -> None:
        with engine.begin() as conn:
            conn.execute(insert(Incident), [{"id": incident_id, "category": "accident", "subtype": "fire", "severity": 4, "status": "reported",
                                             "title": "新事件", "lon": 119.22, "lat": 34.6, "reported_at": reported, "district_code": "320706"}])
            record_change(conn, "emergency.incidents", "feed", 1, tables=["incidents"])

    add("BEFORE1")  # every layer has data from the first refresh on (an empty one is left out until it has)
    with wall_server.test_request_context("/wall/maps"):
        config = find(wall_layout("maps", "zh"), "wall-config").data
    first = step(wall_server, config, active=("city", "other"))
    drawn = first["map"]["city/map"]
    assert drawn["layers"], "the first refresh sends every layer's spec"
    ids = {layer["id"] for layer in drawn["layers"]}
    boundaries = {layer_id for layer_id in ids if "boundar" in layer_id}
    assert boundaries and ids - boundaries, ids

    # A new incident, pushed: the incident layers are redrawn and sent, the boundaries are not,
    # the specs are not resent, and the interval of the whole map is not restarted.
    add("PUSH1")
    engine.dispose()
    incident = {"id": "incident:PUSH1:1", "type": "incident.new", "payload": {"id": "PUSH1", "severity": 4}}
    pushed = step(wall_server, config, active=("city", "other"), state=first["state"], live={"seq": 1, "recent": [incident]}, at=T0 + 2,
                  triggers=("wall-live",))
    redrawn = pushed["map"]["city/map"]
    assert redrawn["layers"] is None and redrawn["initialViewState"] is None
    assert redrawn["layerData"] and not set(redrawn["layerData"]) & boundaries, set(redrawn["layerData"])
    for layer_id, data in redrawn["layerData"].items():  # now two incidents where there was one
        assert data != drawn["layerData"][layer_id], layer_id
    entry, before = pushed["state"]["panels"]["city/map"], first["state"]["panels"]["city/map"]
    assert entry["at"] == before["at"] and entry["digests"]["specs"] == before["digests"]["specs"]
    assert set(entry["digests"]["data"]) == set(before["digests"]["data"])
    # On its interval the whole map is drawn again (nothing changed: no data resent).
    timed = step(wall_server, config, active=("city", "other"), state=pushed["state"], live={"seq": 1, "recent": [incident]}, at=T0 + 61)
    assert timed["map"]["city/map"]["layerData"] == {} and timed["state"]["panels"]["city/map"]["at"] == T0 + 61


def test_a_push_remembers_what_it_touched_in_scenes_off_screen(wall_server, config):
    """The third scene is neither shown nor next: an incident event marks its built ticker, and it
    is rebuilt when that scene comes round, although its interval has not passed."""
    first = step(wall_server, config, active=("three", "one"))
    assert built(first) == keys_of("three", "one")
    moved = step(wall_server, config, active=("one", "two"), state=first["state"], at=T0 + 1)
    assert built(moved) == keys_of("two")
    incident = {"id": "incident:N2:1", "type": "incident.new", "payload": {"id": "N2", "severity": 4}}
    pushed = step(wall_server, config, active=("one", "two"), state=moved["state"], live={"seq": 1, "recent": [incident]}, at=T0 + 2,
                  triggers=("wall-live",))
    assert built(pushed) == {"one/ticker", "one/severity"}
    assert pushed["state"]["panels"]["three/ticker"].get("dirty") is True
    back = step(wall_server, config, active=("three", "one"), state=pushed["state"], live={"seq": 1, "recent": [incident]}, at=T0 + 3,
                triggers=("wall-active",))
    assert built(back) == {"three/ticker"} and "dirty" not in back["state"]["panels"]["three/ticker"]


def test_a_wall_removed_since_the_page_loaded_changes_nothing(wall_server, config):
    result = step(wall_server, {**config, "wall": "gone"})
    assert "body" not in result and result["state"] is no_update


# --- pages ---------------------------------------------------------------------------------------


def render_path(client, pathname: str, search: str = "") -> dict:
    """What Dash's page router answers for ``pathname`` (the callback the browser calls)."""
    payload = {
        "output": ".._pages_content.children..._pages_store.data..",
        "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
        "inputs": [{"id": "_pages_location", "property": "pathname", "value": pathname},
                   {"id": "_pages_location", "property": "search", "value": search}],
        "changedPropIds": ["_pages_location.pathname"],
        "state": [],
    }
    response = client.post("/_dash-update-component", data=json.dumps(payload), content_type="application/json")
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return response.get_json()["response"]["_pages_content"]["children"]


@pytest.mark.parametrize("path, lang", [("/wall/nosuchwall", "zh"), ("/wall/BAD%20ID", "zh"), ("/wall/%E5%A4%A7%E5%B1%8F", "en"),
                                        ("/wall/..%2F..%2Fetc", "zh")])
def test_an_unknown_wall_shows_the_no_such_wall_page(wall_server, path, lang):
    client = wall_server.test_client()
    index = client.get(path)
    assert index.status_code == 200 and "Traceback" not in index.get_data(as_text=True)
    page = render_path(client, path, "?lang=en" if lang == "en" else "")
    text = json.dumps(page, ensure_ascii=False)
    assert page["props"]["id"] == "wall-unknown", text[:500]
    assert t("wall.unknown.title", lang) in text and "Traceback" not in text
    assert "wall-config" not in text  # no refresh machinery on this page


def test_a_known_wall_renders_every_scene_on_one_stage(wall_server):
    page = render_path(wall_server.test_client(), "/wall/unit")
    text = json.dumps(page, ensure_ascii=False)
    assert page["props"]["id"] in ("wall-page", "wall-root") and '"id": "wall-root"' in text
    for scene, panels in SCENES.items():
        assert f"wall-scene-{scene}" in text
        for panel in panels:
            assert f'"data-panel": "{scene}/{panel}"' in text
    assert text.count("is-active") == 1 and "第一屏" in text
