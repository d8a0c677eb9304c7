"""The command view without a browser: URL state, masking, drill transitions, a step's data.

Steps run on the small demo city in SQLite (built once for the module), inside a request
context of the real app so that queries go through the app's query cache like in production.
"""
from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl

import pytest

from app.command import state as states
from app.command.state import CommandState, parse_query, to_search
from app.masking import (
    mask_address,
    mask_name,
    mask_numbers_in_text,
    mask_personal,
    mask_phone,
)
from tests.app.conftest import make_settings

LAYERS = ("basemap", "boundaries", "grid_choropleth", "incidents", "resources", "route")
NOW = dt.datetime(2026, 11, 21, 8, tzinfo=dt.timezone.utc)


def parse(**query) -> CommandState:
    return parse_query(query, known_layers=LAYERS)


# --- URL parsing and validation ----------------------------------------------------------------


def test_defaults_without_parameters():
    state = parse()
    assert state.area is None and state.incident is None and state.window == "24h" and not state.problems
    assert to_search(state) == "?lang=zh"


def test_every_parameter_round_trips_through_the_url():
    state = parse(area="320706001", layers="incidents,boundaries", t="custom", **{"from": "2026-11-20T08:00", "to": "2026-11-21"},
                  incident="INC-1", severity="I,3", category="accident", status="reported,closed", channel="12345", lang="en")
    assert not state.problems
    assert state.layers == ("incidents", "boundaries") and state.severity == (1, 3) and state.lang == "en"
    assert state.start == "2026-11-20T00:00:00+00:00"  # naive = Beijing time
    again = parse_query(dict(parse_qsl(to_search(state)[1:])), known_layers=LAYERS)
    assert again == state


@pytest.mark.parametrize(("query", "param", "key"), [
    ({"area": "32o706"}, "area", "command.problem.area_form"),
    ({"area": "1234"}, "area", "command.problem.area_form"),
    ({"layers": "incidents,nope"}, "layers", "command.problem.layer"),
    ({"t": "3d"}, "t", "command.problem.window"),
    ({"t": "custom", "from": "yesterday", "to": "2026-11-21"}, "from", "command.problem.time"),
    ({"t": "custom", "to": "2026-11-21"}, "from", "command.problem.time_missing"),
    ({"from": "2026-11-21", "to": "2026-11-20"}, "from", "command.problem.time_order"),
    ({"from": "2026-01-01", "to": "2026-11-20"}, "from", "command.problem.time_span"),
    ({"from": "9999-12-31T23:59", "to": "9999-12-31T23:59:59"}, "from", "command.problem.time"),
    ({"incident": "a/b"}, "incident", "command.problem.incident_form"),
    ({"severity": "V"}, "severity", "command.problem.filter"),
    ({"channel": "fax"}, "channel", "command.problem.filter"),
])
def test_bad_parameters_become_problems_and_defaults(query, param, key):
    state = parse(**query)
    assert [(p.param, p.key) for p in state.problems][:1] == [(param, key)]
    assert state.window in states.WINDOW_CHOICES
    if param == "area":
        assert state.area is None
    if param in ("t", "from"):
        assert state.window == "24h"


def test_problem_messages_exist_in_both_languages():
    from app.i18n import t

    for problem in parse(area="x", layers="nope", t="bad", severity="9").problems:
        assert "{" not in t(problem.key, "zh", value=problem.value) and problem.value in t(problem.key, "en", value=problem.value)


def test_only_unknown_layers_fall_back_to_the_defaults():
    assert parse(layers="nope").layers == states.DEFAULT_LAYERS
    assert parse(layers="").layers == ()  # an explicit empty list is a choice: no layers


def test_aqi_category_in_english():
    from app.command.panels import aqi_category
    from app.i18n import t

    assert aqi_category(t("command.aqi.level.2", "zh"), "en") == "Moderate"
    assert aqi_category(None, "en") is None


def test_state_survives_the_store():
    state = parse(area="320706", severity="2", layers="nope")
    assert CommandState.from_store(state.to_store()) == state
    assert CommandState.from_store(state.to_store()).problems == state.problems


# --- transitions ---------------------------------------------------------------------------


