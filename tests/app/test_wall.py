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
      - {id: ticker, type: ticker, at: {col: 1, row: 1, col_span: 4, row_span: 3}}
emergency:
  id: alarm
  title: {zh: 突发, en: Alarm}
  panels:
    - {id: card, type: incident_card, at: {col: 1, row: 1, col_span: 4, row_span: 2}}
    - {id: freshness, type: freshness, at: {col: 1, row: 3, col_span: 4}}
"""
SCENES = {"one": ["kpi", "ticker", "severity", "freshness"], "two": ["kpi", "freshness"], "three": ["ticker"], "alarm": ["card", "freshness"]}
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
    specs = write_specs(tmp_path / "specs", UNIT_WALL)
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


def step(server, config, *, active=("one", "two"), state=None, live=None, emergency=None, at=T0, triggers=("wall-tick",)):
    with server.test_request_context("/_dash-update-component"):
        return refresh(config=config, active={"scene": active[0], "next": active[1]}, viewport={"u": 0.5}, live=live, state=state,
                       emergency=emergency, outputs={}, triggers=set(triggers), now_epoch=at)


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


def test_only_the_visible_and_next_scenes_are_built_and_only_when_due(wall_server, config):
    first = step(wall_server, config, active=("one", "two"))
    assert built(first) == keys_of("one", "two")
    assert set(first["body"]) == keys_of("one", "two") and set(first["meta"]) == keys_of("one", "two")
    assert first["map"] == {} and set(first["state"]["panels"]) == keys_of("one", "two")
    assert first["emergency"] is no_update and first["link"] == "wall-link" and first["alarm"] == []

    # The carousel moved on: the third scene is built for the first time, the second is not due.
    second = step(wall_server, config, active=("two", "three"), state=first["state"], at=T0 + 1)
    assert built(second) == keys_of("three")
    assert set(second["state"]["panels"]) == keys_of("one", "two", "three")

    # Each panel type has its interval: 30 s for the ticker, 60 s for the KPI and the footer.
    third = step(wall_server, config, active=("two", "three"), state=second["state"], at=T0 + 31)
    assert built(third) == {"three/ticker"}
    fourth = step(wall_server, config, active=("two", "three"), state=third["state"], at=T0 + 60)
    assert built(fourth) == {"two/kpi", "two/freshness"}  # three/ticker was rebuilt 29 s ago


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
    failed = step(wall_server, config, state=first["state"], at=T0 + 61)
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
    again = step(wall_server, config, state=failed["state"], at=T0 + 62)
    assert {"one/kpi", "two/kpi"} <= built(again) and "is-lost" in again["panel"]["one/kpi"]
    monkeypatch.undo()
    back = step(wall_server, config, state=again["state"], at=T0 + 63)
    assert built(back) == {"one/kpi", "two/kpi"}
    assert "is-lost" not in back["panel"]["one/kpi"] and "12" in text_of(back["body"]["one/kpi"])
    assert back["link"] == "wall-link" and back["state"]["panels"]["one/kpi"]["ok"] is True


def test_live_events_make_exactly_the_panels_that_read_them_due(wall_server, config):
    first = step(wall_server, config, live={"seq": 3, "recent": [{"type": "data_version", "payload": {"dataset_code": "x"}}] * 3})
    assert first["state"]["live_seq"] == 3

    quiet = step(wall_server, config, state=first["state"], live={"seq": 3, "recent": []}, at=T0 + 1, triggers=("live-events",))
    assert built(quiet) == set()

    incident = {"id": "incident:N1:1", "type": "incident.new", "payload": {"id": "N1", "severity": 4}}
    heard = step(wall_server, config, state=first["state"], live={"seq": 4, "recent": [incident]}, at=T0 + 1, triggers=("live-events",))
    assert built(heard) == {"one/ticker", "one/severity"}  # the panels reading incidents; not the KPI, not the footer
    assert heard["state"]["live_seq"] == 4
    assert heard["alarm"] is no_update  # the banner is only rewritten on a tick or when the emergency changes

    # A data-version bump: due are the panels that showed that dataset (the footers list what
    # their scene reads), nothing for a dataset no panel shows.
    other = {"id": "data_version:9", "type": "data_version", "payload": {"dataset_code": "env.aq_hourly"}}
    unread = step(wall_server, config, state=heard["state"], live={"seq": 5, "recent": [other, incident]}, at=T0 + 2, triggers=("live-events",))
    assert built(unread) == set()
    bump = {"id": "data_version:10", "type": "data_version", "payload": {"dataset_code": "emergency.incidents"}}
    read = step(wall_server, config, state=unread["state"], live={"seq": 6, "recent": [bump, other, incident]}, at=T0 + 3, triggers=("live-events",))
    assert built(read) == keys_of("one", "two")
    assert read["state"]["panels"]["one/freshness"]["datasets"] == ["emergency.incidents"]


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