def test_drill_and_select_transitions():
    start = parse(area="320706", incident="INC-1", layers="nope")
    drilled = states.drill_to(start, "320706001")
    assert drilled.area == "320706001" and drilled.incident is None and not drilled.problems
    selected = states.select_incident(drilled, "INC-2")
    assert selected.area == "320706001" and selected.incident == "INC-2"
    assert states.drill_to(selected, None).area is None
    layered = states.with_layers(selected, ["incidents", "bogus", "boundaries"], LAYERS)
    assert layered.layers == ("boundaries", "incidents")  # registry order, unknown dropped
    filtered = states.with_filters(layered, severity=["1", "x"], category=["accident"], status=None, channel=[])
    assert filtered.severity == (1,) and filtered.category == ("accident",) and filtered.incident == "INC-2"
    custom = states.with_window(filtered, "custom", "2026-11-20T08:00", "2026-11-21T08:00")
    assert custom.window == "custom" and custom.start == "2026-11-20T00:00:00+00:00"
    kept = states.with_window(custom, "custom", "2026-11-21", "2026-11-20")  # reversed: keeps the old window
    assert kept.window == "custom" and kept.start == custom.start and kept.problems
    assert states.with_window(custom, "7d").window == "7d" and states.with_window(custom, "7d").start is None


def test_time_window():
    state = parse(t="7d")
    assert state.time_window(NOW) == (NOW - dt.timedelta(days=7), NOW)
    custom = parse(**{"from": "2026-11-20T08:00", "to": "2026-11-20T20:00"})
    start, end = custom.time_window(NOW)
    assert (end - start) == dt.timedelta(hours=12)


# --- masking -------------------------------------------------------------------------------


def test_masking():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("0518-85812345") == "051*-****2345"
    assert mask_phone("12345") == "***45"
    assert mask_name("张三") == "张*" and mask_name("John Smith") == "J*** *****"
    assert mask_address("海州区朝阳东路88号3单元").startswith("海州区") and "88" not in mask_address("海州区朝阳东路88号3单元")
    assert mask_numbers_in_text("王先生13912345678反映") == "王先生139****5678反映"
    record = {"reporter_name": "李四", "reporter_phone": "13912345678", "address": "海州区新浦路1号", "title": "电话13912345678",
              "events": [{"note": "回拨13912345678"}], "severity": 2}
    masked = mask_personal(record)
    assert masked["reporter_phone"] == "139****5678" and masked["reporter_name"] == "李*" and masked["severity"] == 2
    assert "13912345678" not in str(masked)
    assert record["reporter_phone"] == "13912345678"  # the caller's record is not changed


# --- steps on the small demo city -------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory):
    from queries.db import make_engine
    from queries.demo import build_demo_city
    from queries.migrate import ensure_schema

    folder = tmp_path_factory.mktemp("command")
    url = f"sqlite:///{folder / 'demo.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    build_demo_city(engine, "small", 7, now=NOW)
    engine.dispose()
    from app.server import create_app

    return create_app(make_settings(folder, url))


@pytest.fixture
def request_context(demo_app):
    with demo_app.server.test_request_context("/command"):
        yield demo_app


def known():
    from layers import layer_names

    return layer_names()


def test_resolve_reports_unknown_codes_and_opens_the_city(request_context):
    from app.command.view import resolve

    resolved = resolve(parse_query({"area": "999999", "incident": "NOPE"}, known_layers=known()))
    assert resolved.area["level"] == "city"
    assert {p.key for p in resolved.state.problems} == {"command.problem.area_unknown", "command.problem.incident_unknown"}
    assert [a["level"] for a in resolved.path] == ["city"]


def test_shared_incident_link_opens_its_grid_with_masked_reporter(request_context):
    from app.command import data as reads
    from app.command.view import resolve

    incident_id = reads.incidents_in(reads.city_code(), reads.Window(NOW - dt.timedelta(days=30), NOW), {}, limit=1)["id"].iloc[0]
    resolved = resolve(parse_query({"incident": incident_id}, known_layers=known()))
    assert resolved.area["level"] == "grid" and [a["level"] for a in resolved.path] == ["city", "district", "street", "community", "grid"]
    phone = resolved.incident.get("reporter_phone")
    assert phone is None or "****" in phone


def test_drill_steps_render_partial_updates(request_context):
    from app.command import mapview, view
    from app.pages.command import compose

    city = view.resolve(parse_query({"layers": "boundaries,incidents,grid_choropleth"}, known_layers=known()))
    first = compose(city, NOW, lang="zh")
    assert first["layers"] and all(spec["data"] == [] for spec in first["layers"])  # data travels in layerData
    assert "boundaries-areas" in first["layer_data"]
    assert {kpi.id if hasattr(kpi, "id") else None for kpi in first["kpis"]}  # KPI components built
    again = compose(city, NOW, previous=first["digests"], lang="zh")
    assert again["layers"] is None and again["layer_data"] == {}  # nothing changed, nothing sent

    district_code = reads_children(city)[0]
    district = view.resolve(states.drill_to(city.state, district_code))
    step = compose(district, NOW, previous=first["digests"], lang="zh")
    assert "boundaries-areas" in step["layer_data"]
    streets = {row["code"] for row in step["layer_data"]["boundaries-areas"]}
    assert district_code in streets and any(code.startswith(district_code) and len(code) == 9 for code in streets)

    # Playback re-renders only the time layers; the boundaries keep their data.
    cursor = view.playback_cursor(mapview.reads.Window(NOW - dt.timedelta(hours=24), NOW), 3)
    played = compose(district, NOW, previous=step["digests"], cursor=cursor, only=mapview.TIME_LAYERS, lang="zh")
    assert played["layers"] is None and "boundaries-areas" not in played["layer_data"]
    assert played["summary"]["to"] == cursor


def reads_children(resolved):
    from app.command import data as reads

    counts = reads.child_counts(resolved.area["code"], reads.Window(NOW - dt.timedelta(days=30), NOW), {})
    return counts.sort_values("value", ascending=False)["code"].tolist()


def test_a_map_click_drills_into_the_child_under_it(request_context):
    from app.command import view
    from app.pages.command import map_click

    city = view.resolve(parse_query({}, known_layers=known()))
    district_code = reads_children(city)[0]
    from app.command import data as reads

    bounds = reads.area_bounds(district_code)
    render = {"asof": NOW.isoformat(), "index": None}
    # A click that picked a district polygon.
    picked = {"picked": True, "layerId": "boundaries-areas", "index": 0, "object": {"code": district_code}, "coordinate": None}
    assert map_click(city.state, picked, render)[0].area == district_code
    # A click on something without a code (an aggregated cell): the child under the coordinate.
    from app.command.mapview import _shapes
    from app.command.view import make_step

    shapes = _shapes(make_step(city, NOW))
    inside = shapes[shapes["code"] == district_code].geometry.iloc[0].representative_point()
    cell = {"picked": True, "layerId": "incidents-cells", "index": 3, "object": {"tooltip": "x"}, "coordinate": [inside.x, inside.y]}
    assert map_click(city.state, cell, render)[0].area == district_code
    assert bounds is not None
    assert map_click(city.state, {"picked": False, "coordinate": [0.0, 0.0]}, render) is None


def test_layout_shows_problems_instead_of_failing(request_context):
    from app.pages.command import layout

    page = layout(area="123456789012", layers="nope", t="x", lang="en")
    text = str(page.to_plotly_json())
    assert "There is no area with code" in text and "Unknown layer" in text and "Time window" in text
    assert "page-command" in text


def test_a_city_with_only_ingested_districts_and_incidents_falls_back_to_h3(tmp_path):
    """Boundaries and an incident file, no unit grids yet: the grid view says so and shows H3."""
    import json

    from app.command import mapview, view
    from app.server import create_app
    from queries.db import make_engine
    from queries.ingest import ingest_file
    from queries.migrate import ensure_schema

    districts = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "320706", "name": "海州区"},
         "geometry": {"type": "Polygon", "coordinates": [[[119.1, 34.5], [119.3, 34.5], [119.3, 34.7], [119.1, 34.7], [119.1, 34.5]]]}},
        {"type": "Feature", "properties": {"code": "320703", "name": "连云区"},
         "geometry": {"type": "Polygon", "coordinates": [[[119.3, 34.5], [119.5, 34.5], [119.5, 34.7], [119.3, 34.7], [119.3, 34.5]]]}},
    ]}
    (tmp_path / "districts.geojson").write_text(json.dumps(districts), encoding="utf-8")
    reported = (NOW - dt.timedelta(hours=2)).astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m-%d %H:%M:%S")
    rows = "\n".join(f"E{i},事故灾难,IV级,{reported},{119.15 + i * 0.01},34.6" for i in range(5))
    (tmp_path / "incidents.csv").write_text("事件编号,事件类型,等级,上报时间,经度,纬度\n" + rows + "\n", encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'ingested.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    ingest_file(engine, "boundaries", tmp_path / "districts.geojson", level="district")
    ingest_file(engine, "incidents", tmp_path / "incidents.csv")
    engine.dispose()

    dash_app = create_app(make_settings(tmp_path, url))
    with dash_app.server.test_request_context("/command"):
        for lang, note in (("zh", "六边形"), ("en", "H3 hexagons")):
            district = view.resolve(parse_query({"area": "320706", "layers": "boundaries,grid_choropleth", "lang": lang}, known_layers=known()))
            rendered = mapview.render_layers(district.state.layers, view.make_step(district, NOW), lang, dash_app.server.extensions["cityops"].settings)
            ids = [layer.id for layer in rendered]
            assert "h3-cells" in ids and "grid-choropleth" not in ids
            h3_layer = rendered[ids.index("h3-cells")]
            assert note in h3_layer.legend.note
